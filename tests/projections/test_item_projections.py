"""Feed item events to the projector and look at the rows it keeps."""

import json

from app import eventlog
from app.db import transaction
from app.messages.items import ItemCreated, ItemDeleted, ItemUpdated
from tests.support import BACON_ID, query, read_model

EGGS = "0b3c1f9e-7d44-4c55-9c7a-2b1f4e6d8a90"


def feed(app, *stream: tuple[int, object]) -> None:
    """Append events to the EGGS stream as a command would, then let the projector apply them."""
    with app.app_context():
        with transaction("command") as tx:
            for version, data in stream:
                eventlog.append(tx, "item", EGGS, version, data, None)
        app.extensions["projector"].catch_up()


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


def test_catching_up_again_changes_nothing(app):
    feed(app, (1, ItemCreated("Eggs", "", None)), (2, ItemUpdated("Ham", "", 1)))
    before = read_model(app)
    with app.app_context():
        assert app.extensions["projector"].catch_up() == 0
    assert read_model(app) == before


def test_a_rebuild_from_the_log_gives_the_same_rows(app):
    feed(app, (1, ItemCreated("Eggs", "", None)), (2, ItemUpdated("Ham", "", 1)))
    before = read_model(app)
    with app.app_context():
        app.extensions["projector"].rebuild()
    assert read_model(app) == before


def test_checkpoints_stand_at_the_head_of_the_log_after_catching_up(app):
    feed(app, (1, ItemCreated("Eggs", "", None)))
    (head,) = query(app, "SELECT max(position) FROM events")[0]
    checkpoints = "SELECT name, position FROM projection_checkpoints WHERE name IN ('item_details', 'item_list')"
    assert dict(query(app, checkpoints)) == {
        "item_details": head,
        "item_list": head,
    }
