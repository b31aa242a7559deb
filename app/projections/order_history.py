"""order_history keeps order_history_user_view: the users whose order history can be read,
from the users module's events, so that the history of an unknown or deleted user is a 404
and not an empty list. The history's rows are order_list_view's, read by user
(order_list_view_by_user)."""

from app.db import Tx
from app.eventlog import Recorded
from app.messages.users import UserDeleted, UserRegistered
from app.projector import Projection


def on_user_registered(tx: Tx, e: Recorded) -> None:
    tx.execute("INSERT INTO order_history_user_view (id) VALUES (:id)", id=e.stream_id)


def on_user_deleted(tx: Tx, e: Recorded) -> None:
    tx.execute("DELETE FROM order_history_user_view WHERE id = :id", id=e.stream_id)


projection = Projection(
    "order_history",
    tables=["order_history_user_view"],
    handlers={UserRegistered: on_user_registered, UserDeleted: on_user_deleted},
)
