"""Feed order and user events to the projector and look at the rows the order projections keep."""

import json

from app.messages.orders import OrderCancelled, OrderPlaced, OrderShipped
from app.messages.users import UserDeleted, UserRegistered, UserUpdated
from tests.support import project, query

ADA = "7e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
FIRST = "00000000-0000-4000-8000-0000000000a1"
SECOND = "00000000-0000-4000-8000-0000000000a2"
EGGS = "0b7e3c1a-4f0e-4d55-9a3b-6c2f1d8e9a10"
LINES = [{"item_id": EGGS, "name": "Dime", "quantity": 3, "unit_price_cents": 10, "line_total_cents": 30}]
PLACED_AT = "2026-01-01T10:00:00.000000Z"


def registered(first="Ada", last="Lovelace", email="ada@example.com"):
    return ("user", ADA, 1, UserRegistered(first, last, email))


def placed(order_id=FIRST, at=PLACED_AT, lines=LINES, total=30):
    return ("order", order_id, 1, OrderPlaced(ADA, at, lines, total))


def document(app, order_id=FIRST) -> tuple[int, dict]:
    version, text = query(app, "SELECT version, document FROM order_details_view WHERE id = ?", order_id)[0]
    return version, json.loads(text)


def history(app) -> list[tuple]:
    return query(
        app,
        "SELECT id, placed_at, status, item_count, total_cents FROM order_list_view WHERE user_id = ?"
        " ORDER BY placed_at DESC, id DESC",
        ADA,
    )


def test_a_placed_order_gets_a_document_with_its_user_lines_and_total(app):
    project(app, registered(), placed())
    assert document(app) == (
        1,
        {
            "id": FIRST,
            "status": "placed",
            "placed_at": PLACED_AT,
            "user": {"id": ADA, "name": "Ada Lovelace", "email": "ada@example.com"},
            "lines": [{"item_id": EGGS, "name": "Dime", "quantity": 3, "unit_price": 0.1, "line_total": 0.3}],
            "total": 0.3,
        },
    )


def test_a_placed_order_gets_a_list_row_that_its_users_history_reads(app):
    project(app, registered(), placed())
    assert history(app) == [(FIRST, PLACED_AT, "placed", 3, 30)]
    assert query(app, "SELECT id, user_id, status, item_count, total_cents FROM order_list_view") == [
        (FIRST, ADA, "placed", 3, 30)
    ]


def test_shipping_moves_the_status_everywhere_and_the_version_of_the_document(app):
    project(app, registered(), placed(), ("order", FIRST, 2, OrderShipped("2026-01-02T00:00:00.000000Z")))
    version, doc = document(app)
    assert (version, doc["status"], doc["shipped_at"]) == (2, "shipped", "2026-01-02T00:00:00.000000Z")
    assert history(app)[0][2] == "shipped"
    assert query(app, "SELECT status FROM order_list_view") == [("shipped",)]


def test_a_cancellation_shows_its_time_and_reason(app):
    project(app, registered(), placed(), ("order", FIRST, 2, OrderCancelled("changed my mind", "2026-01-02T00:00:00Z")))
    version, doc = document(app)
    assert version == 2
    assert (doc["status"], doc["cancelled_at"], doc["cancellation_reason"]) == (
        "cancelled",
        "2026-01-02T00:00:00Z",
        "changed my mind",
    )
    assert history(app)[0][2] == "cancelled"


def test_a_user_update_renders_every_order_document_of_that_user_again(app):
    project(
        app,
        registered(),
        placed(FIRST),
        placed(SECOND, at="2026-01-01T11:00:00.000000Z"),
        ("user", ADA, 2, UserUpdated("Augusta Ada", "King", "ADA@king.org")),
    )
    for order_id in (FIRST, SECOND):
        version, doc = document(app, order_id)
        assert (version, doc["user"]) == (1, {"id": ADA, "name": "Augusta Ada King", "email": "ADA@king.org"})


def test_a_user_update_leaves_other_users_orders_alone(app):
    other = "00000000-0000-4000-8000-0000000000b0"
    project(
        app,
        registered(),
        ("user", other, 1, UserRegistered("Bob", "Byron", "bob@example.com")),
        ("order", SECOND, 1, OrderPlaced(other, PLACED_AT, LINES, 30)),
        ("user", ADA, 2, UserUpdated("Augusta Ada", "King", "ADA@king.org")),
    )
    assert document(app, SECOND)[1]["user"] == {"id": other, "name": "Bob Byron", "email": "bob@example.com"}


def test_a_deleted_users_orders_keep_the_user_id_without_name_or_email(app):
    project(app, registered(), placed(), ("user", ADA, 2, UserDeleted()))
    assert document(app)[1]["user"] == {"id": ADA, "name": None, "email": None}
    assert query(app, "SELECT count(*) FROM order_details_user_view") == [(0,)]


def test_a_deleted_user_is_forgotten_by_the_history_but_the_order_list_keeps_their_orders(app):
    project(app, registered(), placed(), ("user", ADA, 2, UserDeleted()))
    assert query(app, "SELECT count(*) FROM order_history_user_view") == [(0,)]
    assert query(app, "SELECT id FROM order_list_view") == [(FIRST,)]


def test_the_history_knows_a_registered_user_without_orders(app):
    project(app, registered())
    assert query(app, "SELECT id FROM order_history_user_view") == [(ADA,)]


def test_the_item_count_adds_up_the_quantities_of_the_lines(app):
    lines = [
        *LINES,
        {"item_id": FIRST, "name": "Ham", "quantity": 2, "unit_price_cents": 500, "line_total_cents": 1000},
    ]
    project(app, registered(), placed(lines=lines, total=1030))
    assert history(app) == [(FIRST, PLACED_AT, "placed", 5, 1030)]
