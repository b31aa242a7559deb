"""Orders: commands, events, the order's JSON shapes, and the rules of a PlaceOrder body.

An order is ``placed``, then ``shipped`` or ``cancelled``; nothing else. Money is integer
cents inside (``*_cents``) and a JSON number outside, so totals are exact (3 x 0.10 is 0.30).
Errors inside ``lines`` are named ``lines.<index>.<field>``, the index of the line as sent.
"""

from dataclasses import dataclass
from typing import ClassVar

from marshmallow import Schema, ValidationError, fields, post_dump, validate

from app.eventlog import Event, event
from app.ids import is_uuid
from app.messages.fields import Amount, Money, Trimmed, money

STATUSES = ("placed", "shipped", "cancelled")
MAX_LINES = 100
MAX_QUANTITY = 1000
CUSTOMER_CANCELLATION = "cancelled by customer"
USER_DELETED = "user deleted"

# ---------------------------------------------------------------- commands


@dataclass(frozen=True)
class PlaceOrder:
    order_id: str
    user_id: str
    lines: tuple[tuple[str, int], ...]  # (item_id, quantity) as sent; the handler merges lines of one item


@dataclass(frozen=True)
class ShipOrder:
    order_id: str
    expected_version: int | None = None  # from If-Match; None accepts any


@dataclass(frozen=True)
class CancelOrder:
    order_id: str
    reason: str = CUSTOMER_CANCELLATION
    expected_version: int | None = None  # from If-Match; None accepts any


# ---------------------------------------------------------------- events (stream type "order")
# OrderPlaced carries the whole order, with each line's name and price as they were when it
# was placed: the read side never needs the item (which may change or go) to show it.


@event("OrderPlaced")
@dataclass(frozen=True)
class OrderPlaced(Event):
    user_id: str
    placed_at: str
    lines: list[dict]  # [{item_id, name, quantity, unit_price_cents, line_total_cents}]
    total_cents: int


@event("OrderShipped")
@dataclass(frozen=True)
class OrderShipped(Event):
    shipped_at: str


@event("OrderCancelled")
@dataclass(frozen=True)
class OrderCancelled(Event):
    reason: str
    cancelled_at: str


# ---------------------------------------------------------------- rules and shapes


def customer_name(first_name: str, last_name: str) -> str:
    """The name an order shows for its user: ``"<first_name> <last_name>"``."""
    return f"{first_name} {last_name}"


def item_count(lines: list[dict]) -> int:
    """How many items an order holds: its quantities added up."""
    return sum(line["quantity"] for line in lines)


class Id(fields.String):
    """A UUID in its canonical text form, lower-cased (so one item sent in two cases is one item)."""

    default_error_messages: ClassVar[dict] = {"uuid": "Not a valid UUID."}

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not is_uuid(text):
            raise self.make_error("uuid")
        return text.lower()


class PlaceOrderLineSchema(Schema):
    item_id = Id(required=True, metadata={"format": "uuid"})
    quantity = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=MAX_QUANTITY), metadata={"example": 3}
    )


class PlaceOrderSchema(Schema):
    """``{user_id, lines: [{item_id, quantity}]}``: the body of POST /orders."""

    user_id = Id(required=True, metadata={"format": "uuid"})
    lines = fields.List(
        fields.Nested(PlaceOrderLineSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_LINES),
        metadata={"description": f"1 to {MAX_LINES} lines; lines of the same item are merged."},
    )


class CancelOrderSchema(Schema):
    """``{reason?}``: the optional body of POST /orders/<id>/cancel."""

    reason = Trimmed(
        load_default=CUSTOMER_CANCELLATION,
        validate=validate.Length(min=1, max=500),
        metadata={"example": "changed my mind"},
    )


PLACE_ORDER = PlaceOrderSchema()
CANCEL_ORDER = CancelOrderSchema()


