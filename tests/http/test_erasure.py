"""Forgetting a person (issue 24): deleting or erasing a user, or erasing an employee, destroys
their key; from then on every place that showed their data shows the placeholders, a rebuild
agrees, orders keep their lines and totals, and erasing again changes nothing."""

import json

from app.eventlog import ERASED
from tests.order_support import place_order
from tests.support import (
    UNKNOWN_ID,
    create_employee,
    create_item,
    create_user,
    events,
    query,
    read_model,
)

ERASED_USER = {"first_name": ERASED, "last_name": ERASED, "email": ERASED}
ERASED_EMPLOYEE = {
    "first_name": ERASED,
    "last_name": ERASED,
    "address": {"street": ERASED, "zip": ERASED, "city": ERASED},
}


def history(client, path: str) -> list[dict]:
    response = client.get(f"{path}/history")
    assert response.status_code == 200
    return response.get_json()


def feed_text(client) -> str:
    return client.get("/events", query_string={"limit": 1000}).get_data(as_text=True)


def test_a_deleted_users_history_as_of_and_feed_show_placeholders(client):
    user = create_user(client, email="deleted.person@example.com")
    client.put(f"/users/{user['id']}", json={"first_name": "Ada", "last_name": "K", "email": "k@x.io"})
    assert client.delete(f"/users/{user['id']}").status_code == 204
    saved = [event for event in history(client, f"/users/{user['id']}") if event["type"] != "UserDeleted"]
    assert [event["data"] for event in saved] == [ERASED_USER, ERASED_USER]
    assert "deleted.person@example.com" not in feed_text(client)
    assert "k@x.io" not in feed_text(client)
    at = client.get(f"/users/{user['id']}", query_string={"as_of": events(client.application)[-2][0]})
    assert at.get_json() == {"id": user["id"], **ERASED_USER}


def test_erasing_a_user_deletes_them_and_records_user_deleted_then_user_erased(client):
    user = create_user(client)
    response = client.post(f"/users/{user['id']}/erase")
    assert response.status_code == 204
    assert client.get(f"/users/{user['id']}").status_code == 404
    assert [e[3:] for e in events(client.application)[-2:]] == [(2, "UserDeleted"), (3, "UserErased")]
    assert response.headers["Log-Position"] == str(events(client.application)[-1][0])


def test_erasing_twice_answers_the_same_and_records_nothing_more(client):
    user = create_user(client)
    client.post(f"/users/{user['id']}/erase")
    before = (events(client.application), read_model(client.application))
    again = client.post(f"/users/{user['id']}/erase")
    assert again.status_code == 204 and again.get_data() == b""
    assert (events(client.application), read_model(client.application)) == before


def test_erasing_a_deleted_user_records_only_user_erased(client):
    user = create_user(client)
    client.delete(f"/users/{user['id']}")
    assert client.post(f"/users/{user['id']}/erase").status_code == 204
    assert [e[4] for e in events(client.application)[-2:]] == ["UserDeleted", "UserErased"]


def test_erasing_an_unknown_user_or_employee_answers_404(client):
    assert client.post(f"/users/{UNKNOWN_ID}/erase").status_code == 404
    assert client.post(f"/employees/{UNKNOWN_ID}/erase").status_code == 404


def test_erasing_an_employee_removes_them_and_erases_their_names_and_address(client):
    employee = create_employee(client, city="Erasedtown")
    assert client.post(f"/employees/{employee['id']}/erase").status_code == 204
    assert client.get(f"/employees/{employee['id']}").status_code == 404
    assert employee["id"] not in {row["id"] for row in client.get("/employees").get_json()}
    hired = history(client, f"/employees/{employee['id']}")[0]
    assert hired["data"] == ERASED_EMPLOYEE
    assert "Erasedtown" not in feed_text(client)
    assert [e[4] for e in events(client.application)[-2:]] == ["EmployeeLeft", "EmployeeErased"]


def test_an_erased_users_orders_keep_their_lines_totals_and_status_without_the_person(client):
    user = create_user(client, email="buyer@example.com")
    item = create_item(client, price=2.5)
    order = place_order(client, user["id"], (item["id"], 2))
    client.post(f"/users/{user['id']}/erase")
    now = client.get(f"/orders/{order['id']}").get_json()
    assert now["user"] == {"id": user["id"], "name": None, "email": None}
    assert (now["lines"], now["total"], now["status"]) == (order["lines"], 5.0, "cancelled")  # the user went
    assert "buyer@example.com" not in json.dumps(read_model(client.application), default=str)


def test_a_rebuild_after_erasures_equals_the_live_read_model(client):
    user, employee = create_user(client), create_employee(client)
    place_order(client, user["id"], (create_item(client)["id"], 1))
    client.post(f"/users/{user['id']}/erase")
    client.post(f"/employees/{employee['id']}/erase")
    client.delete(f"/users/{create_user(client, email='other@example.com')['id']}")
    live = read_model(client.application)
    with client.application.app_context():
        client.application.extensions["projector"].rebuild()
    assert read_model(client.application) == live


def test_erasing_deletes_the_stored_responses_that_carry_the_persons_data(client):
    user = create_user(client)
    item = create_item(client)
    kept = client.post("/items", json={"name": "Kept", "description": ""}, headers={"Idempotency-Key": "item-1"})
    client.put(
        f"/users/{user['id']}",
        json={"first_name": "B", "last_name": "C", "email": "b@x.io"},
        headers={"Idempotency-Key": "put-1"},
    )
    client.post(
        "/orders",
        json={"user_id": user["id"], "lines": [{"item_id": item["id"], "quantity": 1}]},
        headers={"Idempotency-Key": "order-1"},
    )
    assert kept.status_code == 201
    assert {key for (key,) in query(client.application, "SELECT key FROM idempotency_keys")} == {
        "item-1",
        "put-1",
        "order-1",
    }
    client.post(f"/users/{user['id']}/erase")
    assert query(client.application, "SELECT key FROM idempotency_keys") == [("item-1",)]


def test_an_erased_streams_key_is_gone_and_the_erasure_on_record(client):
    user = create_user(client)
    client.post(f"/users/{user['id']}/erase")
    ((key, erased_at),) = query(
        client.application, "SELECT key, erased_at FROM personal_data_keys WHERE stream_id = ?", user["id"]
    )
    assert key is None and erased_at
