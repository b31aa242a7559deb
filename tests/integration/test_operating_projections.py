"""Poison events, backoff, skip, rebuild beside the live tables, and the operator's CLI."""

import json
import threading

import pytest

from app import create_app, eventlog
from app.db import transaction
from app.messages.items import ItemCreated
from app.projections import item_list
from tests.support import BACON_ID, create_item, query, read_model, tables


@pytest.fixture
def poison(monkeypatch):
    """item_list raises on any item named 'Poison'."""
    real = item_list.projection.handlers["ItemCreated"]

    def handler(tx, event):
        if event.data.name == "Poison":
            raise ValueError("cannot digest this")
        real(tx, event)

    monkeypatch.setitem(item_list.projection.handlers, "ItemCreated", handler)


def checkpoint(app, name="item_list"):
    return query(app, "SELECT position, error_position, error_count FROM projection_checkpoints WHERE name = ?", name)[0]


def listed(client) -> list[str]:
    return [item["name"] for item in client.get("/items?limit=1000").get_json()]


def test_a_poison_event_stops_only_its_projection_and_commands_go_on(app, client, poison):
    bad = create_item(client, name="Poison")
    good = create_item(client, name="Fine")
    assert client.get(f"/items/{good['id']}").status_code == 200  # item_details is live
    assert client.get(f"/items/{bad['id']}").status_code == 200
    assert listed(client) == ["Bacon"]  # item_list stopped before the poison
    position, stuck_on, _ = checkpoint(app)
    assert stuck_on == position + 1


def test_a_failing_projection_waits_out_its_backoff_before_retrying(app, client, poison):
    create_item(client, name="Poison")
    assert checkpoint(app)[2] == 1
    create_item(client, name="Fine")  # within the 1 s backoff: not retried
    assert checkpoint(app)[2] == 1
    with app.app_context():
        app.extensions["projector"].catch_up(force=True)  # an operator's catch-up does retry
    assert checkpoint(app)[2] == 2
    (retry_at,) = query(app, "SELECT retry_at FROM projection_checkpoints WHERE name = 'item_list'")[0]
    (failed_at,) = query(app, "SELECT failed_at FROM projection_checkpoints WHERE name = 'item_list'")[0]
    assert retry_at > failed_at  # the wait doubles with each failure


def test_skipping_the_poison_event_is_recorded_and_the_projection_catches_up(app, client, runner, poison):
    create_item(client, name="Poison")
    create_item(client, name="Fine")
    stuck_on = checkpoint(app)[1]
    result = runner.invoke(args=["projections", "skip", "item_list", str(stuck_on), "--reason", "bad import"])
    assert result.exit_code == 0, result.output
    assert listed(client) == ["Bacon", "Fine"]
    status = {s["name"]: s for s in client.get("/projections").get_json()}["item_list"]
    assert status["state"] == "live"
    assert status["last_skip"]["position"] == stuck_on and status["last_skip"]["reason"] == "bad import"
    assert status["last_skip"]["by"]


def test_only_the_event_a_projection_is_stuck_on_can_be_skipped(app, runner):
    result = runner.invoke(args=["projections", "skip", "item_list", "1", "--reason", "oops"])
    assert result.exit_code != 0
    assert "not on 1" in result.output


def test_status_prints_a_table(runner, client, poison):
    create_item(client, name="Poison")
    output = runner.invoke(args=["projections", "status"]).output
    assert "item_list" in output and "failing" in output and "ValueError" in output
    assert "item_details" in output and "live" in output


def test_rebuild_prints_progress_and_keeps_the_read_model(app, runner):
    before = read_model(app)
    result = runner.invoke(args=["projections", "rebuild", "item_list", "item_details"])
    assert result.exit_code == 0, result.output
    assert "Rebuilt item_list" in result.output and "events" in result.output
    assert read_model(app) == before


def test_rebuilding_an_unknown_projection_is_refused(runner):
    assert runner.invoke(args=["projections", "rebuild", "nope"]).exit_code != 0


def test_a_rebuild_that_hits_a_poison_event_leaves_the_live_read_model_alone(app, client, runner, poison):
    create_item(client, name="Poison")
    before = read_model(app)
    result = runner.invoke(args=["projections", "rebuild", "item_list"])
    assert result.exit_code != 0 and "cannot digest" in result.output
    assert read_model(app) == before
    assert not [table for table in tables(app) if table.startswith("rebuild")]


def test_events_tail_prints_one_json_line_per_event(runner, client):
    create_item(client, name="Tailed")
    lines = runner.invoke(args=["events", "tail", "--after", "0", "--once"]).output.splitlines()
    assert json.loads(lines[-1])["data"]["name"] == "Tailed"


@pytest.mark.slow
def test_queries_and_commands_keep_working_while_100000_events_are_rebuilt(tmp_path):
    app = create_app({"DATABASE_PATH": str(tmp_path / "cqrs.db"), "PROJECTION_BATCH_SIZE": 2000})
    with app.app_context(), transaction("command") as tx:
        for n in range(100_000):
            eventlog.append(tx, "item", f"bulk-{n:06}", 1, ItemCreated(f"Bulk {n:06}", "", None), None)
    with app.app_context():
        app.extensions["projector"].catch_up()
    client = app.test_client()
    live = read_model(app)["item_list_view"]
    answers, created, done = [], [], threading.Event()

    def rebuild():
        with app.app_context():
            app.extensions["projector"].rebuild(["item_list"])
        done.set()

    rebuilder = threading.Thread(target=rebuild)
    rebuilder.start()
    while not done.is_set():
        answers.append(client.get("/items?limit=1").get_json())
        response = client.post("/items", json={"name": f"During {len(created)}", "description": ""})
        assert response.status_code == 201
        created.append(response.get_json()["id"])
    rebuilder.join()

    assert len(created) > 3  # commands really ran during the rebuild
    assert all(answer == [{"id": BACON_ID, "name": "Bacon"}] for answer in answers)  # never empty, never half
    rebuilt = {row[0] for row in read_model(app)["item_list_view"]}
    assert {row[0] for row in live} | set(created) == rebuilt
