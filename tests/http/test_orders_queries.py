"""GET /orders/<id>, GET /orders (?status=) and GET /users/<id>/orders through the Flask test client."""

import json

import pytest

from app.db import transaction

from tests.order_support import an_order, customer, place_order, priced_item
from tests.support import all_pages, assert_problem


@pytest.fixture
def shop(client):
    """A user and an item worth 2.50, to place orders with."""
    return customer(client), priced_item(client, name="Eggs", price=2.5)


def orders_of(client, user: dict, item: dict, count: int) -> list[dict]:
    return [place_order(client, user["id"], (item["id"], n + 1)) for n in range(count)]


# ---------------------------------------------------------------- GET /orders/<id>


def test_an_order_is_readable_by_id_with_its_version_as_etag(client):
    order = an_order(client)
    response = client.get(f"/orders/{order['id']}")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == order
    assert response.headers["ETag"] == '"1"'


def test_the_etag_follows_the_orders_own_version(client):
    order = an_order(client)
    client.post(f"/orders/{order['id']}/ship")
    assert client.get(f"/orders/{order['id']}").headers["ETag"] == '"2"'


def test_a_read_with_the_etag_it_answered_in_if_none_match_answers_304(client):
    order = an_order(client)
    tag = client.get(f"/orders/{order['id']}").headers["ETag"]
    response = client.get(f"/orders/{order['id']}", headers={"If-None-Match": tag})
    assert response.status_code == 304
    assert response.headers["ETag"] == tag


RENAMED = {"first_name": "Augusta Ada", "last_name": "King", "email": "ada@king.org"}


def test_a_rename_of_the_orders_user_changes_its_etag_and_the_old_one_gets_the_new_document(client, shop):
    user, item = shop
    order = place_order(client, user["id"], (item["id"], 1))
    before = client.get(f"/orders/{order['id']}").headers["ETag"]
    assert client.put(f"/users/{user['id']}", json=RENAMED).status_code == 200
    response = client.get(f"/orders/{order['id']}", headers={"If-None-Match": before})
    assert response.status_code == 200
    assert response.headers["ETag"] != before
    assert response.get_json()["user"]["name"] == "Augusta Ada King"


def test_a_user_update_that_changes_nothing_the_order_shows_keeps_its_etag(client, shop):
    user, item = shop
    order = place_order(client, user["id"], (item["id"], 1))
    client.put(f"/users/{user['id']}", json={"first_name": "Ada", "last_name": "Lovelace King", "email": user["email"]})
    before = client.get(f"/orders/{order['id']}").headers["ETag"]
    # Shown as "Ada Lovelace King" too.
    client.put(f"/users/{user['id']}", json={"first_name": "Ada Lovelace", "last_name": "King", "email": user["email"]})
    assert client.get(f"/orders/{order['id']}", headers={"If-None-Match": before}).status_code == 304


def test_ship_takes_as_if_match_the_etag_a_read_answered_after_a_change_of_its_user(client, shop):
    user, item = shop
    order = place_order(client, user["id"], (item["id"], 1))
    client.put(f"/users/{user['id']}", json=RENAMED)
    tag = client.get(f"/orders/{order['id']}").headers["ETag"]
    assert client.post(f"/orders/{order['id']}/ship", headers={"If-Match": tag}).status_code == 200


def test_an_order_kept_before_its_users_changes_were_counted_answers_a_tag_no_earlier_read_had(app, client):
    order = an_order(client)
    # As a database from before: the document may show a user renamed since its "1" was sent.
    with app.app_context(), transaction("projector") as tx:
        state = json.loads(tx.scalar("SELECT state FROM order_details_view WHERE id = :id", id=order["id"]))
        del state["user_changes"]
        tx.execute("UPDATE order_details_view SET state = :s WHERE id = :id", s=json.dumps(state), id=order["id"])
    response = client.get(f"/orders/{order['id']}", headers={"If-None-Match": '"1"'})
    assert response.status_code == 200
    assert client.get(f"/orders/{order['id']}", headers={"If-None-Match": response.headers["ETag"]}).status_code == 304


def test_order_views_follow_a_users_rename_and_new_email(client, shop):
    user, item = shop
    first, second = orders_of(client, user, item, 2)
    body = {"first_name": "Augusta Ada", "last_name": "King", "email": "ada@king.org"}
    assert client.put(f"/users/{user['id']}", json=body).status_code == 200
    for order in (first, second):
        shown = client.get(f"/orders/{order['id']}").get_json()
        assert shown == {**order, "user": {"id": user["id"], "name": "Augusta Ada King", "email": "ada@king.org"}}


def test_another_users_rename_leaves_an_order_as_it_was(client, shop):
    user, item = shop
    order = place_order(client, user["id"], (item["id"], 1))
    other = customer(client, 1, first_name="Bob")
    client.put(f"/users/{other['id']}", json={"first_name": "Robert", "last_name": "Byron", "email": "rb@example.com"})
    assert client.get(f"/orders/{order['id']}").get_json() == order


def test_a_cancellation_after_a_rename_shows_the_new_name(client, shop):
    user, item = shop
    order = place_order(client, user["id"], (item["id"], 1))
    client.put(f"/users/{user['id']}", json={"first_name": "Ada", "last_name": "King", "email": user["email"]})
    cancelled = client.post(f"/orders/{order['id']}/cancel").get_json()
    assert cancelled["user"]["name"] == "Ada King"
    assert client.get(f"/orders/{order['id']}").get_json() == cancelled


