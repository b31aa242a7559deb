"""Items, read side: GET /items (by name, paginated) and GET /items/<id>, from read tables only."""

from flask import Blueprint, request

from app.db import transaction
from app.errors import NotFound
from app.http import document_response
from app.messages.items import ITEM, ITEM_SUMMARY, ItemDeleted
from app.openapi import Reply, operation
from app.pagination import Page, PageArgs
from app.queries.events import AsOfArgs, document_as_of

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
def index():
    """``[{id, name}]`` ordered by name, then id."""
    page = Page.from_request(key_arity=2)
    after = "WHERE (name, id) > (:name, :id)" if page.after else ""
    name, item_id = page.after or (None, None)
    with transaction("query") as tx:
        rows = tx.execute(
            f"SELECT json_object('id', id, 'name', name), name, id FROM item_list_view {after}"
            " ORDER BY name, id LIMIT :n",
            name=name,
            id=item_id,
            n=page.fetch,
        ).tuples()
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
def show(item_id: str):
    """``{id, name, description, price?}``; 404 if unknown. The document was rendered by the projection."""
    if "as_of" in request.args:
        return document_as_of("item", item_id, request.args["as_of"], ITEM, gone={ItemDeleted.type_name})
    with transaction("query") as tx:
        row = tx.first("SELECT document, version FROM item_details_view WHERE id = :id", id=item_id)
    if row is None:
        raise NotFound("item", item_id)
    return document_response(row.document, row.version)
