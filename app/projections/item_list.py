"""item_list keeps item_list_view: one row per item with its entry of GET /items rendered
(``{id, name}``), indexed in name order with the entry, so a page is one range of the index."""

from app.db import Tx
from app.eventlog import Recorded
from app.messages.items import ItemCreated, ItemDeleted, ItemUpdated, item_summary
from app.projector import Projection


def on_item_created(tx: Tx, e: Recorded) -> None:
    tx.execute(
        "INSERT INTO item_list_view (id, name, summary) VALUES (:id, :name, :summary)",
        id=e.stream_id,
        name=e.data.name,
        summary=item_summary(e.stream_id, e.data.name),
    )


def on_item_updated(tx: Tx, e: Recorded) -> None:
    tx.execute(
        "UPDATE item_list_view SET name = :name, summary = :summary WHERE id = :id",
        id=e.stream_id,
        name=e.data.name,
        summary=item_summary(e.stream_id, e.data.name),
    )


def on_item_deleted(tx: Tx, e: Recorded) -> None:
    tx.execute("DELETE FROM item_list_view WHERE id = :id", id=e.stream_id)


# Version 2: each row keeps its rendered entry (the list joins them as they are).
projection = Projection(
    "item_list",
    tables=["item_list_view"],
    handlers={ItemCreated: on_item_created, ItemUpdated: on_item_updated, ItemDeleted: on_item_deleted},
    version=2,
)
