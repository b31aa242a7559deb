"""POST /orders, /orders/<id>/ship and /orders/<id>/cancel through the Flask test client:
every rule and status, and what each changes."""

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.order_support import an_order, customer, order_events, place, place_order, priced_item
from tests.support import (
    BACON_ID,
    SHARED_FIXTURE,
    UNKNOWN_ID,
    assert_problem,
    events,
    last_payload,
    make_app,
    nothing_changes,
    query,
)


def test_placing_an_order_answers_201_with_the_order_its_location_and_etag(client):
    user = customer(client, first_name="Ada", last_name="Lovelace")
    item = priced_item(client, name="Eggs", price=4.25)
    response = place(client, user["id"], (item["id"], 2))
    assert response.status_code == 201
    order = response.get_json()
    assert order == {
        "id": order["id"],
        "status": "placed",
        "placed_at": order["placed_at"],
        "user": {"id": user["id"], "name": "Ada Lovelace", "email": user["email"]},
        "lines": [{"item_id": item["id"], "name": "Eggs", "quantity": 2, "unit_price": 4.25, "line_total": 8.5}],
        "total": 8.5,
    }
    assert response.headers["Location"] == f"/orders/{order['id']}"
    assert response.headers["ETag"] == '"1"'


def test_a_placed_order_can_be_read_back_at_once(client):
    order = an_order(client)
    assert client.get(f"/orders/{order['id']}").get_json() == order


def test_placing_records_one_order_placed_event_with_the_lines_prices_and_total(app, client):
    user, item = customer(client), priced_item(client, name="Dime", price=0.1)
    order = place_order(client, user["id"], (item["id"], 3))
    assert events(app)[-1][1:] == ("order", order["id"], 1, "OrderPlaced")
    assert json.loads(last_payload(app)) == {
        "user_id": user["id"],
        "placed_at": order["placed_at"],
        "lines": [
            {"item_id": item["id"], "name": "Dime", "quantity": 3, "unit_price_cents": 10, "line_total_cents": 30}
        ],
        "total_cents": 30,
    }


def test_three_times_ten_cents_is_exactly_thirty_cents(client):
    user, dime = customer(client), priced_item(client, price=0.1)
    response = place(client, user["id"], (dime["id"], 3))
    order = json.loads(response.get_data(), parse_float=Decimal)  # the numbers exactly as written
    assert (order["lines"][0]["line_total"], order["total"]) == (Decimal("0.3"), Decimal("0.3"))


def test_a_total_adds_up_cents_without_rounding_errors(client):
    user = customer(client)
    ten, twenty = priced_item(client, name="Ten", price=0.1), priced_item(client, name="Twenty", price=0.2)
    order = place_order(client, user["id"], (ten["id"], 1), (twenty["id"], 1))
    assert order["total"] == 0.3  # in binary floating point, 0.1 + 0.2 is 0.30000000000000004


def test_the_largest_order_keeps_exact_cents(client):
    user, item = customer(client), priced_item(client, price=999999.99)
    order = place_order(client, user["id"], (item["id"], 1000))
    assert order["total"] == 999999990
    assert order["lines"][0]["line_total"] == 999999990


def test_an_item_without_a_price_costs_nothing(client):
    user = customer(client)
    order = place_order(client, user["id"], (BACON_ID, 2))
    assert order["lines"] == [{"item_id": BACON_ID, "name": "Bacon", "quantity": 2, "unit_price": 0, "line_total": 0}]
    assert order["total"] == 0


def test_lines_of_one_item_are_merged_into_one_line_where_it_first_appears(client):
    user = customer(client)
    eggs, ham = priced_item(client, name="Eggs", price=1), priced_item(client, name="Ham", price=2)
    order = place_order(client, user["id"], (eggs["id"], 2), (ham["id"], 1), (eggs["id"].upper(), 3))
    assert [(line["name"], line["quantity"], line["line_total"]) for line in order["lines"]] == [
        ("Eggs", 5, 5),
        ("Ham", 1, 2),
    ]
    assert order["total"] == 7


def test_merged_lines_of_more_than_1000_of_one_item_answer_400_naming_the_line(app, client):
    user, item = customer(client), priced_item(client)
    with nothing_changes(app):
        response = place(client, user["id"], (item["id"], 999), (item["id"], 2))
    assert_problem(response, 400)
    assert list(response.get_json()["errors"]) == ["lines.1.quantity"]


def test_an_unknown_user_answers_422_naming_user_id_and_changes_nothing(app, client):
    item = priced_item(client)
    with nothing_changes(app):
        response = place(client, UNKNOWN_ID, (item["id"], 1))
    assert_problem(response, 422)
    assert response.get_json()["errors"] == {"user_id": ["No user with this id."]}


def test_an_unknown_item_answers_422_naming_each_of_its_lines_by_index(app, client):
    user, item = customer(client), priced_item(client)
    with nothing_changes(app):
        response = place(client, user["id"], (item["id"], 1), (UNKNOWN_ID, 1), (item["id"], 1), (UNKNOWN_ID, 2))
    assert_problem(response, 422)
    assert response.get_json()["errors"] == {
        "lines.1.item_id": ["No item with this id."],
        "lines.3.item_id": ["No item with this id."],
    }
    assert response.get_json()["title"] == "Unknown user or item"


