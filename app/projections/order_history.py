"""order_history keeps order_history_view: each user's orders as rows indexed by
(user_id, placed_at, id), so GET /users/<id>/orders is one index range read newest first.

It also keeps the users it knows (order_history_user_view), from the users module's
events, so that the history of an unknown or deleted user is a 404 and not an empty list;
a deleted user's rows go with them.
"""

from app.db import Tx
from app.eventlog import Recorded
from app.messages.orders import OrderCancelled, OrderPlaced, OrderShipped, item_count
from app.messages.users import UserDeleted, UserRegistered
from app.projector import Projection


def on_user_registered(tx: Tx, e: Recorded) -> None:
    tx.execute("INSERT INTO order_history_user_view (id) VALUES (:id)", id=e.stream_id)


def on_user_deleted(tx: Tx, e: Recorded) -> None:
    tx.execute("DELETE FROM order_history_user_view WHERE id = :id", id=e.stream_id)
    tx.execute("DELETE FROM order_history_view WHERE user_id = :user_id", user_id=e.stream_id)


def on_order_placed(tx: Tx, e: Recorded) -> None:
    tx.execute(
        "INSERT INTO order_history_view (id, user_id, placed_at, status, item_count, total_cents)"
        " VALUES (:id, :user_id, :placed_at, 'placed', :item_count, :total_cents)",
        id=e.stream_id,
        user_id=e.data.user_id,
        placed_at=e.data.placed_at,
        item_count=item_count(e.data.lines),
        total_cents=e.data.total_cents,
    )


def on_order_shipped(tx: Tx, e: Recorded) -> None:
    tx.execute("UPDATE order_history_view SET status = 'shipped' WHERE id = :id", id=e.stream_id)


def on_order_cancelled(tx: Tx, e: Recorded) -> None:
    tx.execute("UPDATE order_history_view SET status = 'cancelled' WHERE id = :id", id=e.stream_id)


projection = Projection(
    "order_history",
    tables=["order_history_view", "order_history_user_view"],
    handlers={
        UserRegistered: on_user_registered,
        UserDeleted: on_user_deleted,
        OrderPlaced: on_order_placed,
        OrderShipped: on_order_shipped,
        OrderCancelled: on_order_cancelled,
    },
)
