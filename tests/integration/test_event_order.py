"""No event is skipped on PostgreSQL. A sequence hands out positions before commit, so without
more, a later position can become visible before an earlier one and a projector reading in
between moves its checkpoint past an event it never saw. Writers therefore take the writers'
advisory lock first (app/engines/postgresql.py): they commit one at a time, in position order."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import pytest

from app import eventlog
from app.db import transaction
from app.engines.postgresql import NAMESPACE, WRITERS
from app.ids import new_id
from app.messages.items import ItemCreated
from app.times import utc_now
from tests.engines import plain_connection
from tests.support import events, query

pytestmark = pytest.mark.postgresql

# Transactions waiting for the writers' lock (the engine's key), in this test's database.
WAITING_WRITERS = (
    f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = {NAMESPACE} AND objid = {WRITERS}"
    " AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def append_item(app, item_id: str, name: str) -> int:
    """An ItemCreated appended as a command appends it, in a transaction of its own; its position."""
    with app.app_context(), transaction("command") as tx:
        return eventlog.append(tx, "item", item_id, 1, ItemCreated(name, ""), None).position


def catch_up(app) -> None:
    with app.app_context():
        app.extensions["projector"].catch_up()


def wait_until_waiting(app, writers: int) -> None:
    deadline = time.monotonic() + 10
    while query(app, WAITING_WRITERS) != [(writers,)]:
        assert time.monotonic() < deadline, f"{query(app, WAITING_WRITERS)[0][0]} writers waiting, not {writers}"
        time.sleep(0.01)


def insert_item_created(conn, item_id: str, name: str) -> int:
    """An ItemCreated inserted with plain SQL, taking no lock first; its position."""
    payload = json.dumps({"name": name, "description": "", "price_cents": None}, separators=(",", ":"))
    return conn.execute(
        "INSERT INTO events (event_id, stream_type, stream_id, version, type, payload, occurred_at)"
        " VALUES (?, 'item', ?, 1, 'ItemCreated', ?, ?) RETURNING position",
        (new_id(), item_id, payload, utc_now()),
    ).fetchone()[0]


def checkpoints(app) -> set[int]:
    return {position for (position,) in query(app, "SELECT position FROM projection_checkpoints")}


def listed(app) -> set[str]:
    return {item_id for (item_id,) in query(app, "SELECT id FROM item_list_view")}


def test_a_writer_and_the_projector_wait_for_the_writer_holding_a_lower_position(app):
    first, second = new_id(), new_id()
    head = events(app)[-1][0]
    with ThreadPoolExecutor(2) as pool:
        with app.app_context(), transaction("command") as tx:
            position = eventlog.append(tx, "item", first, 1, ItemCreated("First", ""), None).position
            appended = pool.submit(append_item, app, second, "Second")
            caught_up = pool.submit(catch_up, app)
            wait_until_waiting(app, 2)
            assert events(app)[-1][0] == head  # neither event is visible, so none can be read past
        later = appended.result(timeout=30)
        caught_up.result(timeout=30)
    assert position < later
    catch_up(app)
    assert checkpoints(app) == {later}
    assert {first, second} <= listed(app)


def test_without_the_writers_lock_a_later_position_commits_first_and_the_projector_skips_the_earlier(app):
    first, second = new_id(), new_id()
    with closing(plain_connection(app.config)) as a, closing(plain_connection(app.config)) as b:
        a.execute("BEGIN")
        position = insert_item_created(a, first, "First")
        later = insert_item_created(b, second, "Second")  # b commits at once
        assert position < later
        assert query(app, "SELECT position FROM events WHERE position >= ?", position) == [(later,)]
        catch_up(app)  # reads the later event: every checkpoint moves past the earlier one
        a.execute("COMMIT")
    catch_up(app)
    assert checkpoints(app) == {later}
    assert second in listed(app)
    assert first not in listed(app)  # skipped for good: no catch-up reads behind its checkpoint