def flat_errors(messages, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as ``{"lines.2.quantity": [...]}`` (a line's own: ``lines.2``)."""
    if isinstance(messages, list):
        return {prefix: messages}
    flat: dict[str, list[str]] = {}
    for key, inner in messages.items():
        name = prefix if key == "_schema" else f"{prefix}.{key}" if prefix else str(key)
        for field, errors in flat_errors(inner, name).items():
            flat.setdefault(field, []).extend(errors)
    return flat


def merge_lines(lines) -> dict[str, int]:
    """Quantity per item, lines of one item added up, items in the order first sent."""
    merged: dict[str, int] = {}
    for item_id, quantity in lines:
        merged[item_id] = merged.get(item_id, 0) + quantity
    return merged


def load_place_order(body: dict) -> tuple[str, tuple[tuple[str, int], ...]]:
    """The user id and the lines ``(item_id, quantity)`` of a POST /orders body, as sent.
    ValidationError (400) naming each bad field, and a line whose item's lines add up to over 1000."""
    try:
        loaded = PLACE_ORDER.load(body)
    except ValidationError as error:
        raise ValidationError(flat_errors(error.normalized_messages())) from None
    lines = tuple((line["item_id"], line["quantity"]) for line in loaded["lines"])
    errors, so_far = {}, {}
    for index, (item_id, quantity) in enumerate(lines):
        so_far[item_id] = so_far.get(item_id, 0) + quantity
        if so_far[item_id] > MAX_QUANTITY:
            errors[f"lines.{index}.quantity"] = [
                f"With the earlier lines of this item, more than {MAX_QUANTITY} (lines of one item are merged)."
            ]
    if errors:
        raise ValidationError(errors)
    return loaded["user_id"], lines


# A total is a sum of Money, past Money's bound: 100 lines of 1,000 at the highest price is
# still an amount a JSON number holds exactly.
TOTAL = {"type": "number", "minimum": 0, "description": "At most two decimal places.", "example": 8.5}


class OrderUserSchema(Schema):
    """The order's user as they are now; name and email are null once the user is deleted."""

    id = fields.String(required=True, metadata={"format": "uuid"})
    name = fields.String(required=True, allow_none=True, metadata={"example": "Ada Lovelace"})
    email = fields.String(required=True, allow_none=True, metadata={"example": "ada@example.com"})


class OrderLineSchema(Schema):
    """A line as it was ordered: the item's name and unit price then, however the item changed since."""

    item_id = fields.String(required=True, metadata={"format": "uuid"})
    name = fields.String(required=True)
    quantity = fields.Integer(required=True)
    unit_price_cents = Money(data_key="unit_price", required=True)
    line_total_cents = Amount(data_key="line_total", required=True, metadata=TOTAL)


class OrderSchema(Schema):
    """``{id, status, placed_at, user: {id, name, email}, lines: [...], total}``, plus
    ``shipped_at`` once shipped, ``cancelled_at`` and ``cancellation_reason`` once cancelled."""

    id = fields.String(required=True, metadata={"format": "uuid"})
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    placed_at = fields.String(required=True, metadata={"format": "date-time"})
    user = fields.Nested(OrderUserSchema, required=True)
    lines = fields.List(fields.Nested(OrderLineSchema), required=True)
    total_cents = Amount(data_key="total", required=True, metadata=TOTAL)
    shipped_at = fields.String(metadata={"format": "date-time"})
    cancelled_at = fields.String(metadata={"format": "date-time"})
    cancellation_reason = fields.String(metadata={"example": USER_DELETED})

    @post_dump
    def omit_unset(self, data: dict, **_kwargs) -> dict:
        for name in ("shipped_at", "cancelled_at", "cancellation_reason"):
            if data.get(name) is None:
                data.pop(name, None)
        return data


class OrderSummarySchema(Schema):
    """``{id, user_id, status, placed_at, item_count, total}``: a row of GET /orders."""

    id = fields.String(required=True, metadata={"format": "uuid"})
    user_id = fields.String(required=True, metadata={"format": "uuid"})
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    placed_at = fields.String(required=True, metadata={"format": "date-time"})
    item_count = fields.Integer(required=True, metadata={"description": "The order's quantities added up."})
    total_cents = Amount(data_key="total", required=True, metadata=TOTAL)


class UserOrderSummarySchema(Schema):
    """``{id, status, placed_at, item_count, total}``: a row of GET /users/<id>/orders."""

    id = fields.String(required=True, metadata={"format": "uuid"})
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    placed_at = fields.String(required=True, metadata={"format": "date-time"})
    item_count = fields.Integer(required=True, metadata={"description": "The order's quantities added up."})
    total_cents = Amount(data_key="total", required=True, metadata=TOTAL)


ORDER = OrderSchema()
ORDER_LINE = OrderLineSchema()
ORDER_SUMMARY = OrderSummarySchema()
USER_ORDER_SUMMARY = UserOrderSummarySchema()


def order_reply(order_id: str, state: dict, user: dict) -> dict:
    """What ``ORDER`` dumps for the order (``state`` as order_details keeps it, ``user`` as
    ``{id, name, email}``), built directly: a projection renders one per event, and
    marshmallow's dump costs far more (a test holds the two equal)."""
    reply = {
        "id": order_id,
        "status": state["status"],
        "placed_at": state["placed_at"],
        "user": {"id": user["id"], "name": user["name"], "email": user["email"]},
        "lines": [
            {
                "item_id": line["item_id"],
                "name": line["name"],
                "quantity": line["quantity"],
                "unit_price": money(line["unit_price_cents"]),
                "line_total": money(line["line_total_cents"]),
            }
            for line in state["lines"]
        ],
        "total": money(state["total_cents"]),
    }
    for name in ("shipped_at", "cancelled_at", "cancellation_reason"):
        if state.get(name) is not None:
            reply[name] = state[name]
    return reply


# ---------------------------------------------------------------- examples (for the API description)

ORDER_ID = "3f0d5a8e-6c2b-4f1a-9e7d-2b8c4a6f1e90"
PLACE_ORDER_EXAMPLE = {
    "user_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    "lines": [{"item_id": "0b7e3c1a-4f0e-4d55-9a3b-6c2f1d8e9a10", "quantity": 2}],
}
ORDER_EXAMPLE = {
    "id": ORDER_ID,
    "status": "placed",
    "placed_at": "2024-01-01T12:00:00.000000Z",
    "user": {"id": PLACE_ORDER_EXAMPLE["user_id"], "name": "Ada Lovelace", "email": "Ada@Example.com"},
    "lines": [
        {
            "item_id": "0b7e3c1a-4f0e-4d55-9a3b-6c2f1d8e9a10",
            "name": "Eggs",
            "quantity": 2,
            "unit_price": 4.25,
            "line_total": 8.5,
        }
    ],
    "total": 8.5,
}
USER_ORDER_SUMMARY_EXAMPLE = {
    "id": ORDER_ID,
    "status": "placed",
    "placed_at": "2024-01-01T12:00:00.000000Z",
    "item_count": 2,
    "total": 8.5,
}
ORDER_SUMMARY_EXAMPLE = {**USER_ORDER_SUMMARY_EXAMPLE, "user_id": PLACE_ORDER_EXAMPLE["user_id"]}
