"""order_list keeps order_list_view: one row per order, indexed by (placed_at, id) for
GET /orders, by (status, placed_at, id) for GET /orders?status= and by (user_id, placed_at,
id) for GET /users/<id>/orders, each read newest first. A deleted user's orders stay: the
list shows them, and order_history makes that user's history a 404."""

from app.db import Tx
from app.eventlog import Recorded
from app.messages.orders import OrderCancelled, OrderPlaced, OrderShipped, item_count
from app.projector import Projection


def on_order_placed(tx: Tx, e: Recorded) -> None:
    tx.execute(
        "INSERT INTO order_list_view (id, user_id, placed_at, status, item_count, total_cents)"
        " VALUES (:id, :user_id, :placed_at, 'placed', :item_count, :total_cents)",
        id=e.stream_id,
        user_id=e.data.user_id,
        placed_at=e.data.placed_at,
        item_count=item_count(e.data.lines),
        total_cents=e.data.total_cents,
    )


def on_order_shipped(tx: Tx, e: Recorded) -> None:
    tx.execute("UPDATE order_list_view SET status = 'shipped' WHERE id = :id", id=e.stream_id)


def on_order_cancelled(tx: Tx, e: Recorded) -> None:
    tx.execute("UPDATE order_list_view SET status = 'cancelled' WHERE id = :id", id=e.stream_id)


projection = Projection(
    "order_list",
    tables=["order_list_view"],
    handlers={OrderPlaced: on_order_placed, OrderShipped: on_order_shipped, OrderCancelled: on_order_cancelled},
)
