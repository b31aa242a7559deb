"""The process manager that cancels a deleted user's placed orders: what it does, that it does
it exactly once, and that a crash or a failure between UserDeleted and the cancellations
loses nothing."""

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing

import pytest

from app import create_app, process_manager
from app.db import transaction
from app.eventlog import read_after
from app.messages.orders import CancelOrder
from app.process_manager import PASS_OVER_EVERY
from app.process_managers import cancel_orders_of_deleted_users
from tests.order_support import customer, order_events, place_order, priced_item
from tests.support import events, query, read_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MANAGER = "cancel_orders_of_deleted_users"


@pytest.fixture
def app(tmp_path):
    """An app whose failing process managers are retried at once (no backoff)."""
    return create_app({"DATABASE_PATH": str(tmp_path / "cqrs.db"), "PROJECTION_RETRY_SECONDS": 0})


@pytest.fixture
def shop(client):
    """A user with three orders: one placed, one shipped, one cancelled by the customer."""
    user, item = customer(client), priced_item(client)
    placed, shipped, cancelled = (place_order(client, user["id"], (item["id"], n)) for n in (1, 2, 3))
    client.post(f"/orders/{shipped['id']}/ship")
    client.post(f"/orders/{cancelled['id']}/cancel")
    return {"user": user, "item": item, "placed": placed, "shipped": shipped, "cancelled": cancelled}


def user_deleted(app, user_id: str) -> tuple[int, str, str]:
    """(position, event_id, correlation_id) of the user's UserDeleted event."""
    return query(
        app,
        "SELECT position, event_id, correlation_id FROM events WHERE stream_id = ? AND type = 'UserDeleted'",
        user_id,
    )[0]


def cancellations(app, order_id: str) -> list[tuple]:
    """(reason, causation_id, correlation_id) of each OrderCancelled of the order."""
    rows = query(
        app,
        "SELECT payload, causation_id, correlation_id FROM events WHERE stream_id = ? AND type = 'OrderCancelled'",
        order_id,
    )
    return [(json.loads(payload)["reason"], causation, correlation) for payload, causation, correlation in rows]


def checkpoint(app) -> tuple:
    return query(
        app, "SELECT position, error_type, error_position, error_count FROM process_checkpoints WHERE name = ?", MANAGER
    )[0]


def run_managers(app, force: bool = False) -> int:
    with app.app_context():
        return app.extensions["process_managers"].run(force=force)


def test_deleting_a_user_cancels_their_placed_orders_before_the_response_leaves(client, shop):
    assert client.delete(f"/users/{shop['user']['id']}").status_code == 204
    order = client.get(f"/orders/{shop['placed']['id']}").get_json()
    assert (order["status"], order["cancellation_reason"]) == ("cancelled", "user deleted")
    assert [o["id"] for o in client.get("/orders?status=placed").get_json()] == []


def test_shipped_and_already_cancelled_orders_are_left_as_they_were(app, client, shop):
    before = {name: order_events(app, shop[name]["id"]) for name in ("shipped", "cancelled")}
    client.delete(f"/users/{shop['user']['id']}")
    assert {name: order_events(app, shop[name]["id"]) for name in ("shipped", "cancelled")} == before
    assert client.get(f"/orders/{shop['shipped']['id']}").get_json()["status"] == "shipped"


def test_other_users_orders_are_left_alone(app, client, shop):
    other = customer(client, 1)
    theirs = place_order(client, other["id"], (shop["item"]["id"], 1))
    client.delete(f"/users/{shop['user']['id']}")
    assert order_events(app, theirs["id"]) == [(1, "OrderPlaced", None)]


def test_each_cancellation_names_the_user_deleted_event_as_its_cause_and_the_request_as_correlation(app, client, shop):
    client.delete(f"/users/{shop['user']['id']}", headers={"X-Request-ID": "delete-ada"})
    _, event_id, correlation = user_deleted(app, shop["user"]["id"])
    assert correlation == "delete-ada"
    assert cancellations(app, shop["placed"]["id"]) == [("user deleted", event_id, "delete-ada")]


