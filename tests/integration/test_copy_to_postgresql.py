"""Moving a deployment from SQLite to PostgreSQL: ``flask database copy-to-postgresql`` copies
everything into an empty database, the service answers there as it did on SQLite, and a
target that already holds data is refused untouched."""

import hashlib
import math
import os
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import pytest

from app import create_app, transfer
from app.db import dispose
from tests.device_support import create_device, record, stored_ago
from tests.engines import plain_connection, server
from tests.order_support import customer, place_order, priced_item
from tests.support import create_employee, create_item, employee_body, next_link

pytestmark = pytest.mark.postgresql

KEY = "copy-to-postgresql-1"
KEYED_ITEM = {"name": "Keyed", "description": "Sent with an Idempotency-Key", "price": 1.99}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> dict:
    """An SQLite deployment with data in every module, closed; its path, ids and GET answers."""
    path = tmp_path_factory.mktemp("sqlite") / "cqrs.db"
    app = create_app({"DATABASE_PATH": str(path), "LOG_LEVEL": "WARNING"})
    client = app.test_client()
    ids = _fill(client)
    keyed = client.post("/items", json=KEYED_ITEM, headers={"Idempotency-Key": KEY})
    assert keyed.status_code == 201
    made = {"path": path, "ids": ids, "keyed": keyed, "answers": answers(client, ids)}
    with app.app_context():
        dispose()
    return made


def _fill(client) -> dict:
    """Items, employees, users, orders (placed, shipped, cancelled, and one cancelled because its
    user was deleted) and devices with telemetry (one decommissioned); returns their ids."""
    item = priced_item(client, name="Tenth", price=0.1)
    renamed = create_item(client, name="Old name")
    client.put(f"/items/{renamed['id']}", json={"name": "New name", "description": "Renamed"})
    gone = create_item(client, name="Gone")
    assert client.delete(f"/items/{gone['id']}").status_code == 204
    employee = create_employee(client, city="Zürich")
    assert client.put(f"/employees/{employee['id']}", json=employee_body(lastName="Moved")).status_code == 200
    kept, deleted = customer(client, 1, first_name="Ẓoë"), customer(client, 2)
    placed = place_order(client, kept["id"], (item["id"], 3), (renamed["id"], 1))
    shipped = place_order(client, kept["id"], (item["id"], 1))
    assert client.post(f"/orders/{shipped['id']}/ship").status_code == 200
    cancelled = place_order(client, kept["id"], (renamed["id"], 2))
    assert client.post(f"/orders/{cancelled['id']}/cancel", json={"reason": "changed my mind"}).status_code == 200
    orphaned = place_order(client, deleted["id"], (item["id"], 7))
    assert client.delete(f"/users/{deleted['id']}").status_code == 204
    assert client.get(f"/orders/{orphaned['id']}").get_json()["status"] == "cancelled"  # by the process manager
    sensor, meter = create_device(client, name="Boiler"), create_device(client, name="Meter", kind="meter")
    for device, values in ((sensor, (0.1, 0.2, 21.7, -3.3)), (meter, (1e-9, 1 / 3))):
        record(
            client,
            device["id"],
            *({"metric": "temp", "value": v, "recorded_at": stored_ago(minutes=9 - i)} for i, v in enumerate(values)),
        )
    assert client.post(f"/devices/{meter['id']}/decommission").status_code == 200
    return {
        "items": [item["id"], renamed["id"], gone["id"]], "employees": [employee["id"]],
        "users": [kept["id"], deleted["id"]], "orders": [o["id"] for o in (placed, shipped, cancelled, orphaned)],
        "devices": [sensor["id"], meter["id"]],
    }  # fmt: skip


def answers(client, ids: dict) -> dict:
    """Every list (page by page, two rows a page) and every detail: status, JSON and ETag, by path."""
    paths = ["/items?limit=2", "/employees?limit=2", "/users?limit=2", "/orders?limit=2", "/devices?limit=2",
             "/orders?status=cancelled", "/events?limit=5", "/telemetry/stats?metric=temp"]  # fmt: skip
    paths += [f"/{module}/{id_}" for module, many in ids.items() for id_ in many]
    paths += [f"/users/{id_}/orders" for id_ in ids["users"]]
    paths += [f"/devices/{id_}/telemetry?metric=temp" for id_ in ids["devices"]]
    seen = {}
    while paths:
        path = paths.pop(0)
        response = client.get(path)
        seen[path] = (response.status_code, response.get_json(), response.headers.get("ETag"))
        if next_link(response):
            paths.insert(0, next_link(response))
    return seen


def copy(source_path: Path, url: str):
    """``flask database copy-to-postgresql --from source_path`` with DATABASE_URL=url: the CLI's result."""
    app = create_app({"DATABASE_URL": url, "DATABASE_PATH": "/nonexistent/unused.db"}, start=False)
    return app.test_cli_runner().invoke(args=["database", "copy-to-postgresql", "--from", str(source_path)])


def new_database() -> str:
    """The URL of a new, empty PostgreSQL database: no tables, no seed."""
    name = f"copy_{uuid.uuid4().hex[:12]}"
    server().create_database(name)
    return server().url(name)


@pytest.fixture
def target(source) -> str:
    """A new PostgreSQL database with the source copied into it: its URL."""
    url = new_database()
    result = copy(source["path"], url)
    assert result.exit_code == 0, result.output
    return url


