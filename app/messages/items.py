"""Items (seed 000's products): commands, events, and the item's JSON shape."""

from dataclasses import dataclass
from json.encoder import encode_basestring as text  # a JSON string, as json.dumps(ensure_ascii=False) writes it

from marshmallow import Schema, fields, post_dump, validate

from app.eventlog import Event, event
from app.messages.fields import Money, Trimmed, money

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


def item_summary(item_id: str, name: str) -> str:
    """The JSON text of ``ITEM_SUMMARY``'s dump, an entry of GET /items, written directly (a
    test holds them equal): the projection stores it, a page joins them."""
    return '{"id":%s,"name":%s}' % (text(item_id), text(name))


def item_document(item_id: str, item: ItemCreated | ItemUpdated) -> str:
    """The JSON text of ``ITEM``'s dump of the item, written directly: a projection renders
    one per event, and a dump and ``json.dumps`` cost far more (a test holds them equal)."""
    price = ""
    if item.price_cents is not None:
        price = ',"price":%r' % money(item.price_cents)
    return '{"id":%s,"name":%s,"description":%s%s}' % (text(item_id), text(item.name), text(item.description), price)
