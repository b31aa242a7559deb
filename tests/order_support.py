"""Helpers for the orders tests: users, items and orders made through the API."""

from tests.support import UNKNOWN_ID, create_item, create_user, query  # noqa: F401 (UNKNOWN_ID: for importers)


def customer(client, n: int = 0, **fields) -> dict:
    """A registered user with an email of their own."""
    return create_user(client, email=f"customer{n}@example.com", **fields)


def priced_item(client, name: str = "Dime", price=0.1, **fields) -> dict:
    return create_item(client, name=name, price=price, **fields)


def place(client, user_id: str, *lines: tuple[str, int], **headers):
    """POST /orders with ``(item_id, quantity)`` lines; returns the response."""
    body = {"user_id": user_id, "lines": [{"item_id": item_id, "quantity": q} for item_id, q in lines]}
    return client.post("/orders", json=body, headers=headers)


def place_order(client, user_id: str, *lines: tuple[str, int]) -> dict:
    """POST /orders that must succeed; returns the order."""
    response = place(client, user_id, *lines)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def an_order(client, n: int = 0) -> dict:
    """A placed order of a new user, for one new item."""
    user = customer(client, n)
    item = priced_item(client, name=f"Item {n}", price=2.5)
    return place_order(client, user["id"], (item["id"], 2))


def order_events(app, order_id: str) -> list[tuple]:
    """The order's events as (version, type, causation_id), oldest first."""
    return query(
        app,
        "SELECT version, type, causation_id FROM events WHERE stream_type = 'order' AND stream_id = ? ORDER BY version",
        order_id,
    )
