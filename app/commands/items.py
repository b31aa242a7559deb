"""Items: the write table, the rules, the command handlers and the command routes.

Seed 000's contract: POST /items, PUT /items/<id>, DELETE /items/<id>.
"""

from dataclasses import asdict, dataclass

from flask import Blueprint

from app.bus import UnitOfWork, execute, expect_version
from app.contract import Reply, operation
from app.errors import NotFound
from app.http import created, etag, if_match, json_body, no_content
from app.ids import new_id
from app.messages.items import ITEM, CreateItem, DeleteItem, ItemCreated, ItemDeleted, ItemUpdated, UpdateItem

STREAM = "item"


@dataclass(frozen=True)
class Item:
    """A row of the ``items`` write table."""

    id: str
    name: str
    description: str
    price_cents: int | None
    version: int


def _load(uow: UnitOfWork, item_id: str) -> Item:
    """The item as the write table has it; NotFound (404) if there is none."""
    row = uow.first("SELECT id, name, description, price_cents, version FROM items WHERE id = :id", id=item_id)
    if row is None:
        raise NotFound("item", item_id)
    return Item(*row)


def create_item(uow: UnitOfWork, cmd: CreateItem) -> Item:
    item = Item(cmd.item_id, cmd.name, cmd.description, cmd.price_cents, version=1)
    uow.execute(
        "INSERT INTO items (id, name, description, price_cents, version)"
        " VALUES (:id, :name, :description, :price_cents, :version)",
        **asdict(item),
    )
    uow.record(STREAM, item.id, item.version, ItemCreated(item.name, item.description, item.price_cents))
    return item


def update_item(uow: UnitOfWork, cmd: UpdateItem) -> Item:
    """Replace name, description and price; 404 if unknown. An update that changes nothing records nothing."""
    current = _load(uow, cmd.item_id)
    expect_version(current.version, cmd.expected_version)
    if (cmd.name, cmd.description, cmd.price_cents) == (current.name, current.description, current.price_cents):
        return current
    item = Item(cmd.item_id, cmd.name, cmd.description, cmd.price_cents, version=current.version + 1)
    uow.execute(
        "UPDATE items SET name = :name, description = :description, price_cents = :price_cents,"
        " version = :version WHERE id = :id",
        **asdict(item),
    )
    uow.record(STREAM, item.id, item.version, ItemUpdated(item.name, item.description, item.price_cents))
    return item


def delete_item(uow: UnitOfWork, cmd: DeleteItem) -> None:
    """Remove the item; 404 if unknown."""
    current = _load(uow, cmd.item_id)
    expect_version(current.version, cmd.expected_version)
    uow.execute("DELETE FROM items WHERE id = :id", id=current.id)
    uow.record(STREAM, current.id, current.version + 1, ItemDeleted())


HANDLERS = {CreateItem: create_item, UpdateItem: update_item, DeleteItem: delete_item}

# ---------------------------------------------------------------- routes

routes = Blueprint("items", __name__)


EGGS = {"name": "Eggs", "description": "Free range, a dozen", "price": 4.25}
EGGS_ID = "0b7e3c1a-4f0e-4d55-9a3b-6c2f1d8e9a10"
BACON = {"name": "Bacon", "description": "Smoked, thick cut", "price": 6.5}
BACON_ID = "12a33c84-ee60-45a1-848d-428ad3259abc"


@routes.post("/items")
@operation(
    "Create an item",
    body=ITEM,
    example=EGGS,
    status=201,
    reply=Reply("The item created", ITEM, example={"id": EGGS_ID, **EGGS}, headers=("Location", "ETag")),
)
def create():
    fields = ITEM.load(json_body())
    item = execute(CreateItem(item_id=new_id(), **fields))
    return created(ITEM.dump(item), item.id, item.version)


@routes.put("/items/<uuid:item_id>")
@operation(
    "Replace an item's name, description and price",
    body=ITEM,
    example=BACON,
    reply=Reply("The item as it is now", ITEM, example={"id": BACON_ID, **BACON}, headers=("ETag",)),
    errors=(404,),
)
def update(item_id: str):
    fields = ITEM.load(json_body())
    item = execute(UpdateItem(item_id=item_id, expected_version=if_match(), **fields))
    return ITEM.dump(item), {"ETag": etag(item.version)}


@routes.delete("/items/<uuid:item_id>")
@operation("Delete an item", status=204, reply=Reply("Deleted; no body"), errors=(404,))
def delete(item_id: str):
    execute(DeleteItem(item_id=item_id, expected_version=if_match()))
    return no_content()
