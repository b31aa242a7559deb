"""ETag, If-Match and If-None-Match: stale writers get 412, readers get 304."""

import pytest

from tests.support import BACON_ID, JOHN_DOE_ID, assert_problem, make_app, nothing_changes

RESOURCES = {
    "items": (BACON_ID, {"name": "Bacon", "description": "Crispy"}),
    "employees": (
        JOHN_DOE_ID,
        {"firstName": "John", "lastName": "Doe", "address": {"street": "1 Elm", "zip": "02112", "city": "Boston"}},
    ),
    "users": (None, {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}),
}


@pytest.fixture(params=list(RESOURCES))
def resource(request, client):
    """(url, body for PUT) of a seeded aggregate at version 1, for each module."""
    module = request.param
    ident, body = RESOURCES[module]
    if ident is None:  # no seed in this module: make one
        ident = client.post(f"/{module}", json={**body, "first_name": "Augusta"}).get_json()["id"]
    return f"/{module}/{ident}", body


def test_a_read_carries_the_version_as_its_etag(client, resource):
    url, _ = resource
    assert client.get(url).headers["ETag"] == '"1"'


def test_a_write_with_the_current_etag_succeeds_and_answers_the_new_one(client, resource):
    url, body = resource
    response = client.put(url, json=body, headers={"If-Match": '"1"'})
    assert response.status_code == 200
    assert response.headers["ETag"] == '"2"'
    assert client.get(url).headers["ETag"] == '"2"'


def test_a_write_with_a_stale_etag_answers_412_with_the_current_version_and_changes_nothing(app, client, resource):
    url, body = resource
    client.put(url, json=body)
    with nothing_changes(app):
        for response in (
            client.put(url, json={**body}, headers={"If-Match": '"1"'}),
            client.delete(url, headers={"If-Match": '"1"'}),
        ):
            assert assert_problem(response, 412)["current_version"] == 2
            assert response.headers["ETag"] == '"2"'


def test_a_star_or_no_if_match_means_last_writer_wins(client, resource):
    url, body = resource
    assert client.put(url, json=body, headers={"If-Match": "*"}).status_code == 200
    assert client.delete(url).status_code == 204


@pytest.mark.parametrize("header", ['W/"1"', '"1", "2"', "1", "abc"])
def test_if_match_takes_one_strong_tag_or_400(client, resource, header):
    url, body = resource
    assert client.put(url, json=body, headers={"If-Match": header}).status_code == 400


def test_creating_answers_the_first_etag(client):
    assert client.post("/items", json={"name": "Eggs", "description": ""}).headers["ETag"] == '"1"'


def test_a_read_with_the_current_etag_in_if_none_match_answers_304(client, resource):
    url, _ = resource
    for header in ('"1"', 'W/"1"', '"7", "1"', "*"):
        response = client.get(url, headers={"If-None-Match": header})
        assert response.status_code == 304
        assert response.get_data() == b""
        assert response.headers["ETag"] == '"1"'
    assert client.get(url, headers={"If-None-Match": '"2"'}).status_code == 200


def test_if_match_can_be_required(tmp_path):
    app = make_app(tmp_path, REQUIRE_IF_MATCH=True)
    client = app.test_client()
    with nothing_changes(app):
        response = client.put(f"/items/{BACON_ID}", json={"name": "Ham", "description": ""})
        assert client.delete(f"/items/{BACON_ID}").status_code == 428
    assert_problem(response, 428)
    assert client.put(f"/items/{BACON_ID}", json={"name": "Ham", "description": ""}, headers={"If-Match": '"1"'}).status_code == 200
