"""Ids in paths, checked on every route that takes one: an unknown id answers 404, one that is
not a UUID 400, and an upper-case one finds the same resource."""

import pytest

from tests.device_support import create_device
from tests.order_support import an_order
from tests.support import (
    BACON_ID,
    JOHN_DOE,
    UNKNOWN_ID,
    assert_problem,
    create_user,
    employee_body,
    nothing_changes,
)

ITEM = {"name": "Ham", "description": ""}
USER = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}
READING = {"metric": "t", "value": 1}
MODULES = ["items", "employees", "users", "orders", "devices"]

# Reads and commands as (method, path with {id}, JSON body or None).
READS = [
    *[("GET", f"/{module}/{{id}}", None) for module in MODULES],
    ("GET", "/users/{id}/orders", None),
    ("GET", "/devices/{id}/telemetry?metric=t", None),
    *[("GET", f"/{module}/{{id}}/history", None) for module in MODULES],
]
COMMANDS = [
    ("PUT", "/items/{id}", ITEM),
    ("DELETE", "/items/{id}", None),
    ("PUT", "/employees/{id}", employee_body()),
    ("DELETE", "/employees/{id}", None),
    ("PUT", "/users/{id}", USER),
    ("DELETE", "/users/{id}", None),
    ("POST", "/orders/{id}/ship", None),
    ("POST", "/orders/{id}/cancel", None),
    ("POST", "/devices/{id}/telemetry", READING),
    ("POST", "/devices/{id}/decommission", None),
]


def route_id(route: tuple) -> str:
    method, path, _ = route
    return f"{method} {path}"


def send(client, route: tuple, ident: str):
    method, path, body = route
    return client.open(path.format(id=ident), method=method, json=body)


@pytest.mark.parametrize("route", READS, ids=route_id)
def test_a_read_of_an_unknown_id_answers_404(client, route):
    assert_problem(send(client, route, UNKNOWN_ID), 404)


@pytest.mark.parametrize("route", COMMANDS, ids=route_id)
def test_a_command_on_an_unknown_id_answers_404_naming_it_and_changes_nothing(app, client, route):
    with nothing_changes(app):
        problem = assert_problem(send(client, route, UNKNOWN_ID), 404)
    assert UNKNOWN_ID in problem["detail"]


@pytest.mark.parametrize("bad_id", ["42", "not-a-uuid", f"{UNKNOWN_ID}0"])
@pytest.mark.parametrize("route", READS + COMMANDS, ids=route_id)
def test_an_id_that_is_not_a_uuid_answers_400(app, client, route, bad_id):
    with nothing_changes(app):
        assert_problem(send(client, route, bad_id), 400)


def seeded_bacon(client) -> dict:
    return {"id": BACON_ID, "name": "Bacon", "description": "Everything tastes better, with bacon 🥓"}


# Each makes (or finds) one resource of its module and returns what a read of it shows.
RESOURCES = {
    "items": seeded_bacon,
    "employees": lambda client: JOHN_DOE,
    "users": create_user,
    "orders": an_order,
    "devices": create_device,  # the read adds status and statistics
}


@pytest.mark.parametrize("module", MODULES)
def test_an_upper_case_id_finds_the_same_resource(client, module):
    made = RESOURCES[module](client)
    response = client.get(f"/{module}/{made['id'].upper()}")
    assert response.status_code == 200
    assert response.get_json() == client.get(f"/{module}/{made['id']}").get_json()
    assert {name: response.get_json()[name] for name in made} == made
