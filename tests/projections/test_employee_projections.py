"""Feed employee events to the projector and look at the rows it keeps."""

import json

from app.messages.employees import EmployeeHired, EmployeeLeft, EmployeeUpdated, address
from tests.support import JOHN_DOE, JOHN_DOE_ID, project, query

JANE = "5d0c7c1e-2f3a-4b5c-8d9e-0a1b2c3d4e5f"


def feed(app, *stream: tuple[int, object]) -> None:
    """Append events to JANE's stream as a command would, then let the projector apply them."""
    project(app, *[("employee", JANE, version, data) for version, data in stream])


def details(app, employee_id: str) -> tuple[int, dict]:
    version, document = query(app, "SELECT version, document FROM employee_details_view WHERE id = ?", employee_id)[0]
    return version, json.loads(document)


def test_a_hired_employee_gets_a_list_row_with_the_ready_made_name_and_city(app):
    feed(app, (1, EmployeeHired("Jane", "Roe", address("1 Elm Street", "12345", "Springfield"))))
    assert query(app, "SELECT id, name, city FROM employee_list_view WHERE id = ?", JANE) == [
        (JANE, "Roe, Jane", "Springfield")
    ]


def test_a_hired_employee_gets_a_details_document_with_the_nested_address(app):
    feed(app, (1, EmployeeHired("Jane", "Roe", address("1 Elm Street", "12345", "Springfield"))))
    assert details(app, JANE) == (
        1,
        {
            "id": JANE,
            "firstName": "Jane",
            "lastName": "Roe",
            "address": {"id": JANE, "street": "1 Elm Street", "zip": "12345", "city": "Springfield"},
        },
    )


def test_an_update_replaces_the_list_row_and_the_document(app):
    feed(
        app,
        (1, EmployeeHired("Jane", "Roe", address("1 Elm Street", "12345", "Springfield"))),
        (2, EmployeeUpdated("Janet", "Smith", address("2 Oak Road", "99", "Shelbyville"))),
    )
    assert query(app, "SELECT name, city FROM employee_list_view WHERE id = ?", JANE) == [
        ("Smith, Janet", "Shelbyville")
    ]
    version, document = details(app, JANE)
    assert (version, document["lastName"], document["address"]["street"]) == (2, "Smith", "2 Oak Road")


def test_an_employee_who_left_leaves_both_views(app):
    feed(app, (1, EmployeeHired("Jane", "Roe", address("1 Elm", "1", "Springfield"))), (2, EmployeeLeft()))
    assert query(app, "SELECT count(*) FROM employee_list_view WHERE id = ?", JANE) == [(0,)]
    assert query(app, "SELECT count(*) FROM employee_details_view WHERE id = ?", JANE) == [(0,)]


def test_the_seeded_john_doe_is_projected_like_any_other_event(app):
    assert query(app, "SELECT name, city FROM employee_list_view WHERE id = ?", JOHN_DOE_ID) == [
        ("Doe, John", "Boston")
    ]
    assert details(app, JOHN_DOE_ID) == (1, JOHN_DOE)


def test_item_events_with_the_same_stream_id_do_not_reach_the_employee_views(app):
    assert query(app, "SELECT count(*) FROM employee_list_view") == [(1,)]  # John Doe only, not Bacon
