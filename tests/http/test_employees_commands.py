"""POST, PUT and DELETE /employees through the Flask test client: every status, and what each changes."""

import pytest

from tests.support import (
    BACON_ID,
    JOHN_DOE_ID,
    assert_problem,
    create_employee,
    employee_body,
    events,
    last_data,
    nothing_changes,
    query,
)


def test_hiring_an_employee_answers_201_with_the_employee_and_its_location(client):
    response = client.post("/employees", json=employee_body())
    assert response.status_code == 201
    employee = response.get_json()
    assert employee == {
        "id": employee["id"],
        "firstName": "Jane",
        "lastName": "Roe",
        "address": {"id": employee["id"], "street": "1 Elm Street", "zip": "12345", "city": "Springfield"},
    }
    assert response.headers["Location"] == f"/employees/{employee['id']}"


def test_a_hired_employee_can_be_read_back_at_once(client):
    employee = create_employee(client)
    assert client.get(f"/employees/{employee['id']}").get_json() == employee
    listed = {"id": employee["id"], "name": "Roe, Jane", "city": "Springfield"}
    assert listed in client.get("/employees").get_json()


def test_hiring_records_one_employee_hired_event_with_the_full_state(app, client):
    employee = create_employee(client)
    assert events(app)[-1][1:] == ("employee", employee["id"], 1, "EmployeeHired")
    assert last_data(app) == (
        '{"first_name":"Jane","last_name":"Roe","address":{"street":"1 Elm Street","zip":"12345","city":"Springfield"}}'
    )


def test_the_write_model_keeps_the_address_in_its_own_row_under_the_employee_id(app, client):
    employee = create_employee(client)
    assert query(app, "SELECT first_name, last_name, version FROM employees WHERE id = ?", employee["id"]) == [
        ("Jane", "Roe", 1)
    ]
    assert query(app, "SELECT street, zip, city FROM addresses WHERE id = ?", employee["id"]) == [
        ("1 Elm Street", "12345", "Springfield")
    ]


def test_fields_are_stored_trimmed(client):
    employee = create_employee(client, firstName=" Jane ", lastName="Roe\n", street=" 1 Elm ", zip=" 1 ", city=" Rome ")
    assert (employee["firstName"], employee["lastName"]) == ("Jane", "Roe")
    assert employee["address"] == {"id": employee["id"], "street": "1 Elm", "zip": "1", "city": "Rome"}


def test_updating_an_employee_answers_200_with_the_new_state(client):
    employee = create_employee(client)
    body = employee_body(firstName="Janet", lastName="Smith", street="2 Oak Road", zip="99", city="Shelbyville")
    response = client.put(f"/employees/{employee['id']}", json=body)
    assert response.status_code == 200
    assert response.get_json() == {
        "id": employee["id"],
        "firstName": "Janet",
        "lastName": "Smith",
        "address": {"id": employee["id"], "street": "2 Oak Road", "zip": "99", "city": "Shelbyville"},
    }
    assert client.get(f"/employees/{employee['id']}").get_json() == response.get_json()


def test_an_update_records_employee_updated_at_the_next_version(app, client):
    employee = create_employee(client)
    client.put(f"/employees/{employee['id']}", json=employee_body(city="Shelbyville"))
    assert events(app)[-1][1:] == ("employee", employee["id"], 2, "EmployeeUpdated")


def test_deleting_an_employee_records_employee_left_and_removes_the_address_with_it(app, client):
    employee = create_employee(client)
    client.delete(f"/employees/{employee['id']}")
    assert events(app)[-1][1:] == ("employee", employee["id"], 2, "EmployeeLeft")
    assert query(app, "SELECT count(*) FROM addresses WHERE id = ?", employee["id"]) == [(0,)]


def test_john_doe_and_the_bacon_item_share_an_id_but_not_a_stream(app, client):
    assert client.delete(f"/employees/{JOHN_DOE_ID}").status_code == 204
    assert client.get(f"/items/{BACON_ID}").status_code == 200
    assert client.put(f"/items/{BACON_ID}", json={"name": "Ham", "description": ""}).status_code == 200
    assert [e[1:] for e in events(app) if e[2] == JOHN_DOE_ID] == [
        ("item", BACON_ID, 1, "ItemCreated"),
        ("employee", JOHN_DOE_ID, 1, "EmployeeHired"),
        ("employee", JOHN_DOE_ID, 2, "EmployeeLeft"),
        ("item", BACON_ID, 2, "ItemUpdated"),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lastName": "Roe", "address": {"street": "1", "zip": "1", "city": "A"}}, "firstName"),
        ({"firstName": "Jane", "address": {"street": "1", "zip": "1", "city": "A"}}, "lastName"),
        ({"firstName": "Jane", "lastName": "Roe"}, "address"),
        (employee_body(address=None), "address"),
        (employee_body(address=["1 Elm Street"]), "address"),
        (employee_body(firstName="  "), "firstName"),
        (employee_body(lastName="x" * 101), "lastName"),
        (employee_body(firstName=42), "firstName"),
        (employee_body(street=""), "address"),
        (employee_body(street="x" * 51), "address"),
        (employee_body(zip="1" * 11), "address"),
        (employee_body(city="x" * 51), "address"),
        (employee_body(city=None), "address"),
        (employee_body(id=JOHN_DOE_ID), "id"),
        ({**employee_body(), "address": {**employee_body()["address"], "country": "US"}}, "address"),
    ],
)
def test_invalid_fields_answer_400_naming_each_field_and_change_nothing(app, client, body, field):
    with nothing_changes(app):
        for response in (client.post("/employees", json=body), client.put(f"/employees/{JOHN_DOE_ID}", json=body)):
            assert_problem(response, 400, field)


def test_an_invalid_address_field_is_named_inside_the_address(client):
    response = client.post("/employees", json=employee_body(zip="1" * 11))
    assert response.get_json()["errors"] == {"address": {"zip": ["Length must be between 1 and 10."]}}
