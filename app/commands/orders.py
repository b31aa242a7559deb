"""Orders: the write tables, the rules, the command handlers and the command routes.

POST /orders, POST /orders/<id>/ship, POST /orders/<id>/cancel. The write side keeps an
order (``orders``) and its lines (``order_lines``); each line holds the item's name and
unit price as they were at ordering, read here from the ``items`` write table. Totals are
worked out in integer cents. Replies are built from the write tables, in the same shape
as GET /orders/<id>.
"""

from dataclasses import dataclass, replace

from flask import Blueprint, request

from app.bus import UnitOfWork, execute, expect_version
from app.contract import Reply, operation
from app.errors import PROBLEM_JSON, NotFound, Problem, ProblemSchema
from app.http import created, etag, if_match, json_body
from app.ids import new_id
from app.messages.orders import (
    CANCEL_ORDER,
    CUSTOMER_CANCELLATION,
    ORDER,
    ORDER_EXAMPLE,
    PLACE_ORDER,
    PLACE_ORDER_EXAMPLE,
    CancelOrder,
    OrderCancelled,
    OrderPlaced,
    OrderShipped,
    PlaceOrder,
    ShipOrder,
    customer_name,
    load_place_order,
    merge_lines,
)
from app.sql_lists import in_list, named
from app.times import utc_now

STREAM = "order"


@dataclass(frozen=True)
class Order:
    """An order as the write tables have it, with its user as they are now (what a reply shows)."""

    id: str
    user: dict  # {id, name, email}; name and email are None once the user is deleted
    status: str
    placed_at: str
    lines: list[dict]  # [{item_id, name, quantity, unit_price_cents, line_total_cents}]
    total_cents: int
    version: int
    shipped_at: str | None = None
    cancelled_at: str | None = None
    cancellation_reason: str | None = None


class UnknownReferences(Problem):
    """422: the body is well formed, but names a user or items that do not exist."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(
            422,
            "The order names a user or items that do not exist; see 'errors'.",
            title="Unknown user or item",
            errors=errors,
        )


class NotPlaced(Problem):
    """409: only a placed order can be shipped or cancelled."""

    def __init__(self, order_id: str, status: str, wanted: str):
        super().__init__(
            409, f"Order {order_id} is {status}; only a placed order can be {wanted}.", order_status=status
        )


def _user(uow: UnitOfWork, user_id: str) -> dict | None:
    """``{id, name, email}`` from the ``users`` write table; None if there is no such user."""
    row = uow.first("SELECT first_name, last_name, email FROM users WHERE id = :id", id=user_id)
    if row is None:
        return None
    uow.handles_person("user", user_id)  # the reply carries the user's name and email
    return {"id": user_id, "name": customer_name(row.first_name, row.last_name), "email": row.email}


def _items(uow: UnitOfWork, item_ids: list[str]) -> dict[str, tuple[str, int]]:
    """``{item_id: (name, unit_price_cents)}`` of those that exist; an item without a price costs 0."""
    ids = named(item_ids, "id")
    rows = uow.all(f"SELECT id, name, coalesce(price_cents, 0) FROM items WHERE id IN ({in_list(ids)})", **ids)
    return {row[0]: (row[1], row[2]) for row in rows}


def _unknown(user: dict | None, lines, items: dict) -> dict[str, list[str]]:
    """The fields of a POST /orders body that name what does not exist, by their place in the body."""
    errors = {} if user is not None else {"user_id": ["No user with this id."]}
    for index, (item_id, _quantity) in enumerate(lines):
        if item_id not in items:
            errors[f"lines.{index}.item_id"] = ["No item with this id."]
    return errors


def _priced(quantities: dict[str, int], items: dict[str, tuple[str, int]]) -> list[dict]:
    """The order's lines: each item's name and unit price as they are now, and the line's total, in cents."""
    lines = []
    for item_id, quantity in quantities.items():
        name, unit_price_cents = items[item_id]
        lines.append(
            {
                "item_id": item_id,
                "name": name,
                "quantity": quantity,
                "unit_price_cents": unit_price_cents,
                "line_total_cents": quantity * unit_price_cents,
            }
        )
    return lines


