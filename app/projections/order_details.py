"""order_details keeps order_details_view: each order's reply to GET /orders/<id>, rendered
ahead of time, with its user's name and email as they are now.

The user part comes from this projection's own copy of users (order_details_user_view),
kept from the users module's events: when a user changes their name or email, every
document of theirs is rendered again; when a user is deleted, their orders stay, showing
the user's id with name and email null. Lines and prices are the OrderPlaced snapshot.

The order's version does not count those changes of its user, so the state counts them
(``user_changes``: the times the document changed for its user) for GET's ETag. A row kept
before they were counted has no ``user_changes`` until a rebuild.

Deleting a user erases their names and email (app/personal_data.py): a rebuild reads them as
placeholders, and cannot see which of their updates changed a document. So at the deletion
each of their orders' ``user_changes`` becomes the number of UserUpdated events seen of them
plus one, which the live projection and a rebuild count alike, and which is more than any
count before it (each change of a document took an update), so the ETag changes.
"""

import json

from app.db import Tx
from app.documents import encode
from app.eventlog import Recorded
from app.messages.orders import OrderCancelled, OrderPlaced, OrderShipped, customer_name, order_reply
from app.messages.users import UserDeleted, UserRegistered, UserUpdated
from app.projector import Projection


def _user(tx: Tx, user_id: str) -> dict:
    row = tx.first("SELECT name, email FROM order_details_user_view WHERE id = :id", id=user_id)
    name, email = row if row is not None else (None, None)
    return {"id": user_id, "name": name, "email": email}


def _save(tx: Tx, order_id: str, user_id: str, version: int, state: dict) -> None:
    tx.execute(
        "INSERT INTO order_details_view (id, user_id, version, state, document)"
        " VALUES (:id, :user_id, :version, :state, :document)"
        " ON CONFLICT (id) DO UPDATE SET version = excluded.version, state = excluded.state,"
        " document = excluded.document",
        id=order_id,
        user_id=user_id,
        version=version,
        state=encode(state),
        document=encode(order_reply(order_id, state, _user(tx, user_id))),
    )


def on_order_placed(tx: Tx, e: Recorded) -> None:
    placed = e.data
    state = {
        "status": "placed",
        "placed_at": placed.placed_at,
        "lines": placed.lines,
        "total_cents": placed.total_cents,
        "user_changes": 0,
    }
    _save(tx, e.stream_id, placed.user_id, e.version, state)


def _change(tx: Tx, e: Recorded, **changes) -> None:
    row = tx.first("SELECT user_id, state FROM order_details_view WHERE id = :id", id=e.stream_id)
    if row is not None:
        _save(tx, e.stream_id, row.user_id, e.version, {**json.loads(row.state), **changes})


def on_order_shipped(tx: Tx, e: Recorded) -> None:
    _change(tx, e, status="shipped", shipped_at=e.data.shipped_at)


def on_order_cancelled(tx: Tx, e: Recorded) -> None:
    _change(tx, e, status="cancelled", cancelled_at=e.data.cancelled_at, cancellation_reason=e.data.reason)


def _render_orders_of(tx: Tx, user_id: str, user_changes: int | None = None) -> None:
    """Render every order document of the user again, with the user as this projection knows
    them now, counting a change in each document that it changes (or setting the count to
    ``user_changes``, if given)."""
    user = _user(tx, user_id)
    rows = tx.all("SELECT id, state, document FROM order_details_view WHERE user_id = :user_id", user_id=user_id)
    changed = []
    for row in rows:
        state = json.loads(row.state)
        document = encode(order_reply(row.id, state, user))
        if user_changes is not None:
            state["user_changes"] = user_changes
            changed.append({"id": row.id, "state": encode(state), "document": document})
        elif document != row.document:  # "Ada" "Lovelace King" becoming "Ada Lovelace" "King" shows nothing new
            state["user_changes"] = state.get("user_changes", 0) + 1
            changed.append({"id": row.id, "state": encode(state), "document": document})
    tx.execute_many("UPDATE order_details_view SET state = :state, document = :document WHERE id = :id", changed)


def on_user_registered(tx: Tx, e: Recorded) -> None:
    tx.execute(
        "INSERT INTO order_details_user_view (id, name, email, updates) VALUES (:id, :name, :email, 0)",
        id=e.stream_id,
        name=customer_name(e.data.first_name, e.data.last_name),
        email=e.data.email,
    )


def on_user_updated(tx: Tx, e: Recorded) -> None:
    tx.execute(
        "UPDATE order_details_user_view SET name = :name, email = :email, updates = updates + 1 WHERE id = :id",
        id=e.stream_id,
        name=customer_name(e.data.first_name, e.data.last_name),
        email=e.data.email,
    )
    _render_orders_of(tx, e.stream_id)


def on_user_deleted(tx: Tx, e: Recorded) -> None:
    updates = tx.scalar("SELECT updates FROM order_details_user_view WHERE id = :id", id=e.stream_id)
    tx.execute("DELETE FROM order_details_user_view WHERE id = :id", id=e.stream_id)
    _render_orders_of(tx, e.stream_id, user_changes=None if updates is None else updates + 1)


projection = Projection(
    "order_details",
    tables=["order_details_view", "order_details_user_view"],
    handlers={
        OrderPlaced: on_order_placed,
        OrderShipped: on_order_shipped,
        OrderCancelled: on_order_cancelled,
        UserRegistered: on_user_registered,
        UserUpdated: on_user_updated,
        UserDeleted: on_user_deleted,
    },
    version=2,  # 2: counts each user's updates, for the orders of a user erased
)