def test_an_unknown_user_and_an_unknown_item_are_both_named(client):
    response = place(client, UNKNOWN_ID, (UNKNOWN_ID, 1))
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"user_id", "lines.0.item_id"}


def test_a_deleted_item_cannot_be_ordered(client):
    user, item = customer(client), priced_item(client)
    client.delete(f"/items/{item['id']}")
    response = place(client, user["id"], (item["id"], 1))
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["lines.0.item_id"]


def test_a_deleted_user_cannot_order(client):
    user, item = customer(client), priced_item(client)
    client.delete(f"/users/{user['id']}")
    assert place(client, user["id"], (item["id"], 1)).status_code == 422


def test_the_price_is_the_items_price_when_the_order_is_placed(client):
    user, item = customer(client), priced_item(client, name="Eggs", price=1)
    client.put(f"/items/{item['id']}", json={"name": "Eggs", "description": "", "price": 1.5})
    assert place_order(client, user["id"], (item["id"], 2))["total"] == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lines": [{"item_id": BACON_ID, "quantity": 1}]}, "user_id"),
        ({"user_id": UNKNOWN_ID}, "lines"),
        ({"user_id": UNKNOWN_ID, "lines": []}, "lines"),
        ({"user_id": UNKNOWN_ID, "lines": {"item_id": BACON_ID, "quantity": 1}}, "lines"),
        ({"user_id": "nobody", "lines": [{"item_id": BACON_ID, "quantity": 1}]}, "user_id"),
        ({"user_id": UNKNOWN_ID, "lines": [{"item_id": BACON_ID, "quantity": 0}]}, "lines.0.quantity"),
        ({"user_id": UNKNOWN_ID, "lines": [{"item_id": BACON_ID, "quantity": 1001}]}, "lines.0.quantity"),
        ({"user_id": UNKNOWN_ID, "lines": [{"item_id": BACON_ID, "quantity": 1.5}]}, "lines.0.quantity"),
        ({"user_id": UNKNOWN_ID, "lines": [{"item_id": BACON_ID, "quantity": "2"}]}, "lines.0.quantity"),
        ({"user_id": UNKNOWN_ID, "lines": [{"item_id": BACON_ID, "quantity": True}]}, "lines.0.quantity"),
        ({"user_id": UNKNOWN_ID, "lines": [{"quantity": 1}]}, "lines.0.item_id"),
        ({"user_id": UNKNOWN_ID, "lines": [{"item_id": "bacon", "quantity": 1}]}, "lines.0.item_id"),
        ({"user_id": UNKNOWN_ID, "lines": [{"item_id": BACON_ID, "quantity": 1, "price": 0}]}, "lines.0.price"),
        ({"user_id": UNKNOWN_ID, "lines": [{"item_id": BACON_ID, "quantity": 1}], "total": 0}, "total"),
        ({"user_id": UNKNOWN_ID, "lines": [{"item_id": BACON_ID, "quantity": 1}] * 101}, "lines"),
    ],
)
def test_invalid_fields_answer_400_naming_each_field_and_change_nothing(app, client, body, field):
    with nothing_changes(app):
        response = client.post("/orders", json=body)
    assert_problem(response, 400, field)


def test_a_bad_body_answers_400_before_unknown_ids_are_looked_up(client):
    response = client.post("/orders", json={"user_id": UNKNOWN_ID, "lines": [{"item_id": UNKNOWN_ID, "quantity": 0}]})
    assert response.status_code == 400


