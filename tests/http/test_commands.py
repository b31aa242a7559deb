"""What every command shares, checked once per command: the bodies it refuses before reading
them (not JSON, not one clean JSON object, too big, an unknown field) and where its Location
points; and, in the modules that have them, no-op updates, deletes and changes to the seeds."""

import json

import pytest

from app.db import dispose
from tests.support import (
    BACON_ID,
    JOHN_DOE_ID,
    Ids,
    assert_problem,
    create_employee,
    create_item,
    create_user,
    employee_body,
    make_app,
    nothing_changes,
)


# Every command that takes a body, by method and route: its path and a body it accepts, given
# the ids of what it refers to.
COMMANDS = {
    "POST /items": ("/items", lambda ids: {"name": "Eggs", "description": "A dozen"}),
    "PUT /items/<id>": (f"/items/{BACON_ID}", lambda ids: {"name": "Ham", "description": ""}),
    "POST /employees": ("/employees", lambda ids: employee_body()),
    "PUT /employees/<id>": (f"/employees/{JOHN_DOE_ID}", lambda ids: employee_body(city="Rome")),
    "POST /users": ("/users", lambda ids: {"first_name": "Bob", "last_name": "B", "email": "bob@example.com"}),
    "PUT /users/<id>": ("/users/{user}", lambda ids: {"first_name": "Al", "last_name": "K", "email": "k@example.com"}),
    "POST /orders": (
        "/orders",
        lambda ids: {"user_id": ids["user"], "lines": [{"item_id": ids["item"], "quantity": 1}]},
    ),
    "POST /orders/<id>/cancel": ("/orders/{order}/cancel", lambda ids: {"reason": "found it cheaper"}),
    "POST /devices": ("/devices", lambda ids: {"name": "Pump", "kind": "meter"}),
    "POST /devices/<id>/telemetry": (
        "/devices/{device}/telemetry",
        lambda ids: {"readings": [{"metric": "t", "value": 1}]},
    ),
}
CREATES = {module: f"POST /{module}" for module in ("items", "employees", "users", "orders", "devices")}


def command(name: str, ids: Ids) -> tuple[str, str, dict]:
    """(method, path, accepted body) of the named command, with what it refers to made."""
    path, body = COMMANDS[name]
    return name.split()[0], path.format_map(ids), body(ids)


def send(client, method: str, path: str, data, content_type: str | None = "application/json", **kwargs):
    return client.open(path, method=method, data=data, content_type=content_type, **kwargs)


@pytest.fixture(scope="module", params=list(COMMANDS))
def refusing(request, tmp_path_factory):
    """(app, client, method, path, accepted body) of a command, on an app of its own shared by
    the tests of bodies it refuses: each checks that it changed nothing."""
    app = make_app(tmp_path_factory.mktemp("commands"), LOG_FORMAT="json")
    client = app.test_client()
    yield app, client, *command(request.param, Ids(client))
    with app.app_context():
        dispose()


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_accepts_the_body_these_tests_start_from(client, name):
    method, path, body = command(name, Ids(client))
    assert send(client, method, path, json.dumps(body)).status_code in (200, 201, 202)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_not_declared_json_answers_415_and_changes_nothing(refusing, content_type):
    app, client, method, path, body = refusing
    with nothing_changes(app):
        assert_problem(send(client, method, path, json.dumps(body), content_type), 415)


def key_given_twice(body: dict) -> bytes:
    """The body with its first key given once more before it: taking the last value would accept it."""
    return ('{"%s": null, ' % next(iter(body)) + json.dumps(body)[1:]).encode()