def test_the_checkpoint_stands_at_the_user_deleted_event_after_the_cancellations(app, client, shop):
    client.delete(f"/users/{shop['user']['id']}")
    position, _, _ = user_deleted(app, shop["user"]["id"])
    assert checkpoint(app) == (position, None, None, 0)


def test_running_the_manager_again_appends_nothing(app, client, shop):
    client.delete(f"/users/{shop['user']['id']}")
    before = (events(app), read_model(app))
    assert run_managers(app, force=True) == 0
    assert (events(app), read_model(app)) == before


def test_a_replay_from_the_start_cancels_nothing_twice(app, client, shop):
    client.delete(f"/users/{shop['user']['id']}")
    before = events(app)
    with app.app_context(), transaction("command") as tx:
        tx.execute("UPDATE process_checkpoints SET position = 0 WHERE name = :name", name=MANAGER)
    run_managers(app, force=True)
    assert events(app) == before
    assert len(cancellations(app, shop["placed"]["id"])) == 1


def test_a_manager_that_finds_its_checkpoint_moved_by_another_process_changes_nothing(app, client, shop):
    client.delete(f"/users/{shop['user']['id']}")
    position, _, _ = user_deleted(app, shop["user"]["id"])
    runner = app.extensions["process_managers"]
    with app.app_context():
        with transaction("command", read_only=True) as tx:
            (event,) = read_after(tx, position - 1, 1)
        before = events(app)
        assert runner._react(cancel_orders_of_deleted_users.process_manager, event, seen_at=position - 1) == 0
    assert events(app) == before


# ---------------------------------------------------------------- failures


@pytest.fixture
def reaction_fails(monkeypatch):
    """Make the manager's reaction raise until ``fix()`` is called."""
    manager = cancel_orders_of_deleted_users.process_manager
    real = manager.reactions["UserDeleted"]
    state = {"broken": True}

    def flaky(uow, event):
        if state["broken"]:
            raise RuntimeError("mail server down")
        real(uow, event)

    monkeypatch.setitem(manager.reactions, "UserDeleted", flaky)
    state["fix"] = lambda: state.update(broken=False)
    return state


def test_a_failing_manager_never_fails_the_users_command(app, client, shop, reaction_fails):
    response = client.delete(f"/users/{shop['user']['id']}")
    assert response.status_code == 204
    assert client.get(f"/users/{shop['user']['id']}").status_code == 404
    assert client.get(f"/orders/{shop['placed']['id']}").get_json()["status"] == "placed"


def test_a_failure_is_recorded_at_the_event_and_the_checkpoint_stays_before_it(app, client, shop, reaction_fails):
    client.delete(f"/users/{shop['user']['id']}")
    position, _, _ = user_deleted(app, shop["user"]["id"])
    stored, error_type, error_position, count = checkpoint(app)
    assert stored < position
    assert (error_type, error_position, count) == ("RuntimeError", position, 1)
    with app.app_context():
        (status,) = app.extensions["process_managers"].status()
    assert (status["state"], status["pending"], status["last_error"]["message"]) == ("failing", 1, "mail server down")


def test_a_failed_reaction_keeps_none_of_its_cancellations(app, client, shop, monkeypatch):
    other = place_order(client, shop["user"]["id"], (shop["item"]["id"], 4))
    bus = app.extensions["bus"]
    real = bus.handlers[CancelOrder]
    calls = []

    def second_fails(uow, cmd):
        calls.append(cmd.order_id)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(uow, cmd)

    monkeypatch.setitem(bus.handlers, CancelOrder, second_fails)
    client.delete(f"/users/{shop['user']['id']}")
    assert len(calls) == 2
    assert cancellations(app, shop["placed"]["id"]) == cancellations(app, other["id"]) == []