def test_a_retry_with_the_same_idempotency_key_places_one_order(app, client):
    user, item = customer(client), priced_item(client)
    first = place(client, user["id"], (item["id"], 1), **{"Idempotency-Key": "order-1"})
    again = place(client, user["id"], (item["id"], 1), **{"Idempotency-Key": "order-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert query(app, "SELECT count(*) FROM orders") == [(1,)]


# ---------------------------------------------------------------- ship and cancel


def test_shipping_a_placed_order_answers_200_with_the_shipped_order(client):
    order = an_order(client)
    response = client.post(f"/orders/{order['id']}/ship")
    assert response.status_code == 200
    shipped = response.get_json()
    assert shipped == {**order, "status": "shipped", "shipped_at": shipped["shipped_at"]}
    assert response.headers["ETag"] == '"2"'
    assert client.get(f"/orders/{order['id']}").get_json() == shipped


def test_shipping_records_order_shipped_at_the_next_version(app, client):
    order = an_order(client)
    client.post(f"/orders/{order['id']}/ship")
    assert order_events(app, order["id"]) == [(1, "OrderPlaced", None), (2, "OrderShipped", None)]


def test_cancelling_without_a_body_gives_the_customers_reason(client):
    order = an_order(client)
    response = client.post(f"/orders/{order['id']}/cancel")
    assert response.status_code == 200
    cancelled = response.get_json()
    assert cancelled == {
        **order,
        "status": "cancelled",
        "cancelled_at": cancelled["cancelled_at"],
        "cancellation_reason": "cancelled by customer",
    }
    assert response.headers["ETag"] == '"2"'
    assert client.get(f"/orders/{order['id']}").get_json() == cancelled


def test_cancelling_with_a_reason_records_it_trimmed(app, client):
    order = an_order(client)
    response = client.post(f"/orders/{order['id']}/cancel", json={"reason": " found it cheaper "})
    assert response.get_json()["cancellation_reason"] == "found it cheaper"
    assert json.loads(last_payload(app))["reason"] == "found it cheaper"
    assert order_events(app, order["id"])[-1] == (2, "OrderCancelled", None)


def test_cancelling_with_an_empty_object_gives_the_customers_reason(client):
    order = an_order(client)
    response = client.post(f"/orders/{order['id']}/cancel", json={})
    assert response.get_json()["cancellation_reason"] == "cancelled by customer"


@pytest.mark.parametrize("body", [{"reason": ""}, {"reason": "x" * 501}, {"reason": 7}, {"why": "x"}])
def test_an_invalid_cancellation_body_answers_400_and_changes_nothing(app, client, body):
    order = an_order(client)
    with nothing_changes(app):
        response = client.post(f"/orders/{order['id']}/cancel", json=body)
    assert_problem(response, 400)


@pytest.mark.parametrize(
    ("first", "then"), [("ship", "ship"), ("ship", "cancel"), ("cancel", "ship"), ("cancel", "cancel")]
)
def test_only_a_placed_order_can_be_shipped_or_cancelled_else_409(app, client, first, then):
    order = an_order(client)
    client.post(f"/orders/{order['id']}/{first}")
    with nothing_changes(app):
        response = client.post(f"/orders/{order['id']}/{then}")
    problem = assert_problem(response, 409)
    assert order["id"] in problem["detail"]
    assert problem["order_status"] == {"ship": "shipped", "cancel": "cancelled"}[first]


@pytest.mark.parametrize("action", ["ship", "cancel"])
def test_a_stale_if_match_answers_412_with_the_current_version_and_changes_nothing(app, client, action):
    order = an_order(client)
    client.post(f"/orders/{order['id']}/cancel")
    with nothing_changes(app):
        response = client.post(f"/orders/{order['id']}/{action}", headers={"If-Match": '"1"'})
    assert_problem(response, 412)
    assert response.get_json()["current_version"] == 2
    assert response.headers["ETag"] == '"2"'


@pytest.mark.parametrize("action", ["ship", "cancel"])
@pytest.mark.parametrize("tag", ['"1"', "*"])
def test_a_current_if_match_or_a_star_lets_the_transition_through(client, action, tag):
    order = an_order(client)
    response = client.post(f"/orders/{order['id']}/{action}", headers={"If-Match": tag})
    assert response.status_code == 200


def test_a_malformed_if_match_answers_400(client):
    order = an_order(client)
    assert client.post(f"/orders/{order['id']}/ship", headers={"If-Match": "1"}).status_code == 400


@pytest.mark.parametrize("action", ["ship", "cancel"])
def test_if_match_is_required_when_the_service_requires_it(tmp_path, action):
    app = make_app(tmp_path, REQUIRE_IF_MATCH=True)
    client = app.test_client()
    order = an_order(client)
    assert client.post(f"/orders/{order['id']}/{action}").status_code == 428
    assert client.post(f"/orders/{order['id']}/{action}", headers={"If-Match": '"1"'}).status_code == 200


# ---------------------------------------------------------------- snapshots


def test_renaming_or_repricing_an_item_does_not_change_placed_orders(client):
    user, item = customer(client), priced_item(client, name="Eggs", price=1)
    order = place_order(client, user["id"], (item["id"], 2))
    client.put(f"/items/{item['id']}", json={"name": "Duck eggs", "description": "", "price": 9})
    assert client.get(f"/orders/{order['id']}").get_json() == order


def test_deleting_an_item_does_not_change_placed_orders(client):
    user, item = customer(client), priced_item(client, name="Eggs", price=1)
    order = place_order(client, user["id"], (item["id"], 2))
    assert client.delete(f"/items/{item['id']}").status_code == 204
    assert client.get(f"/orders/{order['id']}").get_json() == order
    shipped = client.post(f"/orders/{order['id']}/ship").get_json()
    assert shipped["lines"] == order["lines"]


# ---------------------------------------------------------------- hostile input

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from([UNKNOWN_ID, BACON_ID, "' OR 1=1 --", "\x00", "1e999"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["item_id", "quantity", "reason", "x"]), inner, max_size=3)
    ),
    max_leaves=8,
)
bodies = st.dictionaries(st.sampled_from(["user_id", "lines", "reason", "total"]), values, max_size=4) | values


@settings(max_examples=120, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(path=st.sampled_from(["/orders", f"/orders/{UNKNOWN_ID}/cancel", f"/orders/{UNKNOWN_ID}/ship"]), body=bodies)
def test_any_json_body_gets_an_answer_below_500(client, path, body):
    response = client.post(path, data=json.dumps(body), content_type="application/json")
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"
