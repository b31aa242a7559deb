"""Feed item events to the projector and look at the rows it keeps."""

import json

from app.messages.items import ItemCreated, ItemDeleted, ItemUpdated
from tests.support import BACON_ID, project, query

EGGS = "0b3c1f9e-7d44-4c55-9c7a-2b1f4e6d8a90"


def feed(app, *stream: tuple[int, object]) -> None:
    """Append events to the EGGS stream as a command would, then let the projector apply them."""
    project(app, *[("item", EGGS, version, data) for version, data in stream])


def test_a_created_item_gets_a_list_row_and_a_details_document(app):
    feed(app, (1, ItemCreated("Eggs", "A dozen", 250)))
    assert query(app, "SELECT id, name FROM item_list_view WHERE id = ?", EGGS) == [(EGGS, "Eggs")]
    version, document = query(app, "SELECT version, document FROM item_details_view WHERE id = ?", EGGS)[0]
    assert version == 1
    assert json.loads(document) == {"id": EGGS, "name": "Eggs", "description": "A dozen", "price": 2.5}


def test_an_update_replaces_the_name_and_the_document(app):
    feed(app, (1, ItemCreated("Eggs", "A dozen", None)), (2, ItemUpdated("Ham", "Smoked", None)))
    assert query(app, "SELECT name FROM item_list_view WHERE id = ?", EGGS) == [("Ham",)]
    version, document = query(app, "SELECT version, document FROM item_details_view WHERE id = ?", EGGS)[0]
    assert (version, json.loads(document)) == (2, {"id": EGGS, "name": "Ham", "description": "Smoked"})


def test_a_deleted_item_leaves_both_views(app):
    feed(app, (1, ItemCreated("Eggs", "", None)), (2, ItemDeleted()))
    assert query(app, "SELECT count(*) FROM item_list_view WHERE id = ?", EGGS) == [(0,)]
    assert query(app, "SELECT count(*) FROM item_details_view WHERE id = ?", EGGS) == [(0,)]


def test_the_seed_is_projected_like_any_other_event(app):
    assert query(app, "SELECT name FROM item_list_view WHERE id = ?", BACON_ID) == [("Bacon",)]
