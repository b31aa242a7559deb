"""Idempotency-Key: a retried command gets the first response and runs no second time."""

import time

import pytest

from tests.support import BACON_ID, assert_problem, events, make_app, nothing_changes, query

EGGS = {"name": "Eggs", "description": "A dozen"}


def post(client, body=EGGS, key="key-1", path="/items"):
    return client.post(path, json=body, headers={"Idempotency-Key": key})


def test_a_retried_post_gets_the_same_item_and_appends_nothing(app, client):
    first = post(client)
    log = events(app)
    again = post(client)
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert events(app) == log


def test_the_same_key_on_another_body_path_or_method_answers_422(app, client):
    post(client)
    with nothing_changes(app):
        for response in (
            post(client, body={**EGGS, "name": "Ham"}),
            post(client, path="/users", body={"first_name": "A", "last_name": "B", "email": "a@example.com"}),
            client.put(f"/items/{BACON_ID}", json=EGGS, headers={"Idempotency-Key": "key-1"}),
        ):
            assert_problem(response, 422)


def test_different_keys_run_the_command_each_time(client):
    assert post(client, key="a").get_json()["id"] != post(client, key="b").get_json()["id"]


def test_a_replayed_delete_answers_204_again_instead_of_404(client):
    item = post(client, key="create").get_json()
    headers = {"Idempotency-Key": "delete-it"}
    assert client.delete(f"/items/{item['id']}", headers=headers).status_code == 204
    replay = client.delete(f"/items/{item['id']}", headers=headers)
    assert replay.status_code == 204
    assert replay.headers["Idempotent-Replayed"] == "true"


def test_a_replayed_delete_has_no_content_type_like_the_first_answer(client):
    item = post(client, key="create").get_json()
    headers = {"Idempotency-Key": "delete-it"}
    first = client.delete(f"/items/{item['id']}", headers=headers)
    replay = client.delete(f"/items/{item['id']}", headers=headers)
    assert "Content-Type" not in first.headers
    assert "Content-Type" not in replay.headers


def test_a_failed_command_is_not_remembered_so_a_corrected_retry_runs(app, client):
    assert post(client, body={"name": ""}).status_code == 400
    assert query(app, "SELECT count(*) FROM idempotency_keys") == [(0,)]
    assert post(client, body={"name": "Eggs", "description": ""}).status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\there", "ünïcode"])
def test_a_malformed_key_answers_400_and_changes_nothing(app, client, key):
    with nothing_changes(app):
        response = client.post("/items", json=EGGS, headers={"Idempotency-Key": key})
    assert_problem(response, 400)


def test_the_key_is_stored_in_the_same_transaction_as_the_command(app, client, monkeypatch):
    from app import idempotency

    def crash(*args, **kwargs):
        raise RuntimeError("crash while storing the key")

    monkeypatch.setattr(idempotency, "remember", crash)
    before = events(app)
    assert post(client).status_code == 500
    assert events(app) == before  # the command rolled back with the key


def test_an_expired_key_runs_the_command_again_and_is_purged_by_later_commands(tmp_path):
    app = make_app(tmp_path, IDEMPOTENCY_TTL_SECONDS=1)
    client = app.test_client()
    first = post(client, key="old")
    time.sleep(1.1)
    assert post(client, key="old").get_json()["id"] != first.get_json()["id"]
    time.sleep(1.1)
    post(client, key="new")
    assert query(app, "SELECT key FROM idempotency_keys") == [("new",)]
