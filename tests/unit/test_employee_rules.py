"""The employee's input rules, checked on the schema alone (no app, no database)."""

import pytest
from marshmallow import ValidationError

from app.messages.employees import EMPLOYEE
from tests.support import employee_body


def load(**fields) -> dict:
    return EMPLOYEE.load(employee_body(**fields))


def errors_of(body: dict) -> dict:
    with pytest.raises(ValidationError) as caught:
        EMPLOYEE.load(body)
    return caught.value.normalized_messages()


def test_a_valid_body_loads_flat_with_the_address_fields_beside_the_names():
    assert load() == {
        "first_name": "Jane",
        "last_name": "Roe",
        "street": "1 Elm Street",
        "zip": "12345",
        "city": "Springfield",
    }


def test_every_field_is_trimmed_before_it_is_stored():
    loaded = load(firstName=" Jane ", lastName="\tRoe\n", street="  1 Elm Street ", zip=" 123 ", city=" Boston ")
    assert (loaded["first_name"], loaded["last_name"]) == ("Jane", "Roe")
    assert (loaded["street"], loaded["zip"], loaded["city"]) == ("1 Elm Street", "123", "Boston")


@pytest.mark.parametrize("field", ["firstName", "lastName"])
def test_names_are_required(field):
    body = employee_body()
    del body[field]
    assert errors_of(body)[field] == ["Missing data for required field."]


@pytest.mark.parametrize("field", ["street", "zip", "city"])
def test_every_address_field_is_required(field):
    body = employee_body()
    del body["address"][field]
    assert errors_of(body) == {"address": {field: ["Missing data for required field."]}}


def test_the_address_is_required_and_must_be_an_object():
    body = employee_body()
    del body["address"]
    assert errors_of(body) == {"address": ["Missing data for required field."]}
    assert "address" in errors_of({**body, "address": None})
    assert "address" in errors_of({**body, "address": "1 Elm Street, Springfield"})


@pytest.mark.parametrize("field", ["firstName", "lastName", "street", "zip", "city"])
@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_no_field_may_be_blank_after_trimming(field, blank):
    errors = errors_of(employee_body(**{field: blank}))
    assert field in (errors["address"] if field in ("street", "zip", "city") else errors)


@pytest.mark.parametrize(("field", "limit"), [("firstName", 100), ("lastName", 100)])
def test_names_have_at_most_100_characters(field, limit):
    assert load(**{field: "x" * limit})
    assert field in errors_of(employee_body(**{field: "x" * (limit + 1)}))


@pytest.mark.parametrize(("field", "limit"), [("street", 50), ("zip", 10), ("city", 50)])
def test_address_fields_have_at_most_the_sample_column_sizes(field, limit):
    assert load(**{field: "x" * limit})
    assert field in errors_of(employee_body(**{field: "x" * (limit + 1)}))["address"]


def test_the_length_is_counted_after_trimming():
    assert load(zip="  " + "1" * 10 + "  ")["zip"] == "1" * 10


@pytest.mark.parametrize("value", [None, 5, True, ["x"], {"a": 1}])
def test_every_field_must_be_a_string(value):
    body = employee_body(firstName=value, lastName=value, street=value, zip=value, city=value)
    errors = errors_of(body)
    assert {"firstName", "lastName"} <= set(errors)
    assert set(errors["address"]) == {"street", "zip", "city"}


def test_snake_case_names_are_not_this_contract():
    body = {"first_name": "Jane", "last_name": "Roe", "address": employee_body()["address"]}
    assert set(errors_of(body)) == {"firstName", "lastName", "first_name", "last_name"}


def test_unknown_fields_and_client_chosen_ids_are_rejected_also_inside_the_address():
    assert errors_of(employee_body(colour="red")) == {"colour": ["Unknown field."]}
    assert errors_of(employee_body(id="x")) == {"id": ["Unknown field."]}
    body = employee_body()
    assert errors_of({**body, "address": {**body["address"], "id": "x"}}) == {"address": {"id": ["Unknown field."]}}
    assert errors_of({**body, "address": {**body["address"], "state": "MA"}}) == {
        "address": {"state": ["Unknown field."]}
    }


def test_a_reply_nests_the_address_under_the_employee_id():
    flat = {"id": "e", "first_name": "Jane", "last_name": "Roe", "street": "1 Elm", "zip": "1", "city": "Boston"}
    assert EMPLOYEE.dump(flat) == {
        "id": "e",
        "firstName": "Jane",
        "lastName": "Roe",
        "address": {"id": "e", "street": "1 Elm", "zip": "1", "city": "Boston"},
    }
