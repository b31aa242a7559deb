"""Log-Position on every command's and every query's answer, and reads that wait until the
read model has reached the position a client needs (Min-Log-Position)."""

import threading

import pytest

from tests.order_support import customer, place_order, priced_item
from tests.support import BACON_ID, UNKNOWN_ID, assert_problem, create_item, make_app, nothing_changes, query

EGGS = {"name": "Eggs", "description": "A dozen"}


def head(app) -> int:
    return query(app, "SELECT max(position) FROM events")[0][0]


def position(response) -> int:
    return int(response.headers["Log-Position"])


def test_each_command_answer_tells_the_position_of_its_event(app, client):
    created = client.post("/items", json=EGGS)
    assert position(created) == head(app)
    changed = client.put(f"/items/{created.get_json()['id']}", json={**EGGS, "description": "Six"})
    assert position(changed) == head(app) == position(created) + 1
    deleted = client.delete(f"/items/{created.get_json()['id']}")
    assert (deleted.status_code, position(deleted)) == (204, head(app))


def test_a_refused_command_tells_no_position(client):
    assert "Log-Position" not in client.post("/items", json={"name": ""}).headers
    assert "Log-Position" not in client.delete(f"/items/{UNKNOWN_ID}").headers


def test_an_answer_replayed_for_an_idempotency_key_tells_the_position_told_first(client):
    first = client.post("/items", json=EGGS, headers={"Idempotency-Key": "eggs-1"})
    client.post("/items", json={**EGGS, "name": "Ham"})
    again = client.post("/items", json=EGGS, headers={"Idempotency-Key": "eggs-1"})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert position(again) == position(first)


def test_the_position_is_the_commands_own_not_that_of_the_reactions_it_set_off(app, client):
    user, item = customer(client), priced_item(client)
    place_order(client, user["id"], (item["id"], 1))
    deleted = client.delete(f"/users/{user['id']}")
    deleted_at = query(app, "SELECT position FROM events WHERE type = 'UserDeleted'")[0][0]
    assert position(deleted) == deleted_at < head(app)  # the order's cancellation came after it


def test_every_query_answer_tells_the_position_its_read_model_reflects(app, client):
    create_item(client, name="Eggs")
    for url in ("/items", f"/items/{BACON_ID}", f"/items/{UNKNOWN_ID}", f"/items/{BACON_ID}/history", "/events"):
        assert position(client.get(url)) == head(app), url


def test_a_read_of_a_position_reached_answers_at_once(app, client):
    created = client.post("/items", json=EGGS)
    read = client.get(f"/items/{created.get_json()['id']}", headers={"Min-Log-Position": str(position(created))})
    assert read.status_code == 200
    assert position(read) >= position(created)


def test_a_read_waits_for_a_position_the_log_reaches_while_it_waits(tmp_path):
    writer = make_app(tmp_path, APP_ROLE="command").test_client()
    reader = make_app(tmp_path, APP_ROLE="query", READ_WAIT_MS=30_000).test_client()
    needed = position(reader.get("/items")) + 1
    answers = []
    waiting = threading.Thread(target=lambda: answers.append(reader.get("/items", headers={"Min-Log-Position": str(needed)})))
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive()  # nothing has reached that position yet
    created = writer.post("/items", json=EGGS)
    waiting.join(30)
    (read,) = answers
    assert (read.status_code, position(created)) == (200, needed)
    assert created.get_json()["id"] in [item["id"] for item in read.get_json()]


def test_a_position_not_reached_within_the_bound_is_a_503_to_retry(tmp_path):
    client = make_app(tmp_path, READ_WAIT_MS=50).test_client()
    reached = position(client.get("/items"))
    answer = client.get(f"/items/{BACON_ID}", headers={"Min-Log-Position": str(reached + 5)})
    problem = assert_problem(answer, 503)
    assert answer.headers["Retry-After"] == "1"
    assert (position(answer), problem["position"], problem["min_position"]) == (reached, reached, reached + 5)


@pytest.mark.parametrize("sent", ["x", "-1", "1.5", "", "١٢", "9" * 30])
def test_a_min_position_that_is_not_a_position_is_a_400_that_changes_nothing(app, client, sent):
    with nothing_changes(app):
        problem = assert_problem(client.get("/items", headers={"Min-Log-Position": sent}), 400)
    assert "Min-Log-Position" in problem["detail"]