def _insert(uow: UnitOfWork, order: Order) -> None:
    uow.execute(
        "INSERT INTO orders (id, user_id, status, placed_at, version) VALUES (:id, :user_id, 'placed', :placed_at, 1)",
        id=order.id,
        user_id=order.user["id"],
        placed_at=order.placed_at,
    )
    uow.execute_many(
        "INSERT INTO order_lines (order_id, line_no, item_id, name, quantity, unit_price_cents)"
        " VALUES (:order_id, :line_no, :item_id, :name, :quantity, :unit_price_cents)",
        [{"order_id": order.id, "line_no": n, **line} for n, line in enumerate(order.lines, start=1)],
    )


def place_order(uow: UnitOfWork, cmd: PlaceOrder) -> Order:
    """Place an order at today's prices, lines of one item merged; 422 naming an unknown user
    or each line of an unknown item."""
    user = _user(uow, cmd.user_id)
    quantities = merge_lines(cmd.lines)
    items = _items(uow, list(quantities))
    if errors := _unknown(user, cmd.lines, items):
        raise UnknownReferences(errors)
    lines = _priced(quantities, items)
    order = Order(cmd.order_id, user, "placed", utc_now(), lines, sum(line["line_total_cents"] for line in lines), 1)
    _insert(uow, order)
    uow.record(STREAM, order.id, order.version, OrderPlaced(cmd.user_id, order.placed_at, lines, order.total_cents))
    return order


def _load(uow: UnitOfWork, order_id: str) -> Order:
    """The order as the write tables have it; NotFound (404) if there is none."""
    row = uow.first(
        "SELECT user_id, status, placed_at, version, shipped_at, cancelled_at, cancellation_reason"
        " FROM orders WHERE id = :id",
        id=order_id,
    )
    if row is None:
        raise NotFound("order", order_id)
    lines = [
        {**line._asdict(), "line_total_cents": line.quantity * line.unit_price_cents}
        for line in uow.execute(
            "SELECT item_id, name, quantity, unit_price_cents FROM order_lines WHERE order_id = :id ORDER BY line_no",
            id=order_id,
        )
    ]
    user = _user(uow, row.user_id) or {"id": row.user_id, "name": None, "email": None}
    total = sum(line["line_total_cents"] for line in lines)
    return Order(
        order_id,
        user,
        row.status,
        row.placed_at,
        lines,
        total,
        row.version,
        row.shipped_at,
        row.cancelled_at,
        row.cancellation_reason,
    )


def _placed(uow: UnitOfWork, order_id: str, expected_version: int | None, wanted: str) -> Order:
    """The order, if it is still placed; 404 if unknown, 412 on a stale If-Match, 409 if not placed."""
    order = _load(uow, order_id)
    expect_version(order.version, expected_version)
    if order.status != "placed":
        raise NotPlaced(order.id, order.status, wanted)
    return order


def ship_order(uow: UnitOfWork, cmd: ShipOrder) -> Order:
    """Mark a placed order shipped; 404 if unknown, 412 on a stale If-Match, 409 unless placed."""
    current = _placed(uow, cmd.order_id, cmd.expected_version, "shipped")
    order = replace(current, status="shipped", shipped_at=utc_now(), version=current.version + 1)
    uow.execute(
        "UPDATE orders SET status = :status, shipped_at = :shipped_at, version = :version WHERE id = :id",
        id=order.id,
        status=order.status,
        shipped_at=order.shipped_at,
        version=order.version,
    )
    uow.record(STREAM, order.id, order.version, OrderShipped(order.shipped_at))
    return order


