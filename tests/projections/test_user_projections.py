"""Feed user events to the projector and look at the rows it keeps."""

import json

from app.messages.users import UserDeleted, UserRegistered, UserUpdated
from tests.support import project, query

ADA = "7e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"


def feed(app, *stream: tuple[int, object]) -> None:
    """Append events to ADA's stream as a command would, then let the projector apply them."""
    project(app, *[("user", ADA, version, data) for version, data in stream])


def list_row(app) -> list[tuple]:
    return query(app, "SELECT id, first_name, last_name, email, email_key FROM user_list_view WHERE id = ?", ADA)


def details(app) -> tuple[int, dict]:
    version, document = query(app, "SELECT version, document FROM user_details_view WHERE id = ?", ADA)[0]
    return version, json.loads(document)


def test_a_registered_user_gets_a_list_row_with_the_email_as_given_and_its_lower_cased_key(app):
    feed(app, (1, UserRegistered("Ada", "Lovelace", "Ada@Example.COM")))
    assert list_row(app) == [(ADA, "Ada", "Lovelace", "Ada@Example.COM", "ada@example.com")]


def test_a_registered_user_gets_a_details_document(app):
    feed(app, (1, UserRegistered("Ada", "Lovelace", "Ada@Example.COM")))
    assert details(app) == (
        1,
        {"id": ADA, "first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Example.COM"},
    )


def test_an_update_replaces_the_list_row_and_the_document(app):
    feed(
        app,
        (1, UserRegistered("Ada", "Lovelace", "ada@example.com")),
        (2, UserUpdated("Augusta Ada", "King", "ADA@king.org")),
    )
    assert list_row(app) == [(ADA, "Augusta Ada", "King", "ADA@king.org", "ada@king.org")]
    assert details(app) == (
        2,
        {"id": ADA, "first_name": "Augusta Ada", "last_name": "King", "email": "ADA@king.org"},
    )


def test_a_deleted_user_leaves_both_views(app):
    feed(app, (1, UserRegistered("Ada", "Lovelace", "ada@example.com")), (2, UserDeleted()))
    assert list_row(app) == []
    assert query(app, "SELECT count(*) FROM user_details_view WHERE id = ?", ADA) == [(0,)]
