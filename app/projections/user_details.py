"""user_details keeps user_details_view: each user's reply to GET /users/<id>, rendered ahead of time."""

from app.db import Tx
from app.eventlog import Recorded
from app.messages.users import UserDeleted, UserRegistered, UserUpdated, user_document
from app.projector import Projection


def on_user_saved(tx: Tx, e: Recorded) -> None:
    tx.execute(
        "INSERT INTO user_details_view (id, version, document) VALUES (:id, :version, :document)"
        " ON CONFLICT (id) DO UPDATE SET version = excluded.version, document = excluded.document",
        id=e.stream_id,
        version=e.version,
        document=user_document(e.stream_id, e.data),
    )


def on_user_deleted(tx: Tx, e: Recorded) -> None:
    tx.execute("DELETE FROM user_details_view WHERE id = :id", id=e.stream_id)


projection = Projection(
    "user_details",
    tables=["user_details_view"],
    handlers={UserRegistered: on_user_saved, UserUpdated: on_user_saved, UserDeleted: on_user_deleted},
)