def cancel_order(uow: UnitOfWork, cmd: CancelOrder) -> Order:
    """Cancel a placed order, for ``reason``; 404 if unknown, 412 on a stale If-Match, 409 unless placed."""
    current = _placed(uow, cmd.order_id, cmd.expected_version, "cancelled")
    order = replace(
        current, status="cancelled", cancelled_at=utc_now(), cancellation_reason=cmd.reason, version=current.version + 1
    )
    uow.execute(
        "UPDATE orders SET status = :status, cancelled_at = :cancelled_at, cancellation_reason = :reason,"
        " version = :version WHERE id = :id",
        id=order.id,
        status=order.status,
        cancelled_at=order.cancelled_at,
        reason=cmd.reason,
        version=order.version,
    )
    uow.record(STREAM, order.id, order.version, OrderCancelled(cmd.reason, order.cancelled_at))
    return order


HANDLERS = {PlaceOrder: place_order, ShipOrder: ship_order, CancelOrder: cancel_order}

# ---------------------------------------------------------------- routes

routes = Blueprint("orders", __name__)

UNKNOWN = Reply(
    "The user or an item does not exist (`errors` names each field: `user_id`, `lines.<index>.item_id`), "
    "or the Idempotency-Key was used for a different request",
    ProblemSchema,
    example={
        "type": "about:blank",
        "title": "Unknown user or item",
        "status": 422,
        "detail": "The order names a user or items that do not exist; see 'errors'.",
        "errors": {"lines.1.item_id": ["No item with this id."]},
    },
    media_type=PROBLEM_JSON,
)
NOT_PLACED = Reply(
    "The order is not placed any more (`order_status` says what it is)",
    ProblemSchema,
    example={
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": f"Order {ORDER_EXAMPLE['id']} is shipped; only a placed order can be cancelled.",
        "order_status": "shipped",
    },
    media_type=PROBLEM_JSON,
)
SHIPPED = {**ORDER_EXAMPLE, "status": "shipped", "shipped_at": "2024-01-02T09:00:00.000000Z"}
CANCELLED = {
    **ORDER_EXAMPLE,
    "status": "cancelled",
    "cancelled_at": "2024-01-02T09:00:00.000000Z",
    "cancellation_reason": "changed my mind",
}


@routes.post("/orders")
@operation(
    "Place an order",
    body=PLACE_ORDER,
    example=PLACE_ORDER_EXAMPLE,
    status=201,
    reply=Reply("The order placed", ORDER, example=ORDER_EXAMPLE, headers=("Location", "ETag")),
    replies={422: UNKNOWN},
)
def place():
    """Place an order: 201 with the order; 400 invalid, 415 not JSON, 422 unknown user or items."""
    user_id, lines = load_place_order(json_body())
    order = execute(PlaceOrder(order_id=new_id(), user_id=user_id, lines=lines))
    return created(ORDER.dump(order), order.id, order.version)


@routes.post("/orders/<uuid:order_id>/ship")
@operation(
    "Ship a placed order",
    if_match=True,
    reply=Reply("The order, shipped", ORDER, example=SHIPPED, headers=("ETag",)),
    replies={409: NOT_PLACED},
    errors=(404,),
)
def ship(order_id: str):
    """Ship a placed order: 200 with the order; 404, 409 unless placed, 412 stale If-Match."""
    order = execute(ShipOrder(order_id=order_id, expected_version=if_match()))
    return ORDER.dump(order), {"ETag": etag(order.version)}


@routes.post("/orders/<uuid:order_id>/cancel")
@operation(
    "Cancel a placed order",
    description='The body is optional: without one (or without `reason`) the reason is "cancelled by customer".',
    body=CANCEL_ORDER,
    example={"reason": "changed my mind"},
    if_match=True,
    reply=Reply("The order, cancelled", ORDER, example=CANCELLED, headers=("ETag",)),
    replies={409: NOT_PLACED},
    errors=(404,),
)
def cancel(order_id: str):
    """Cancel a placed order; the body ``{reason}`` is optional. 200 with the order; 400, 404,
    409 unless placed, 412 stale If-Match, 415 a body that is not JSON."""
    reason = CANCEL_ORDER.load(json_body())["reason"] if request.get_data() else CUSTOMER_CANCELLATION
    order = execute(CancelOrder(order_id=order_id, reason=reason, expected_version=if_match()))
    return ORDER.dump(order), {"ETag": etag(order.version)}
