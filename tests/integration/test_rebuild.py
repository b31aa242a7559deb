"""How a rebuild replays the log: one pass for all projections, queued writes, scratch transactions."""

import gc

import pytest

from app import create_app, rebuild
from app.db import dispose
from app.projections import item_list
from tests.support import create_employee, create_item, create_user, query, read_model


@pytest.fixture
def small_batches(tmp_path, monkeypatch):
    """An app whose rebuild reads two events at a time, each batch in its own scratch transaction."""
    monkeypatch.setattr(rebuild, "BATCH", 2)
    monkeypatch.setattr(rebuild, "SCRATCH_TRANSACTION_SECONDS", 0)
    app = create_app({"DATABASE_PATH": str(tmp_path / "cqrs.db"), "PROJECTION_BATCH_SIZE": 1})
    yield app
    with app.app_context():
        dispose()


def test_a_rebuild_in_many_small_transactions_equals_the_live_read_model(small_batches):
    client = small_batches.test_client()
    for n in range(3):
        item = create_item(client, name=f"Item {n}")
        client.put(f"/items/{item['id']}", json={"name": f"Renamed {n}", "description": "", "price": 1.5})
        create_employee(client, lastName=f"Roe {n}")
        create_user(client, email=f"user{n}@example.com")
    client.delete(f"/items/{item['id']}")
    live = read_model(small_batches)
    with small_batches.app_context():
        small_batches.extensions["projector"].rebuild()
    assert read_model(small_batches) == live


def test_a_write_that_sqlite_refuses_fails_the_rebuild_and_leaves_the_live_read_model_alone(
    app, client, monkeypatch, tmp_path
):
    create_item(client, name="Twice")
    before = read_model(app)

    def inserts_twice(tx, event):  # the second insert breaks the primary key, once both reach SQLite
        for _ in range(2):
            tx.execute("INSERT INTO item_list_view (id, name) VALUES (:id, :name)", id=event.stream_id, name="x")

    monkeypatch.setitem(item_list.projection.handlers, "ItemCreated", inserts_twice)
    with app.app_context(), pytest.raises(rebuild.RebuildFailed, match="item_list.*UNIQUE constraint failed"):
        app.extensions["projector"].rebuild()
    assert read_model(app) == before
    assert not list(tmp_path.glob("*.rebuild-*"))  # the scratch file is gone


def test_the_cycle_collector_is_back_on_after_a_rebuild_even_a_failed_one(app, client, monkeypatch):
    create_item(client, name="Poison")
    with app.app_context():
        app.extensions["projector"].rebuild()
    assert gc.isenabled()

    def poisoned(tx, event):
        raise ValueError("cannot digest this")

    monkeypatch.setitem(item_list.projection.handlers, "ItemCreated", poisoned)
    with app.app_context(), pytest.raises(rebuild.RebuildFailed, match="cannot digest"):
        app.extensions["projector"].rebuild()
    assert gc.isenabled()


def test_a_colon_in_a_quoted_string_is_not_taken_for_a_parameter(app, client, monkeypatch):
    def quoting(tx, event):
        tx.execute(
            "INSERT INTO item_list_view (id, name) VALUES (:id, ':name, \"'':id\"' || :name)",
            id=event.stream_id,
            name=event.data.name,
        )

    monkeypatch.setitem(item_list.projection.handlers, "ItemCreated", quoting)
    item = create_item(client, name="Quoted")
    row = f"SELECT name FROM item_list_view WHERE id = '{item['id']}'"
    assert query(app, row) == [(":name, \"':id\"Quoted",)]
    with app.app_context():
        app.extensions["projector"].rebuild()
    assert query(app, row) == [(":name, \"':id\"Quoted",)]


def test_writes_undone_by_a_handlers_savepoint_stay_undone_in_a_rebuild(app, client, monkeypatch):
    real = item_list.projection.handlers["ItemCreated"]

    def second_thoughts(tx, event):
        try:
            with tx.savepoint():
                tx.execute("INSERT INTO item_list_view (id, name) VALUES (:id, :name)", id=event.stream_id, name="No")
                raise ValueError("changed its mind")
        except ValueError:
            pass
        real(tx, event)

    monkeypatch.setitem(item_list.projection.handlers, "ItemCreated", second_thoughts)
    create_item(client, name="Yes")
    live = read_model(app)
    with app.app_context():
        app.extensions["projector"].rebuild()
    assert read_model(app) == live
