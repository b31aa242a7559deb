"""GET /events?wait=: the long poll of the event feed, on either engine.

A waiting request runs in a thread of its own; the test commits from the main thread once
the request is known to wait. A wait that missed the commit would answer ``[]`` when its
time is up, so a page with the event shows it woke for it.
"""

import threading
import time

import pytest

from app import create_app, feed
from app.db import dispose
from tests.postgres_replica import database_name, postgres_cluster  # noqa: F401 (a fixture)
from tests.support import assert_problem, create_employee, create_item, make_app, query

WAIT = 30  # long enough that an answer with events cannot be the wait ending


def with_feed(app):
    if "feed" not in app.extensions:  # until the app factory calls it
        feed.init_app(app)
    return app


@pytest.fixture
def app(app):
    yield with_feed(app)
    app.extensions["feed"].close()


def last_position(app) -> int:
    return query(app, "SELECT max(position) FROM events")[0][0]


class Waiting:
    """A GET in a thread of its own; ``result()`` is its response."""

    def __init__(self, client, url: str):
        self.response = None
        self.thread = threading.Thread(target=self._get, args=(client, url), daemon=True)
        self.thread.start()

    def _get(self, client, url: str):
        self.response = client.get(url)

    def result(self, seconds: float = WAIT + 10):
        self.thread.join(seconds)
        assert self.response is not None, "the request did not answer"
        return self.response


def until(condition, seconds: float = 10) -> None:
    """Go on once ``condition()`` holds (a synchronisation, not a measure)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


def waiting_requests(app, n: int = 1):
    waiter = app.extensions["feed"]
    until(lambda: waiter.waiting == n)


def test_a_wait_answers_at_once_when_events_exist(app, client):
    item = create_item(client)
    response = Waiting(client, f"/events?after={last_position(app) - 1}&wait={WAIT}").result(seconds=WAIT / 2)
    assert response.status_code == 200
    assert [e["stream_id"] for e in response.get_json()] == [item["id"]]


def test_a_waiting_request_answers_with_the_event_a_command_commits_meanwhile(app, client):
    waiting = Waiting(client, f"/events?after={last_position(app)}&wait={WAIT}")
    waiting_requests(app)
    item = create_item(client, name="Late eggs")
    events = waiting.result().get_json()
    assert [(e["type"], e["stream_id"], e["data"]["name"]) for e in events] == [
        ("ItemCreated", item["id"], "Late eggs")
    ]


def test_a_wait_with_nothing_committed_ends_with_an_empty_page(app, client):
    response = client.get(f"/events?after={last_position(app)}&wait=1")
    assert response.status_code == 200
    assert response.get_json() == []
    assert "Link" not in response.headers


@pytest.mark.parametrize("wait", ["31", "-1", "1.5", "x", " 5"])
def test_a_wait_that_is_not_seconds_up_to_the_maximum_answers_400(client, wait):
    problem = assert_problem(client.get(f"/events?wait={wait}"), 400, "wait")
    assert problem["errors"]["wait"] == ["Must be seconds: a whole number from 0 to 30."]


def test_the_longest_wait_follows_the_setting(tmp_path):
    client = with_feed(make_app(tmp_path, FEED_MAX_WAIT_SECONDS=5)).test_client()
    assert_problem(client.get("/events?wait=6"), 400, "wait")
    assert client.get("/events?wait=5").status_code == 200  # events exist: no wait


def test_a_filtered_wait_answers_only_once_matching_events_are_committed(app, client):
    after = last_position(app)
    waiting = Waiting(client, f"/events?after={after}&stream_type=employee&wait={WAIT}")
    waiting_requests(app)
    create_item(client)  # wakes the wait, which reads again and goes on waiting
    employee = create_employee(client)
    events = waiting.result().get_json()
    assert {(e["stream_type"], e["stream_id"]) for e in events} == {("employee", employee["id"])}


@pytest.mark.postgresql
def test_a_wait_wakes_for_a_commit_of_another_process(app, client, tmp_path):
    """Another app on the same database stands for another process: only NOTIFY tells this one."""
    waiter = app.extensions["feed"]
    waiting = Waiting(client, f"/events?after={last_position(app)}&wait={WAIT}")
    until(lambda: waiter.listening)
    waiting_requests(app)
    hints = waiter.hints
    other = with_feed(make_app(tmp_path))  # the same directory: the same database
    item = create_item(other.test_client(), name="From elsewhere")
    assert [e["stream_id"] for e in waiting.result().get_json()] == [item["id"]]
    assert waiter.hints > hints  # the listener heard the commit


@pytest.mark.postgresql
def test_a_wait_polls_where_it_cannot_listen(app, client, tmp_path):
    """As on a standby, which refuses LISTEN during recovery: here the listener cannot connect at all."""
    waiter = app.extensions["feed"]
    waiter.url += "_missing"  # a database that does not exist
    waiting = Waiting(client, f"/events?after={last_position(app)}&wait={WAIT}")
    waiting_requests(app)
    item = create_item(make_app(tmp_path).test_client())  # no hint reaches this process
    assert [e["stream_id"] for e in waiting.result().get_json()] == [item["id"]]
    assert not waiter.listening


@pytest.mark.postgresql
def test_a_wait_on_a_standby_polls_and_answers_with_the_primary_s_commit(postgres_cluster, request, tmp_path):  # noqa: F811
    """A standby refuses LISTEN during recovery; the commit reaches it by replication only."""
    name = database_name(request.node.nodeid)
    postgres_cluster.create_database(name)
    primary = make_app(tmp_path, DATABASE_URL=postgres_cluster.primary_url(name))
    postgres_cluster.wait_replayed()
    standby = with_feed(
        create_app({"APP_ROLE": "query", "DATABASE_URL": "", "QUERY_DATABASE_URL": postgres_cluster.replica_url(name)})
    )
    try:
        waiter = standby.extensions["feed"]
        waiting = Waiting(standby.test_client(), f"/events?after={last_position(primary)}&wait={WAIT}")
        waiting_requests(standby)
        item = create_item(primary.test_client())
        assert [e["stream_id"] for e in waiting.result().get_json()] == [item["id"]]
        assert not waiter.listening
    finally:
        waiter.close()
        for app in (primary, standby):
            with app.app_context():
                dispose()
        postgres_cluster.drop_database(name)
