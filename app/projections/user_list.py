"""user_list keeps user_list_view: one row per user, indexed by (last name, first name, id)
for the list and by the lower-cased email for ``?email=`` lookups."""

from app.db import Tx
from app.eventlog import Recorded
from app.messages.users import UserDeleted, UserRegistered, UserUpdated, email_key
from app.projector import Projection


def on_user_registered(tx: Tx, e: Recorded) -> None:
    tx.execute(
        "INSERT INTO user_list_view (id, first_name, last_name, email, email_key)"
        " VALUES (:id, :first_name, :last_name, :email, :email_key)",
        id=e.stream_id,
        first_name=e.data.first_name,
        last_name=e.data.last_name,
        email=e.data.email,
        email_key=email_key(e.data.email),
    )


def on_user_updated(tx: Tx, e: Recorded) -> None:
    tx.execute(
        "UPDATE user_list_view SET first_name = :first_name, last_name = :last_name, email = :email,"
        " email_key = :email_key WHERE id = :id",
        id=e.stream_id,
        first_name=e.data.first_name,
        last_name=e.data.last_name,
        email=e.data.email,
        email_key=email_key(e.data.email),
    )


def on_user_deleted(tx: Tx, e: Recorded) -> None:
    tx.execute("DELETE FROM user_list_view WHERE id = :id", id=e.stream_id)


projection = Projection(
    "user_list",
    tables=["user_list_view"],
    handlers={UserRegistered: on_user_registered, UserUpdated: on_user_updated, UserDeleted: on_user_deleted},
)