def rows(config: dict, table: str) -> list[tuple]:
    with closing(plain_connection(config)) as conn:
        return sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)


def table_names(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as conn:
        names = conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        return [name for (name,) in names]


def on_postgresql(url: str):
    return create_app({"DATABASE_URL": url, "DATABASE_PATH": "/nonexistent/unused.db", "LOG_LEVEL": "WARNING"})


def test_the_copy_reports_every_table_equal_and_the_next_position(source):
    result = copy(source["path"], new_database())
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for table in table_names(source["path"]):
        assert any(line.split()[0] == table and line.endswith("  equal") for line in lines), table
    head = max(row[0] for row in rows({"DATABASE_PATH": source["path"]}, "events"))
    assert f"Last position {head} on both; the next event takes {head + 1}." in lines


def test_the_events_keep_their_positions_ids_and_payload_text(source, target):
    copied = rows({"DATABASE_URL": target}, "events")
    assert copied == rows({"DATABASE_PATH": source["path"]}, "events")
    assert len(copied) > 20


def test_every_table_holds_the_same_rows_floats_to_the_bit(source, target):
    for table in table_names(source["path"]):
        assert rows({"DATABASE_URL": target}, table) == rows({"DATABASE_PATH": source["path"]}, table), table
    stats = rows({"DATABASE_URL": target}, "telemetry_stats_view")
    assert any(value == 0.1 + 0.2 + 21.7 - 3.3 for row in stats for value in row)


def test_every_list_and_detail_answers_as_it_did_on_sqlite(source, target):
    app = on_postgresql(target)
    assert answers(app.test_client(), source["ids"]) == source["answers"]


def test_a_retry_with_the_same_idempotency_key_replays_the_answer(source, target):
    app = on_postgresql(target)
    before = rows({"DATABASE_URL": target}, "events")
    retry = app.test_client().post("/items", json=KEYED_ITEM, headers={"Idempotency-Key": KEY})
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert (retry.status_code, retry.get_json(), retry.headers["Location"]) == (
        source["keyed"].status_code,
        source["keyed"].get_json(),
        source["keyed"].headers["Location"],
    )
    assert rows({"DATABASE_URL": target}, "events") == before


def test_a_new_command_takes_the_position_after_the_copied_head(source, target):
    head = max(row[0] for row in rows({"DATABASE_PATH": source["path"]}, "events"))
    create_item(on_postgresql(target).test_client(), name="After the move")
    positions = [row[0] for row in rows({"DATABASE_URL": target}, "events")]
    assert max(positions) == head + 1
    assert sorted(positions) == list(range(1, head + 2))


def test_a_rebuild_on_postgresql_makes_the_copied_read_model(source, target):
    app = on_postgresql(target)
    views = [table for table in table_names(source["path"]) if table.endswith("_view")]
    copied = {table: rows({"DATABASE_URL": target}, table) for table in views}
    with app.app_context():
        app.extensions["projector"].rebuild()
    assert {table: rows({"DATABASE_URL": target}, table) for table in views} == copied


def test_the_source_file_is_left_unchanged(source):
    path = source["path"]
    before = (hashlib.sha256(path.read_bytes()).hexdigest(), os.stat(path).st_mtime_ns)
    assert copy(path, new_database()).exit_code == 0
    assert (hashlib.sha256(path.read_bytes()).hexdigest(), os.stat(path).st_mtime_ns) == before


def test_a_target_holding_data_is_refused_and_left_as_it_was(source):
    url = new_database()
    create_item(on_postgresql(url).test_client(), name="Already here")
    before = {table: rows({"DATABASE_URL": url}, table) for table in table_names(source["path"])}
    result = copy(source["path"], url)
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1] == (
        "Error: the target already holds data (events has rows beyond the seed): copy only into a new"
        " database, or one where the service has done nothing yet"
    )
    assert {table: rows({"DATABASE_URL": url}, table) for table in table_names(source["path"])} == before


def test_a_target_where_the_service_only_started_is_taken(source):
    url = new_database()
    on_postgresql(url)  # migrated, the seed projected, the process managers' checkpoints set
    assert copy(source["path"], url).exit_code == 0
    assert rows({"DATABASE_URL": url}, "events") == rows({"DATABASE_PATH": source["path"]}, "events")


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("not a database")
    result = copy(tmp_path / "notes.txt", new_database())
    assert result.exit_code != 0
    assert "cannot read" in result.output and "as an SQLite database" in result.output


def test_a_float_off_by_its_last_bit_fails_the_verification_and_nothing_is_copied(source, monkeypatch):
    copy_table = transfer._copy

    def copy_and_nudge(source_conn, target_conn, table, progress):
        copy_table(source_conn, target_conn, table, progress)
        if table.name == "telemetry_stats_view":
            (device, value), *_ = target_conn.execute("SELECT device_id, sum FROM telemetry_stats_view").fetchall()
            nudged = math.nextafter(value, math.inf)
            target_conn.execute("UPDATE telemetry_stats_view SET sum = %s WHERE device_id = %s", (nudged, device))

    monkeypatch.setattr(transfer, "_copy", copy_and_nudge)
    url = new_database()
    result = copy(source["path"], url)
    assert result.exit_code != 0
    assert "verification failed: telemetry_stats_view differs from the source" in result.output
    assert len(rows({"DATABASE_URL": url}, "events")) == 2  # the seed the migrations made, and no more