def test_a_failed_manager_resumes_at_the_next_command(app, client, shop, reaction_fails):
    client.delete(f"/users/{shop['user']['id']}")
    reaction_fails["fix"]()
    customer(client, 9)  # any command
    assert client.get(f"/orders/{shop['placed']['id']}").get_json()["status"] == "cancelled"
    assert checkpoint(app)[1:] == (None, None, 0)
    assert len(cancellations(app, shop["placed"]["id"])) == 1


def test_a_user_deleted_in_a_process_that_died_is_compensated_by_another_within_its_pass_over(tmp_path):
    database = str(tmp_path / "cqrs.db")
    elsewhere, here = create_app({"DATABASE_PATH": database}), create_app({"DATABASE_PATH": database})
    user, item = customer(here.test_client()), priced_item(here.test_client())
    order = place_order(here.test_client(), user["id"], (item["id"], 1))
    here_client = here.test_client()
    customer(here_client, 1)  # this process's managers ran, and found nothing to do
    # The other process deletes the user and dies before its managers run.
    elsewhere.extensions["process_managers"].run_or_log = lambda *args, **kwargs: None
    elsewhere.test_client().delete(f"/users/{user['id']}")
    customer(here_client, 2)  # none of this process's own events calls for a reaction...
    assert here_client.get(f"/orders/{order['id']}").get_json()["status"] == "placed"
    for n in range(PASS_OVER_EVERY):  # ...but within PASS_OVER_EVERY of them it looks at the log
        customer(here_client, 3 + n)
    assert here_client.get(f"/orders/{order['id']}").get_json()["status"] == "cancelled"


def test_a_failed_manager_waits_for_its_backoff_but_a_restart_retries_at_once(tmp_path, reaction_fails):
    app = create_app({"DATABASE_PATH": str(tmp_path / "cqrs.db"), "PROJECTION_RETRY_SECONDS": 3600})
    client = app.test_client()
    user, item = customer(client), priced_item(client)
    order = place_order(client, user["id"], (item["id"], 1))
    client.delete(f"/users/{user['id']}")
    reaction_fails["fix"]()
    customer(client, 9)
    assert client.get(f"/orders/{order['id']}").get_json()["status"] == "placed"
    restarted = create_app({"DATABASE_PATH": app.config["DATABASE_PATH"]})
    assert restarted.test_client().get(f"/orders/{order['id']}").get_json()["status"] == "cancelled"


def test_a_process_serving_only_queries_runs_no_manager(tmp_path, reaction_fails):
    app = create_app({"DATABASE_PATH": str(tmp_path / "cqrs.db")})
    client = app.test_client()
    user, item = customer(client), priced_item(client)
    order = place_order(client, user["id"], (item["id"], 1))
    client.delete(f"/users/{user['id']}")
    reaction_fails["fix"]()
    query_side = create_app({"DATABASE_PATH": app.config["DATABASE_PATH"], "APP_ROLE": "query"})
    assert query_side.test_client().get(f"/orders/{order['id']}").get_json()["status"] == "placed"


# ---------------------------------------------------------------- operating them


def manager_status(client) -> dict:
    (status,) = client.get("/process-managers").get_json()
    return status


def test_operators_see_each_manager_live_from_any_role(app, client, shop):
    head = query(app, "SELECT max(position) FROM events")[0][0]
    status = manager_status(client)
    assert (status["name"], status["state"], status["pending"], status["head"]) == (MANAGER, "live", 0, head)
    assert status["last_error"] is None
    query_side = create_app({"DATABASE_PATH": app.config["DATABASE_PATH"], "APP_ROLE": "query"})
    assert manager_status(query_side.test_client()) == status


def test_pending_is_counted_within_a_bounded_scan_and_a_manager_behind_it_is_catching_up(app, client, monkeypatch):
    monkeypatch.setattr(app.extensions["process_managers"], "run_or_log", lambda *args, **kwargs: None)  # as if died
    user = customer(client)
    for n in range(1, 4):
        customer(client, n)
    client.delete(f"/users/{user['id']}")  # five events after the checkpoint, the last one to react to
    assert (manager_status(client)["state"], manager_status(client)["pending"]) == ("catching_up", 1)
    monkeypatch.setattr(process_manager, "PENDING_COUNTED_WITHIN", 4)
    assert (manager_status(client)["state"], manager_status(client)["pending"]) == ("catching_up", 0)


