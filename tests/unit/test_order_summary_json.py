"""The order lists' JSON is rendered by SQLite; it must be what the API's schemas describe."""

import json
import sqlite3
from contextlib import closing

import pytest

from app.messages.orders import ORDER_SUMMARY, USER_ORDER_SUMMARY
from app.queries.orders import ORDER_SUMMARY_JSON, USER_ORDER_SUMMARY_JSON


@pytest.mark.parametrize("total_cents", [0, 1, 5, 10, 99, 100, 850, 1234, 100_00, 99_999_999, 1_000_000_00 * 50])
@pytest.mark.parametrize(("document", "schema"), [(ORDER_SUMMARY_JSON, ORDER_SUMMARY), (USER_ORDER_SUMMARY_JSON, USER_ORDER_SUMMARY)])
def test_sqlite_renders_an_order_summary_as_its_schema_dumps_it(document, schema, total_cents):
    row = {
        "id": "0b7e3c1a-4f0e-4d55-9a3b-6c2f1d8e9a10",
        "user_id": "12a33c84-ee60-45a1-848d-428ad3259abc",
        "status": "placed",
        "placed_at": "2026-11-23T12:00:00.000000Z",
        "item_count": 3,
        "total_cents": total_cents,
    }
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.execute("CREATE TABLE t (id, user_id, status, placed_at, item_count, total_cents)")
        conn.execute("INSERT INTO t VALUES (:id, :user_id, :status, :placed_at, :item_count, :total_cents)", row)
        (rendered,) = conn.execute(f"SELECT {document} FROM t").fetchone()
    expected = schema.dump(row)
    assert json.loads(rendered) == expected
    assert [type(v) for v in json.loads(rendered).values()] == [type(v) for v in expected.values()]
