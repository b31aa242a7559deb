"""Orders, read side: GET /orders/<id>, GET /orders (``?status=``) and GET /users/<id>/orders,
each one indexed read of tables kept by projections, newest first where it is a list."""

import json

from flask import Blueprint
from marshmallow import fields, validate

from app.auth import personal
from app.contract import Reply, operation
from app.db import Tx, read, transaction
from app.errors import NotFound
from app.http import document_response
from app.messages.fields import money_sql
from app.messages.orders import (
    ORDER,
    ORDER_EXAMPLE,
    ORDER_SUMMARY,
    ORDER_SUMMARY_EXAMPLE,
    STATUSES,
    USER_ORDER_SUMMARY,
    USER_ORDER_SUMMARY_EXAMPLE,
)
from app.pagination import Page, PageArgs

routes = Blueprint("orders", __name__)

# The summaries' JSON, rendered by SQLite.
_SUMMARY = f"'status', status, 'placed_at', placed_at, 'item_count', item_count, 'total', {money_sql('total_cents')}"
ORDER_SUMMARY_JSON = f"json_object('id', id, 'user_id', user_id, {_SUMMARY})"
USER_ORDER_SUMMARY_JSON = f"json_object('id', id, {_SUMMARY})"


def _newest_first(tx: Tx, document: str, table: str, conditions: list[str], params: dict, page: Page) -> list[tuple]:
    """A page of ``table`` by (placed_at, id) descending, after the page's cursor: (document, placed_at, id) rows."""
    if page.after is not None:
        conditions = [*conditions, "(placed_at, id) < (:placed_at, :id)"]
        params = {**params, "placed_at": page.after[0], "id": page.after[1]}
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    return tx.execute(
        f"SELECT {document}, placed_at, id FROM {table} {where} ORDER BY placed_at DESC, id DESC LIMIT :n",
        n=page.fetch,
        **params,
    ).tuples()


class OrderListArgs(PageArgs):
    status = fields.String(
        validate=validate.OneOf(STATUSES), metadata={"description": "Only orders in this status.", "example": "placed"}
    )


@routes.get("/orders")
@operation(
    "List orders newest first, or those in one status",
    query=OrderListArgs,
    reply=Reply(
        "One page of orders, newest first",
        {"type": "array", "items": ORDER_SUMMARY},
        example=[ORDER_SUMMARY_EXAMPLE],
        headers=("Link",),
    ),
    errors=(400,),
)
def index(args: dict):
    """``[{id, user_id, status, placed_at, item_count, total}]``, newest first; ``?status=``
    keeps the orders in that status. 400 for an unknown status or a bad limit or cursor."""
    page = Page.of(args, key=(str, str))
    status = args.get("status")
    conditions, params = (["status = :status"], {"status": status}) if status else ([], {})
    with transaction("query") as tx:
        rows = _newest_first(tx, ORDER_SUMMARY_JSON, "order_list_view", conditions, params, page)
    return page.rendered(rows)


@routes.get("/users/<uuid:user_id>/orders")
@personal
@operation(
    "A user's order history, newest first",
    query=PageArgs,
    reply=Reply(
        "One page of the user's orders, newest first",
        {"type": "array", "items": USER_ORDER_SUMMARY},
        example=[USER_ORDER_SUMMARY_EXAMPLE],
        headers=("Link",),
    ),
    errors=(400, 404),
)
def history(user_id: str, args: dict):
    """The user's orders ``[{id, status, placed_at, item_count, total}]``, newest first;
    404 if the user is unknown (or deleted)."""
    page = Page.of(args, key=(str, str))
    with transaction("query") as tx:  # one snapshot: the user and their orders as of one moment
        known = tx.first("SELECT 1 FROM order_history_user_view WHERE id = :id", id=user_id)
        rows = _newest_first(
            tx, USER_ORDER_SUMMARY_JSON, "order_list_view", ["user_id = :user_id"], {"user_id": user_id}, page
        )
    if known is None:
        raise NotFound("user", user_id)
    return page.rendered(rows)


@routes.get("/orders/<uuid:order_id>")
@personal
@operation(
    "Read an order",
    reply=Reply("The order, with its user as they are now", ORDER, example=ORDER_EXAMPLE, headers=("ETag",)),
    if_none_match=True,
    errors=(400, 404),
)
def show(order_id: str):
    """``{id, status, placed_at, user: {id, name, email}, lines: [...], total, ...}``; 404 if unknown.

    The ETag changes exactly when the document does: ``"<version>"``, the order's version
    (what If-Match on ship and cancel compares), while the document shows the user as the
    order was placed; ``"<version>.<n>"`` once it has changed n times for its user.
    """
    # The state, not json_extract() of it: PostgreSQL has no JSON function of that name,
    # nor SQLite one of PostgreSQL's.
    found = read("SELECT document, version, state FROM order_details_view WHERE id = :id", id=order_id)
    if not found:
        raise NotFound("order", order_id)
    document, version, state = found[0]
    return document_response(document, version, _revision(json.loads(state).get("user_changes")))


def _revision(user_changes: int | None) -> int | None:
    """The ETag's revision: none while the user is shown as at placement. A row kept before
    changes were counted (NULL) may show a user renamed since its old "<version>" went out:
    ".0" keeps its tag apart from that one."""
    if user_changes is None:
        return 0
    return user_changes or None