NOT_ONE_CLEAN_JSON_OBJECT = {
    "cut short": lambda body: json.dumps(body)[:-1].encode(),
    "an array": lambda body: json.dumps([body]).encode(),
    "a string": lambda body: json.dumps(json.dumps(body)).encode(),
    "null": lambda body: b"null",
    "not UTF-8": lambda body: b"\xff\xfe" + json.dumps(body).encode(),
    "a key given twice": key_given_twice,
    "NaN": lambda body: json.dumps({**body, next(iter(body)): float("nan")}).encode(),
    "nested 40 deep": lambda body: b'{"a":' * 40 + b"1" + b"}" * 40,
    "nested 100,000 deep": lambda body: b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("kind", NOT_ONE_CLEAN_JSON_OBJECT)
def test_a_body_that_is_not_one_clean_json_object_answers_400_and_changes_nothing(refusing, kind):
    app, client, method, path, body = refusing
    with nothing_changes(app):
        assert_problem(send(client, method, path, NOT_ONE_CLEAN_JSON_OBJECT[kind](body)), 400)


def test_a_body_over_the_size_limit_answers_413_and_changes_nothing(refusing):
    app, client, method, path, body = refusing
    huge = '{"padding": "' + "x" * (1024 * 1024) + '", ' + json.dumps(body)[1:]
    with nothing_changes(app):
        assert_problem(send(client, method, path, huge), 413)


def test_an_unknown_field_answers_400_naming_it_and_changes_nothing(refusing):
    app, client, method, path, body = refusing
    with nothing_changes(app):
        assert_problem(send(client, method, path, json.dumps({**body, "colour": "red"})), 400, "colour")


@pytest.mark.parametrize("module", CREATES)
def test_the_location_follows_the_public_path_prefix(client, module):
    method, path, body = command(CREATES[module], Ids(client))
    response = send(client, method, path, json.dumps(body), base_url="http://localhost/api/")
    assert response.status_code == 201
    assert response.headers["Location"].startswith(f"/api/{module}/")


# The modules whose resources are deleted: how to make one, and a body that changes nothing of it.
DELETABLE = {
    "items": (create_item, {"name": "Eggs", "description": "A dozen"}),
    "employees": (create_employee, employee_body(firstName=" Jane ")),
    "users": (create_user, {"first_name": " Ada ", "last_name": "Lovelace", "email": "ada@example.com"}),
}


@pytest.mark.parametrize("module", DELETABLE)
def test_an_update_that_changes_nothing_answers_200_and_records_nothing(app, client, module):
    make, same = DELETABLE[module]
    resource = make(client)
    with nothing_changes(app):
        response = client.put(f"/{module}/{resource['id']}", json=same)
    assert response.status_code == 200
    assert response.get_json() == resource


@pytest.mark.parametrize("module", DELETABLE)
def test_deleting_answers_204_without_content_and_removes_it_from_both_views(client, module):
    listed = client.get(f"/{module}").get_json()
    resource = DELETABLE[module][0](client)
    response = client.delete(f"/{module}/{resource['id']}")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert "Content-Type" not in response.headers
    assert client.get(f"/{module}/{resource['id']}").status_code == 404
    assert client.get(f"/{module}").get_json() == listed


@pytest.mark.parametrize("module", DELETABLE)
def test_deleting_twice_answers_404_the_second_time_and_changes_nothing(app, client, module):
    resource = DELETABLE[module][0](client)
    assert client.delete(f"/{module}/{resource['id']}").status_code == 204
    with nothing_changes(app):
        assert_problem(client.delete(f"/{module}/{resource['id']}"), 404)


# The seeds (migrations.sql) and a change to each.
SEEDED = {
    "items": (BACON_ID, {"name": "Bacon", "description": "Crispy"}),
    "employees": (
        JOHN_DOE_ID,
        employee_body(firstName="John", lastName="Doe", street="1234 Main Street", zip="02112", city="Cambridge"),
    ),
}


@pytest.mark.parametrize("module", SEEDED)
def test_a_seeded_resource_can_be_updated_and_deleted(client, module):
    ident, body = SEEDED[module]
    assert client.put(f"/{module}/{ident}", json=body).status_code == 200
    assert client.delete(f"/{module}/{ident}").status_code == 204
