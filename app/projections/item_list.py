"""item_list keeps item_list_view: one ``{id, name}`` row per item, indexed in name order."""

from app.db import Tx
from app.eventlog import Recorded
from app.messages.items import ItemCreated, ItemDeleted, ItemUpdated
from app.projector import Projection


def on_item_created(tx: Tx, e: Recorded) -> None:
    tx.execute("INSERT INTO item_list_view (id, name) VALUES (:id, :name)", id=e.stream_id, name=e.data.name)


def on_item_updated(tx: Tx, e: Recorded) -> None:
    tx.execute("UPDATE item_list_view SET name = :name WHERE id = :id", id=e.stream_id, name=e.data.name)


def on_item_deleted(tx: Tx, e: Recorded) -> None:
    tx.execute("DELETE FROM item_list_view WHERE id = :id", id=e.stream_id)


projection = Projection(
    "item_list",
    tables=["item_list_view"],
    handlers={ItemCreated: on_item_created, ItemUpdated: on_item_updated, ItemDeleted: on_item_deleted},
)
