"""POST, PUT and DELETE /users through the Flask test client: every status, and what each changes."""

import pytest

from tests.support import UNKNOWN_ID, assert_problem, create_user, events, last_data, nothing_changes, query

ADA = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}


def test_registering_a_user_answers_201_with_the_user_and_its_location(client):
    response = client.post("/users", json=ADA)
    assert response.status_code == 201
    user = response.get_json()
    assert user == {"id": user["id"], **ADA}
    assert response.headers["Location"] == f"/users/{user['id']}"


def test_a_registered_user_can_be_read_back_at_once(client):
    user = create_user(client)
    assert client.get(f"/users/{user['id']}").get_json() == user
    assert user in client.get("/users").get_json()


def test_registering_records_one_user_registered_event_with_names_and_email(app, client):
    user = create_user(client, email="Ada@Example.com")
    assert events(app)[-1][1:] == ("user", user["id"], 1, "UserRegistered")
    assert last_data(app) == '{"first_name":"Ada","last_name":"Lovelace","email":"Ada@Example.com"}'


def test_names_are_trimmed_and_the_email_is_kept_as_given(client):
    user = create_user(client, first_name=" Ada ", last_name="Lovelace\n", email="Ada.Lovelace@Example.COM")
    assert (user["first_name"], user["last_name"], user["email"]) == ("Ada", "Lovelace", "Ada.Lovelace@Example.COM")


@pytest.mark.parametrize("email", ["ada@example.com", "ADA@EXAMPLE.COM", "Ada@Example.Com"])
def test_registering_an_email_another_user_has_in_any_case_answers_409_and_changes_nothing(app, client, email):
    create_user(client)
    with nothing_changes(app):
        response = client.post("/users", json={"first_name": "Bob", "last_name": "Byron", "email": email})
    problem = assert_problem(response, 409, "email")
    assert problem["title"] == "Conflict"
    assert email in problem["detail"]


def test_a_deleted_users_email_can_be_registered_again(client):
    user = create_user(client)
    assert client.delete(f"/users/{user['id']}").status_code == 204
    again = client.post("/users", json={**ADA, "email": "ADA@example.com"})
    assert again.status_code == 201
    assert again.get_json()["id"] != user["id"]


def test_updating_a_user_answers_200_with_the_new_state(client):
    user = create_user(client)
    body = {"first_name": "Augusta Ada", "last_name": "King", "email": "ada@king.org"}
    response = client.put(f"/users/{user['id']}", json=body)
    assert response.status_code == 200
    assert response.get_json() == {"id": user["id"], **body}
    assert client.get(f"/users/{user['id']}").get_json() == response.get_json()


def test_an_update_records_user_updated_at_the_next_version(app, client):
    user = create_user(client)
    client.put(f"/users/{user['id']}", json={**ADA, "last_name": "King"})
    assert events(app)[-1][1:] == ("user", user["id"], 2, "UserUpdated")


def test_a_user_may_keep_their_email_in_another_case(app, client):
    user = create_user(client)
    response = client.put(f"/users/{user['id']}", json={**ADA, "email": "ADA@Example.com"})
    assert response.status_code == 200
    assert response.get_json()["email"] == "ADA@Example.com"
    assert events(app)[-1][1:] == ("user", user["id"], 2, "UserUpdated")


def test_taking_another_users_email_by_update_answers_409_and_changes_nothing(app, client):
    create_user(client)
    bob = create_user(client, first_name="Bob", last_name="Byron", email="bob@example.com")
    with nothing_changes(app):
        response = client.put(f"/users/{bob['id']}", json={**ADA, "email": "Ada@Example.com"})
    assert_problem(response, 409)


def test_a_users_old_email_is_free_once_they_change_it(client):
    user = create_user(client)
    client.put(f"/users/{user['id']}", json={**ADA, "email": "ada@king.org"})
    assert client.post("/users", json=ADA).status_code == 201


def test_deleting_a_user_records_user_deleted_and_removes_the_write_row(app, client):
    user = create_user(client)
    client.delete(f"/users/{user['id']}")
    assert events(app)[-1][1:] == ("user", user["id"], 2, "UserDeleted")
    assert query(app, "SELECT count(*) FROM users WHERE id = ?", user["id"]) == [(0,)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"last_name": "Lovelace", "email": "a@b.io"}, "first_name"),
        ({"first_name": "Ada", "email": "a@b.io"}, "last_name"),
        ({"first_name": "Ada", "last_name": "Lovelace"}, "email"),
        ({**ADA, "first_name": "   "}, "first_name"),
        ({**ADA, "last_name": "x" * 101}, "last_name"),
        ({**ADA, "first_name": 7}, "first_name"),
        ({**ADA, "email": "not-an-email"}, "email"),
        ({**ADA, "email": "ada@example"}, "email"),
        ({**ADA, "email": ""}, "email"),
        ({**ADA, "email": None}, "email"),
        ({**ADA, "email": "a" * 64 + "@" + ".".join(["b" * 62] * 3) + ".com"}, "email"),  # 257 characters
        ({**ADA, "firstName": "Ada"}, "firstName"),
        ({**ADA, "id": UNKNOWN_ID}, "id"),
    ],
)
def test_invalid_fields_answer_400_naming_each_field_and_change_nothing(app, client, body, field):
    user = create_user(client)
    with nothing_changes(app):
        for response in (client.post("/users", json=body), client.put(f"/users/{user['id']}", json=body)):
            assert_problem(response, 400, field)
