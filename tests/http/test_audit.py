"""The event feed, stream histories and reads as of a past moment."""

import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.support import BACON_ID, JOHN_DOE_ID, UNKNOWN_ID, all_pages, create_employee, create_item, query


def test_the_feed_lists_the_log_in_position_order_with_decoded_data(client):
    item = create_item(client, name="Eggs")
    feed = client.get("/events").get_json()
    assert [e["position"] for e in feed] == sorted(e["position"] for e in feed)
    last = feed[-1]
    assert (last["stream_type"], last["stream_id"], last["version"], last["type"]) == (
        "item",
        item["id"],
        1,
        "ItemCreated",
    )
    assert last["data"] == {"name": "Eggs", "description": "A dozen", "price_cents": None}
    assert set(last) >= {"event_id", "occurred_at", "correlation_id", "causation_id", "schema_version"}


def test_the_feed_serves_events_as_stored_and_histories_as_todays_classes_read_them(client):
    """The seed's employee was hired by version 1 of EmployeeHired (its address flat): the feed
    keeps serving that, a history serves the event upcast, and the two agree on everything else."""
    (stored,) = [e for e in client.get("/events?stream_type=employee").get_json() if e["stream_id"] == JOHN_DOE_ID]
    (current,) = client.get(f"/employees/{JOHN_DOE_ID}/history").get_json()
    assert (stored["schema_version"], current["schema_version"]) == (1, 2)
    assert stored["data"] == {
        "first_name": "John",
        "last_name": "Doe",
        "street": "1234 Main Street",
        "zip": "02112",
        "city": "Boston",
    }
    address = {"street": "1234 Main Street", "zip": "02112", "city": "Boston"}
    assert current["data"] == {"first_name": "John", "last_name": "Doe", "address": address}
    assert {**stored, "data": None, "schema_version": None} == {**current, "data": None, "schema_version": None}


def test_the_feed_continues_after_a_position_through_its_link(client):
    for n in range(5):
        create_item(client, name=f"Item {n}")
    seen, _ = all_pages(client, "/events?limit=2")
    assert [e["position"] for e in seen] == [
        p for (p,) in query(client.application, "SELECT position FROM events ORDER BY position")
    ]
    middle = seen[2]["position"]
    assert client.get(f"/events?after={middle}").get_json()[0]["position"] == seen[3]["position"]


def test_the_feed_filters_by_stream_type_and_event_type(client):
    create_item(client)
    assert {e["stream_type"] for e in client.get("/events?stream_type=employee").get_json()} == {"employee"}
    assert {e["type"] for e in client.get("/events?type=ItemCreated").get_json()} == {"ItemCreated"}


@pytest.mark.parametrize("after", ["-1", "x", "1.5", "9223372036854775808"])
def test_a_bad_after_answers_400(client, after):
    assert client.get(f"/events?after={after}").status_code == 400


def test_a_history_lists_the_stream_oldest_first(client):
    client.put(f"/items/{BACON_ID}", json={"name": "Bacon", "description": "Crispy"})
    client.delete(f"/items/{BACON_ID}")
    history = client.get(f"/items/{BACON_ID}/history").get_json()
    assert [(e["version"], e["type"]) for e in history] == [(1, "ItemCreated"), (2, "ItemUpdated"), (3, "ItemDeleted")]
    assert client.get(f"/employees/{JOHN_DOE_ID}/history").get_json()[0]["type"] == "EmployeeHired"


def test_as_of_a_position_gives_the_state_then(client):
    item = create_item(client, name="First")
    (first,) = query(client.application, "SELECT max(position) FROM events")[0]
    client.put(f"/items/{item['id']}", json={"name": "Second", "description": ""})
    then = client.get(f"/items/{item['id']}?as_of={first}")
    assert then.status_code == 200
    assert then.get_json()["name"] == "First"
    assert then.headers["ETag"] == '"1"'
    assert client.get(f"/items/{item['id']}?as_of={first - 1}").status_code == 404  # not yet created


def test_as_of_a_time_gives_the_state_then(client):
    # An employee: deleting a user erases them, so their past states read as placeholders.
    employee = create_employee(client)
    time.sleep(0.01)
    moment = datetime.now(timezone(timedelta(hours=2))).isoformat()  # any zone; +02:00 here
    time.sleep(0.01)
    client.delete(f"/employees/{employee['id']}")
    assert client.get(f"/employees/{employee['id']}", query_string={"as_of": moment}).get_json() == employee
    assert client.get(f"/employees/{employee['id']}").status_code == 404


def test_as_of_now_equals_the_live_read(client):
    now = "2999-01-01T00:00:00Z"
    hired = create_employee(client)  # by today's EmployeeHired; the seed's John by its version 1
    for url in (f"/items/{BACON_ID}", f"/employees/{JOHN_DOE_ID}", f"/employees/{hired['id']}"):
        assert client.get(f"{url}?as_of={now}").get_json() == client.get(url).get_json()


@pytest.mark.parametrize("as_of", ["yesterday", "2024-01-01", "2024-01-01T00:00:00", "-5", "30313804036992323584"])
def test_an_as_of_that_is_neither_a_position_nor_a_zoned_time_answers_400(client, as_of):
    response = client.get(f"/items/{BACON_ID}?as_of={as_of}")
    assert response.status_code == 400
    assert "as_of" in response.get_json()["errors"]


# The unknown user: the time is refused before anyone is looked up.
@pytest.mark.parametrize("as_of", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
@pytest.mark.parametrize("path", [f"/items/{BACON_ID}", f"/employees/{JOHN_DOE_ID}", f"/users/{UNKNOWN_ID}"])
def test_an_as_of_outside_the_years_utc_can_hold_answers_400(client, path, as_of):
    response = client.get(path, query_string={"as_of": as_of})
    assert response.status_code == 400
    assert "as_of" in response.get_json()["errors"]
