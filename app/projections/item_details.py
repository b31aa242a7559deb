"""item_details keeps item_details_view: each item's reply to GET /items/<id>, rendered ahead of time."""

from app.db import Tx
from app.eventlog import Recorded
from app.messages.items import ItemCreated, ItemDeleted, ItemUpdated, item_document
from app.projector import Projection


def on_item_saved(tx: Tx, e: Recorded) -> None:
    tx.execute(
        "INSERT INTO item_details_view (id, version, document) VALUES (:id, :version, :document)"
        " ON CONFLICT (id) DO UPDATE SET version = excluded.version, document = excluded.document",
        id=e.stream_id,
        version=e.version,
        document=item_document(e.stream_id, e.data),
    )


def on_item_deleted(tx: Tx, e: Recorded) -> None:
    tx.execute("DELETE FROM item_details_view WHERE id = :id", id=e.stream_id)


projection = Projection(
    "item_details",
    tables=["item_details_view"],
    handlers={ItemCreated: on_item_saved, ItemUpdated: on_item_saved, ItemDeleted: on_item_deleted},
)
