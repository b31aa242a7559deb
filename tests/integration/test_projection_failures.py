"""A failing projection never fails a committed command, and it catches up afterwards."""

import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from app import create_app, eventlog
from app.db import transaction
from app.messages.items import ItemCreated
from app.projections import item_list
from tests.support import create_item, projector_stopped, query, read_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def app(tmp_path):
    """An app whose failing projections are retried at once (no backoff), to keep these tests short."""
    return create_app({"DATABASE_PATH": str(tmp_path / "cqrs.db"), "PROJECTION_RETRY_SECONDS": 0})


@pytest.fixture
def item_list_fails(monkeypatch):
    """Make item_list's ItemCreated handler raise until ``fix()`` is called; counts calls."""
    real = item_list.projection.handlers["ItemCreated"]
    state = {"broken": True, "calls": 0}

    def flaky(tx, event):
        state["calls"] += 1
        if state["broken"]:
            raise RuntimeError("disk on fire")
        real(tx, event)

    monkeypatch.setitem(item_list.projection.handlers, "ItemCreated", flaky)
    state["fix"] = lambda: state.update(broken=False)
    return state


def list_ids(client) -> set[str]:
    return {item["id"] for item in client.get("/items").get_json()}


def test_a_command_and_its_projections_commit_together(app, client):
    item = create_item(client)
    (position,) = query(app, "SELECT max(position) FROM events")[0]
    assert query(app, "SELECT DISTINCT position FROM projection_checkpoints") == [(position,)]
    assert item["id"] in list_ids(client)


def test_when_projecting_inside_the_command_fails_the_command_commits_and_the_catch_up_projects(
    app, client, monkeypatch
):
    projector = app.extensions["projector"]
    real, calls = projector._apply_batch, []

    def fails_inside_the_command(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("no space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(projector, "_apply_batch", fails_inside_the_command)
    item = create_item(client)
    assert len(calls) == 2  # inside the command's transaction (undone), then the catch-up after its commit
    assert item["id"] in list_ids(client)
    assert query(app, "SELECT count(*) FROM projection_checkpoints WHERE error_count > 0") == [(0,)]


def test_the_command_succeeds_when_a_projection_raises(app, client, item_list_fails):
    response = client.post("/items", json={"name": "Eggs", "description": ""})
    assert response.status_code == 201
    item = response.get_json()
    assert client.get(f"/items/{item['id']}").status_code == 200  # the other projection is live
    assert item["id"] not in list_ids(client)
    (position,) = query(app, "SELECT max(position) FROM events")[0]
    assert query(
        app, "SELECT error_type, error_message, error_position, error_count FROM projection_checkpoints"
        " WHERE name = 'item_list'"
    ) == [("RuntimeError", "disk on fire", position, 1)]


def test_the_failed_projection_catches_up_at_the_next_dispatch(app, client, item_list_fails):
    first = create_item(client, name="First")
    item_list_fails["fix"]()
    second = create_item(client, name="Second")
    assert {first["id"], second["id"]} <= list_ids(client)
    assert query(app, "SELECT error_type, error_count FROM projection_checkpoints WHERE name = 'item_list'") == [
        (None, 0)
    ]


def test_a_retry_at_the_same_event_counts_the_failures(app, client, item_list_fails):
    create_item(client)
    with app.app_context():
        app.extensions["projector"].catch_up()
    assert query(app, "SELECT error_count FROM projection_checkpoints WHERE name = 'item_list'") == [(2,)]


def test_events_before_the_failing_one_are_applied_and_the_checkpoint_stops_just_before_it(app, monkeypatch):
    ids = [f"00000000-0000-4000-8000-00000000000{n}" for n in range(3)]
    real = item_list.projection.handlers["ItemCreated"]

    def second_one_fails(tx, event):
        if event.stream_id == ids[1]:
            raise RuntimeError("bad event")
        real(tx, event)

    monkeypatch.setitem(item_list.projection.handlers, "ItemCreated", second_one_fails)
    with app.app_context():
        with transaction("command") as tx:
            recorded = [eventlog.append(tx, "item", i, 1, ItemCreated(i, "", None), None) for i in ids]
        app.extensions["projector"].catch_up()
    assert query(app, "SELECT id FROM item_list_view WHERE id IN (?, ?, ?)", *ids) == [(ids[0],)]
    assert query(app, "SELECT position, error_position FROM projection_checkpoints WHERE name = 'item_list'") == [
        (recorded[0].position, recorded[1].position)
    ]
    assert query(app, "SELECT count(*) FROM item_details_view WHERE id IN (?, ?, ?)", *ids) == [(3,)]


def test_each_event_reaches_a_projection_exactly_once(app, client, monkeypatch):
    seen = []
    real = item_list.projection.handlers["ItemCreated"]
    monkeypatch.setitem(
        item_list.projection.handlers, "ItemCreated", lambda tx, e: (seen.append(e.position), real(tx, e))
    )
    for n in range(5):
        create_item(client, name=f"Item {n}")
    with app.app_context():
        app.extensions["projector"].catch_up()
        app.extensions["projector"].catch_up()
    assert len(seen) == len(set(seen)) == 5
    assert seen == sorted(seen)


def test_a_restart_catches_up_events_whose_projection_never_ran(app, client, monkeypatch):
    projector_stopped(app, monkeypatch)
    item = create_item(client)
    assert client.get(f"/items/{item['id']}").status_code == 404  # committed, not yet projected
    restarted = create_app({"DATABASE_PATH": app.config["DATABASE_PATH"]})
    assert restarted.test_client().get(f"/items/{item['id']}").status_code == 200


def test_a_process_killed_between_commit_and_projection_loses_nothing(tmp_path):
    database = tmp_path / "cqrs.db"
    script = textwrap.dedent(
        """
        import os, signal
        from app import create_app
        from app.bus import events_recorded
        app = create_app()
        # Die the hard way right after the command's commit, before any projection runs.
        events_recorded.disconnect(app.extensions["projector"].on_events_recorded, sender=app)
        app.extensions["projector"].catch_up_or_log = lambda reason: os.kill(os.getpid(), signal.SIGKILL)
        app.test_client().post("/items", json={"name": "Survivor", "description": ""})
        """
    )
    env = {**os.environ, "DATABASE_PATH": str(database)}
    crashed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, timeout=60)
    assert crashed.returncode == -9

    app = create_app({"DATABASE_PATH": str(database)})
    assert "Survivor" in [item["name"] for item in app.test_client().get("/items").get_json()]
    live = read_model(app)
    with app.app_context():
        app.extensions["projector"].rebuild()
    assert read_model(app) == live
