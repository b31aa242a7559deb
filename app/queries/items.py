"""Items, read side: GET /items (by name, paginated) and GET /items/<id>, from read tables only."""

from flask import Blueprint

from app.contract import Reply, operation
from app.db import read
from app.messages.items import ITEM, ITEM_SUMMARY, ItemDeleted
from app.pagination import Page, PageArgs
from app.queries._documents import AsOfArgs, details

routes = Blueprint("items", __name__)


BACON = {"id": "12a33c84-ee60-45a1-848d-428ad3259abc", "name": "Bacon"}


@routes.get("/items")
@operation(
    "List items by name",
    query=PageArgs,
    reply=Reply(
        "One page of items, by name then id",
        {"type": "array", "items": ITEM_SUMMARY},
        example=[BACON],
        headers=("Link",),
    ),
    errors=(400,),
)
def index(args: dict):
    """``[{id, name}]`` ordered by name, then id."""
    page = Page.of(args, key=(str, str))
    after = "WHERE (name, id) > (:name, :id)" if page.after else ""
    name, item_id = page.after or (None, None)
    rows = read(
        f"SELECT summary, name, id FROM item_list_view {after} ORDER BY name, id LIMIT :n",
        name=name,
        id=item_id,
        n=page.fetch,
    )
    return page.rendered(rows)


@routes.get("/items/<uuid:item_id>")
@operation(
    "Read an item (now, or as of a past moment)",
    query=AsOfArgs,
    reply=Reply(
        "The item; `price` only when it has one",
        ITEM,
        example={**BACON, "description": "Everything tastes better, with bacon 🥓"},
        headers=("ETag",),
    ),
    if_none_match=True,
    errors=(400, 404),
)
def show(item_id: str, args: dict):
    """``{id, name, description, price?}``; 404 if unknown. The document was rendered by the projection."""
    return details("item", item_id, "item_details_view", ITEM, gone=ItemDeleted.type_name, as_of=args.get("as_of"))
