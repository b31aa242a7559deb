"""The process managers' sweep: one lead among every process using the database, which takes
up reactions that a process dying between its commit and its managers' run left behind."""

import threading
import time

from app.db import engine
from app.process_manager import sweep_in_background
from tests.order_support import customer, order_events, place_order, priced_item
from tests.support import make_app


def lead_of(app):
    with app.app_context():
        return engine().lead("process-managers")


def wait_until_cancelled(client, order: dict, failure: str) -> None:
    deadline = time.monotonic() + 30
    while client.get(f"/orders/{order['id']}").get_json()["status"] != "cancelled":
        assert time.monotonic() < deadline, failure
        time.sleep(0.05)


def test_one_process_holds_the_lead_until_it_lets_go(tmp_path):
    first, second = lead_of(make_app(tmp_path)), lead_of(make_app(tmp_path))
    try:
        assert first.held()
        assert not second.held()
        assert first.held()  # still
        first.release()  # as its process ending would
        assert second.held()
    finally:
        second.release()


def test_the_sweep_reacts_to_a_deletion_whose_process_died_before_its_managers_ran(tmp_path):
    here, elsewhere = make_app(tmp_path), make_app(tmp_path)
    client = here.test_client()
    user, item = customer(client), priced_item(client)
    order = place_order(client, user["id"], (item["id"], 1))
    elsewhere.extensions["process_managers"].run_or_log = lambda *args, **kwargs: None  # it dies first
    assert elsewhere.test_client().delete(f"/users/{user['id']}").status_code == 204
    assert client.get(f"/orders/{order['id']}").get_json()["status"] == "placed"

    stop = threading.Event()
    sweep = sweep_in_background(here, 0.05, stop)
    try:
        wait_until_cancelled(client, order, "the sweep never reacted")
    finally:
        stop.set()
        sweep.join(10)
    assert [kind for _, kind, _ in order_events(here, order["id"])] == ["OrderPlaced", "OrderCancelled"]


def test_a_sweep_that_does_not_hold_the_lead_reacts_to_nothing(tmp_path):
    here, elsewhere = make_app(tmp_path), make_app(tmp_path)
    client = here.test_client()
    user, item = customer(client), priced_item(client)
    order = place_order(client, user["id"], (item["id"], 1))
    elsewhere.extensions["process_managers"].run_or_log = lambda *args, **kwargs: None
    elsewhere.test_client().delete(f"/users/{user['id']}")
    other = lead_of(elsewhere)
    assert other.held()  # another process leads, and does nothing here
    stop = threading.Event()
    sweep = sweep_in_background(here, 0.05, stop)
    try:
        time.sleep(0.5)
        assert client.get(f"/orders/{order['id']}").get_json()["status"] == "placed"
        other.release()  # the lead dies: this one takes over
        wait_until_cancelled(client, order, "the lead was never taken over")
    finally:
        stop.set()
        sweep.join(10)