def test_a_run_started_within_a_run_leaves_the_new_events_to_it(app, client, shop, monkeypatch):
    managers, inner = app.extensions["process_managers"], []
    reactions = cancel_orders_of_deleted_users.process_manager.reactions
    real = reactions["UserDeleted"]

    def reaction(uow, event):
        inner.append(managers.run(force=True))
        real(uow, event)

    monkeypatch.setitem(reactions, "UserDeleted", reaction)
    client.delete(f"/users/{shop['user']['id']}")
    assert inner == [0]
    assert client.get(f"/orders/{shop['placed']['id']}").get_json()["status"] == "cancelled"


def test_a_failing_manager_shows_its_error_in_http_metrics_and_cli(app, client, runner, shop, reaction_fails):
    client.delete(f"/users/{shop['user']['id']}")
    position, _, _ = user_deleted(app, shop["user"]["id"])
    status = manager_status(client)
    assert (status["state"], status["pending"]) == ("failing", 1)
    error = status["last_error"]
    assert (error["type"], error["message"], error["position"], error["retries"]) == (
        "RuntimeError", "mail server down", position, 1
    )
    assert error["next_retry_at"] and "Traceback" not in str(error)
    metrics = client.get("/metrics").get_data(as_text=True)
    assert f'process_manager_pending_events{{manager="{MANAGER}"}} 1.0' in metrics
    assert f'process_manager_failures{{manager="{MANAGER}"}} 1.0' in metrics
    table = runner.invoke(args=["process-managers", "status"]).output
    assert MANAGER in table and "failing" in table and f"RuntimeError at {position} (x1): mail server down" in table


def test_run_from_the_cli_reacts_at_once_once_the_cause_is_fixed(app, client, runner, shop, reaction_fails):
    client.delete(f"/users/{shop['user']['id']}")
    reaction_fails["fix"]()
    result = runner.invoke(args=["process-managers", "run"])
    assert (result.exit_code, result.output) == (0, "Ran 1 reaction.\n")
    assert client.get(f"/orders/{shop['placed']['id']}").get_json()["status"] == "cancelled"
    assert (manager_status(client)["state"], manager_status(client)["pending"]) == ("live", 0)
    assert f'process_manager_failures{{manager="{MANAGER}"}} 0.0' in client.get("/metrics").get_data(as_text=True)


def test_run_from_the_cli_counts_the_reactions_its_process_ran_at_start(app, client, shop, reaction_fails):
    client.delete(f"/users/{shop['user']['id']}")
    reaction_fails["fix"]()
    cli = create_app({"DATABASE_PATH": app.config["DATABASE_PATH"]})  # as `flask --app wsgi` makes it
    result = cli.test_cli_runner().invoke(args=["process-managers", "run"])
    assert (result.exit_code, result.output) == (0, "Ran 1 reaction.\n")
    assert client.get(f"/orders/{shop['placed']['id']}").get_json()["status"] == "cancelled"


def test_run_from_the_cli_exits_1_while_a_manager_still_fails(app, client, runner, shop, reaction_fails):
    client.delete(f"/users/{shop['user']['id']}")
    position, _, _ = user_deleted(app, shop["user"]["id"])
    result = runner.invoke(args=["process-managers", "run"])
    assert result.exit_code == 1
    assert "Ran 0 reactions." in result.output
    assert f"{MANAGER} fails: RuntimeError at {position} (x2): mail server down" in result.output  # it tried again
    assert client.get(f"/orders/{shop['placed']['id']}").get_json()["status"] == "placed"


# ---------------------------------------------------------------- crashes

