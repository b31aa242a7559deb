"""How a rebuild replays the log: one pass for all projections, queued writes, scratch transactions."""

import gc
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app, rebuild
from app.db import dispose
from app.projections import item_list
from tests.engines import database_config, database_of
from tests.support import create_employee, create_item, create_user, query, read_model

ROOT = Path(__file__).resolve().parent.parent.parent


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
            tx.execute(
                "INSERT INTO item_list_view (id, name, summary) VALUES (:id, :name, '{}')", id=event.stream_id, name="x"
            )

    monkeypatch.setitem(item_list.projection.handlers, "ItemCreated", inserts_twice)
    with app.app_context(), pytest.raises(rebuild.RebuildFailed, match="item_list.*(UNIQUE constraint failed|duplicate key)"):
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
            "INSERT INTO item_list_view (id, name, summary) VALUES (:id, ':name, \"'':id\"' || :name, '{}')",
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
                tx.execute(
                    "INSERT INTO item_list_view (id, name, summary) VALUES (:id, :name, '{}')",
                    id=event.stream_id,
                    name="No",
                )
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


# ---------------------------------------------------------------- a rebuild killed partway

KILLED_PARTWAY = """
import os, signal
from app import create_app
from app.projections import item_list
app = create_app()
item_list.projection.handlers["ItemCreated"] = lambda tx, event: os.kill(os.getpid(), signal.SIGKILL)
with app.app_context():
    app.extensions["projector"].rebuild()
"""


def kill_a_rebuild_partway(database: dict) -> None:
    """A process that rebuilds every projection on ``database`` (its settings) and is killed (-9)
    in the middle of it."""
    environ = {**os.environ, **database}
    environ.pop("APP_SKIP_STARTUP", None)
    killed = subprocess.run([sys.executable, "-c", KILLED_PARTWAY], cwd=ROOT, env=environ, timeout=60)
    assert killed.returncode == -signal.SIGKILL


def leftovers(app) -> tuple[list[str], list[tuple]]:
    """The copies a rebuild left (SQLite's scratch files, PostgreSQL's tables in cqrs_rebuild),
    and its rows in projection_rebuilds."""
    if app.config.get("DATABASE_URL"):
        copies = [name for (name,) in query(app, "SELECT tablename FROM pg_tables WHERE schemaname = 'cqrs_rebuild'")]
    else:
        copies = [name for name in os.listdir(os.path.dirname(app.config["DATABASE_PATH"])) if ".rebuild-" in name]
    return sorted(copies), query(app, "SELECT name FROM projection_rebuilds")


def test_a_running_rebuild_is_reported_as_rebuilding(app, monkeypatch):
    seen = []
    real = item_list.projection.handlers["ItemCreated"]

    def looking(tx, event):
        seen.extend(s["state"] for s in app.extensions["projector"].status() if s["name"] == "item_list")
        real(tx, event)

    monkeypatch.setitem(item_list.projection.handlers, "ItemCreated", looking)
    with app.app_context():
        app.extensions["projector"].rebuild(["item_list"])
    assert seen and set(seen) == {"rebuilding"}


def test_a_killed_rebuild_is_not_reported_as_running(app):
    kill_a_rebuild_partway(database_of(app))
    assert leftovers(app)[1]  # its rows are still there, until the next start or rebuild
    with app.app_context():
        statuses = app.extensions["projector"].status()
    assert [(s["state"], s["rebuild"]) for s in statuses] == [("live", None)] * len(statuses)


def test_the_next_rebuild_removes_what_a_killed_rebuild_left(app):
    kill_a_rebuild_partway(database_of(app))
    assert leftovers(app) != ([], [])
    with app.app_context():
        app.extensions["projector"].rebuild(["item_list"])
    assert leftovers(app) == ([], [])


def test_a_start_removes_what_a_killed_rebuild_left(tmp_path):
    database = database_config(tmp_path)
    kill_a_rebuild_partway(database)
    app = create_app(database)
    assert leftovers(app) == ([], [])


def test_a_second_rebuild_while_one_runs_is_refused(app, monkeypatch):
    monkeypatch.setattr(rebuild, "LOCK_WAIT_SECONDS", 0)
    refusals = []
    real = item_list.projection.handlers["ItemCreated"]

    def rebuilding_again(tx, event):
        with pytest.raises(rebuild.RebuildFailed, match="already running") as refused:
            app.extensions["projector"].rebuild(["item_list"])
        refusals.append(refused)
        real(tx, event)

    monkeypatch.setitem(item_list.projection.handlers, "ItemCreated", rebuilding_again)
    with app.app_context():
        app.extensions["projector"].rebuild(["item_list"])
    assert refusals
