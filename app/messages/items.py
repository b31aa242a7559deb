"""Items (seed 000's products): commands, events, and the item's JSON shape."""

from dataclasses import dataclass

from marshmallow import Schema, fields, post_dump, validate

from app.eventlog import Event, event
from app.messages.fields import Money, Trimmed

# ---------------------------------------------------------------- commands


@dataclass(frozen=True)
class CreateItem:
    item_id: str
    name: str
    description: str
    price_cents: int | None = None


@dataclass(frozen=True)
class UpdateItem:
    item_id: str
    name: str
    description: str
    price_cents: int | None = None
    expected_version: int | None = None  # from If-Match; None accepts any


@dataclass(frozen=True)
class DeleteItem:
    item_id: str
    expected_version: int | None = None  # from If-Match; None accepts any


# ---------------------------------------------------------------- events (stream type "item")


@event("ItemCreated")
@dataclass(frozen=True)
class ItemCreated(Event):
    name: str
    description: str
    price_cents: int | None = None


@event("ItemUpdated")
@dataclass(frozen=True)
class ItemUpdated(Event):
    name: str
    description: str
    price_cents: int | None = None


@event("ItemDeleted")
@dataclass(frozen=True)
class ItemDeleted(Event):
    pass


# ---------------------------------------------------------------- JSON


class ItemSchema(Schema):
    """``{id, name, description, price?}``: the body of POST and PUT, and of every item reply.

    ``price`` is optional and appears only when it was set, so clients of seed 000's
    sample see exactly their fields.
    """

    id = fields.String(dump_only=True, metadata={"format": "uuid"})
    name = Trimmed(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(required=True, validate=validate.Length(max=2000))
    price_cents = Money(data_key="price", load_default=None)

    @post_dump
    def omit_unset_price(self, data: dict, **_kwargs) -> dict:
        if data.get("price") is None:
            data.pop("price", None)
        return data


ITEM = ItemSchema()
ITEM_SUMMARY = ItemSchema(only=("id", "name"))  # a row of GET /items


def item_reply(item_id: str, item: ItemCreated | ItemUpdated) -> dict:
    """What ``ITEM`` dumps for the item, built directly: a projection renders one per
    event, and marshmallow's dump costs ten times more (a test holds the two equal)."""
    reply = {"id": item_id, "name": item.name, "description": item.description}
    if item.price_cents is not None:
        reply["price"] = ITEM.fields["price_cents"].serialize("price_cents", item)  # money as the dump formats it
    return reply