SETUP = """
import json, os, signal
from app import create_app
from app.messages.orders import CancelOrder
app = create_app()
client = app.test_client()
user = client.post("/users", json={"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}).get_json()
item = client.post("/items", json={"name": "Eggs", "description": "", "price": 0.1}).get_json()
def order(quantity):
    lines = [{"item_id": item["id"], "quantity": quantity}]
    return client.post("/orders", json={"user_id": user["id"], "lines": lines}).get_json()["id"]
placed, shipped, also_placed = order(1), order(2), order(3)
client.post(f"/orders/{shipped}/ship")
print(json.dumps({"user": user["id"], "placed": [placed, also_placed], "shipped": shipped}), flush=True)
def die(*_args, **_kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
"""


def crash(database, how: str) -> dict:
    """Run SETUP and then ``how`` in a process that kills itself; what SETUP printed."""
    script = (
        SETUP
        + textwrap.dedent(how)
        + '\nclient.delete(f"/users/{user[\'id\']}", headers={"X-Request-ID": "delete-ada"})\n'
    )
    env = {**os.environ, "DATABASE_PATH": str(database)}
    crashed = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, timeout=60, capture_output=True, text=True, check=False
    )
    assert crashed.returncode == -9, crashed.stderr
    return json.loads(crashed.stdout)


def test_a_crash_between_user_deleted_and_the_cancellations_is_resumed_at_restart_exactly_once(tmp_path):
    database = tmp_path / "cqrs.db"
    ids = crash(database, 'app.extensions["process_managers"].run_or_log = die')
    app = create_app({"DATABASE_PATH": str(database)})
    _, event_id, _ = user_deleted(app, ids["user"])
    for order_id in ids["placed"]:
        assert cancellations(app, order_id) == [("user deleted", event_id, "delete-ada")]
    assert order_events(app, ids["shipped"])[-1][1] == "OrderShipped"
    client = app.test_client()
    assert {client.get(f"/orders/{o}").get_json()["status"] for o in ids["placed"]} == {"cancelled"}


def test_a_crash_halfway_through_the_cancellations_keeps_none_and_a_restart_does_them_all_once(tmp_path):
    database = tmp_path / "cqrs.db"
    how = """
    bus = app.extensions["bus"]
    real, done = bus.handlers[CancelOrder], []
    def second_dies(uow, cmd):
        if done:
            die()
        done.append(cmd)
        return real(uow, cmd)
    bus.handlers[CancelOrder] = second_dies
    """
    ids = crash(database, how)
    assert query_file(database, "SELECT count(*) FROM events WHERE type = 'OrderCancelled'") == [(0,)]
    app = create_app({"DATABASE_PATH": str(database)})
    for order_id in ids["placed"]:
        assert len(cancellations(app, order_id)) == 1


def test_after_a_resumed_compensation_running_again_appends_nothing_and_a_rebuild_equals_live(tmp_path):
    database = tmp_path / "cqrs.db"
    crash(database, 'app.extensions["process_managers"].run_or_log = die')
    app = create_app({"DATABASE_PATH": str(database)})
    before = (events(app), read_model(app))
    assert run_managers(app, force=True) == 0
    create_app({"DATABASE_PATH": str(database)})  # and another restart
    assert (events(app), read_model(app)) == before
    with app.app_context():
        app.extensions["projector"].rebuild()
    assert read_model(app) == before[1]


def query_file(database, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(database)) as conn:
        return conn.execute(sql).fetchall()


# ---------------------------------------------------------------- events it does not react to


def test_events_it_does_not_react_to_move_its_checkpoint_only_every_hundred_or_so(app, client):
    start = checkpoint(app)[0]
    for n in range(50):
        priced_item(client, name=f"Item {n}")
    assert checkpoint(app)[0] == start  # nothing to do, and no write to say so
    for n in range(60):
        priced_item(client, name=f"More {n}")
    assert checkpoint(app)[0] > start + 50


def test_a_start_moves_its_checkpoint_over_every_event_it_does_not_react_to(app, client):
    priced_item(client)
    restarted = create_app({"DATABASE_PATH": app.config["DATABASE_PATH"]})
    (head,) = query(restarted, "SELECT max(position) FROM events")[0]
    assert checkpoint(restarted)[0] == head