# ---------------------------------------------------------------- GET /users/<id>/orders


def test_a_users_history_lists_their_orders_newest_first(client, shop):
    user, item = shop
    placed = orders_of(client, user, item, 3)
    history = client.get(f"/users/{user['id']}/orders").get_json()
    assert history == [
        {"id": o["id"], "status": "placed", "placed_at": o["placed_at"], "item_count": n + 1, "total": 2.5 * (n + 1)}
        for n, o in reversed(list(enumerate(placed)))
    ]


def test_a_history_shows_only_that_users_orders(client, shop):
    user, item = shop
    mine = place_order(client, user["id"], (item["id"], 1))
    other = customer(client, 1)
    place_order(client, other["id"], (item["id"], 1))
    assert [o["id"] for o in client.get(f"/users/{user['id']}/orders").get_json()] == [mine["id"]]


def test_the_item_count_adds_up_the_quantities(client, shop):
    user, item = shop
    ham = priced_item(client, name="Ham", price=1)
    place_order(client, user["id"], (item["id"], 2), (ham["id"], 3))
    (row,) = client.get(f"/users/{user['id']}/orders").get_json()
    assert (row["item_count"], row["total"]) == (5, 8)


def test_a_history_shows_each_orders_current_status(client, shop):
    user, item = shop
    shipped, cancelled, placed = orders_of(client, user, item, 3)
    client.post(f"/orders/{shipped['id']}/ship")
    client.post(f"/orders/{cancelled['id']}/cancel")
    statuses = {o["id"]: o["status"] for o in client.get(f"/users/{user['id']}/orders").get_json()}
    assert statuses == {shipped["id"]: "shipped", cancelled["id"]: "cancelled", placed["id"]: "placed"}


def test_a_deleted_users_history_answers_404(client, shop):
    user, item = shop
    place_order(client, user["id"], (item["id"], 1))
    client.delete(f"/users/{user['id']}")
    assert client.get(f"/users/{user['id']}/orders").status_code == 404


def test_history_pages_follow_the_link_header_through_every_order_exactly_once(client, shop):
    user, item = shop
    placed = orders_of(client, user, item, 7)
    seen, pages = all_pages(client, f"/users/{user['id']}/orders?limit=3")
    assert pages == 3
    assert [o["id"] for o in seen] == [o["id"] for o in reversed(placed)]


# ---------------------------------------------------------------- GET /orders


def test_all_orders_are_listed_newest_first_with_their_user(client, shop):
    user, item = shop
    other = customer(client, 1)
    first = place_order(client, user["id"], (item["id"], 1))
    second = place_order(client, other["id"], (item["id"], 2))
    assert client.get("/orders").get_json() == [
        {
            "id": second["id"],
            "user_id": other["id"],
            "status": "placed",
            "placed_at": second["placed_at"],
            "item_count": 2,
            "total": 5,
        },
        {
            "id": first["id"],
            "user_id": user["id"],
            "status": "placed",
            "placed_at": first["placed_at"],
            "item_count": 1,
            "total": 2.5,
        },
    ]


@pytest.mark.parametrize("status", ["placed", "shipped", "cancelled"])
def test_the_status_filter_keeps_the_orders_in_that_status_newest_first(client, shop, status):
    user, item = shop
    orders = orders_of(client, user, item, 6)
    for order in orders[0::3]:
        client.post(f"/orders/{order['id']}/ship")
    for order in orders[1::3]:
        client.post(f"/orders/{order['id']}/cancel")
    expected = {"shipped": orders[0::3], "cancelled": orders[1::3], "placed": orders[2::3]}[status]
    listed = client.get(f"/orders?status={status}").get_json()
    assert [o["id"] for o in listed] == [o["id"] for o in reversed(expected)]
    assert {o["status"] for o in listed} == {status}


def test_order_pages_follow_the_link_header_and_keep_the_status_filter(client, shop):
    user, item = shop
    orders = orders_of(client, user, item, 5)
    client.post(f"/orders/{orders[2]['id']}/ship")
    seen, pages = all_pages(client, "/orders?status=placed&limit=2")
    assert pages == 2
    assert [o["id"] for o in seen] == [o["id"] for o in reversed(orders) if o["id"] != orders[2]["id"]]


def test_all_orders_page_through_exactly_once(client, shop):
    user, item = shop
    orders = orders_of(client, user, item, 5)
    seen, pages = all_pages(client, "/orders?limit=2")
    assert pages == 3
    assert [o["id"] for o in seen] == [o["id"] for o in reversed(orders)]


@pytest.mark.parametrize("status", ["", "Placed", "lost", "placed,shipped"])
def test_an_unknown_status_answers_400_naming_it(client, status):
    assert list(assert_problem(client.get("/orders", query_string={"status": status}), 400)["errors"]) == ["status"]


def test_a_deleted_users_orders_stay_in_the_order_list(client, shop):
    user, item = shop
    order = place_order(client, user["id"], (item["id"], 1))
    client.delete(f"/users/{user['id']}")
    assert [o["id"] for o in client.get("/orders?status=cancelled").get_json()] == [order["id"]]
