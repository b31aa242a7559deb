"""GET /users and GET /users/<id> through the Flask test client."""

import pytest

from tests.support import create_user


def test_a_user_is_readable_by_id(client):
    user = create_user(client)
    response = client.get(f"/users/{user['id']}")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "id": user["id"],
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
    }


def test_users_are_listed_by_last_name_then_first_name(client):
    for n, (first, last) in enumerate([("Zoe", "Adams"), ("Amy", "Young"), ("Bob", "Adams"), ("Al", "Moss")]):
        create_user(client, first_name=first, last_name=last, email=f"u{n}@example.com")
    names = [(u["last_name"], u["first_name"]) for u in client.get("/users").get_json()]
    assert names == [("Adams", "Bob"), ("Adams", "Zoe"), ("Moss", "Al"), ("Young", "Amy")]


@pytest.mark.parametrize("email", ["ada@example.com", "ADA@EXAMPLE.COM", "Ada@eXample.com"])
def test_the_email_filter_finds_the_user_whatever_the_case(client, email):
    ada = create_user(client, email="Ada@Example.com")
    create_user(client, first_name="Bob", email="bob@example.com")
    assert client.get("/users", query_string={"email": email}).get_json() == [ada]


def test_the_email_filter_gives_an_empty_list_for_an_unknown_email(client):
    create_user(client)
    response = client.get("/users?email=nobody@example.com")
    assert response.status_code == 200
    assert response.get_json() == []


def test_the_email_filter_follows_an_email_change(client):
    user = create_user(client)
    client.put(f"/users/{user['id']}", json={"first_name": "Ada", "last_name": "King", "email": "ada@king.org"})
    assert client.get("/users?email=ada@example.com").get_json() == []
    assert [u["id"] for u in client.get("/users?email=ADA@KING.ORG").get_json()] == [user["id"]]
