"""GET /items and GET /items/<id> through the Flask test client."""

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support import BACON_ID, UNKNOWN_ID, all_pages, create_item, next_link


def test_the_seeded_bacon_is_listed_and_readable(client):
    assert client.get("/items").get_json() == [{"id": BACON_ID, "name": "Bacon"}]
    response = client.get(f"/items/{BACON_ID}")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "id": BACON_ID,
        "name": "Bacon",
        "description": "Everything tastes better, with bacon 🥓",
    }


def test_items_are_listed_by_name(client):
    for name in ["Toast", "Apple", "Milk"]:
        create_item(client, name=name)
    assert [i["name"] for i in client.get("/items").get_json()] == ["Apple", "Bacon", "Milk", "Toast"]


def test_an_unknown_item_answers_404(client):
    response = client.get(f"/items/{UNKNOWN_ID}")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_an_id_that_is_not_a_uuid_answers_400(client):
    response = client.get("/items/42")
    assert response.status_code == 400
    assert response.get_json()["status"] == 400


def test_an_upper_case_id_finds_the_same_item(client):
    assert client.get(f"/items/{BACON_ID.upper()}").get_json()["id"] == BACON_ID


def test_pages_follow_the_link_header_through_every_item_exactly_once(client):
    for n in range(11):
        create_item(client, name=f"Item {n % 4}")  # repeated names: the id breaks ties
    seen, pages = all_pages(client, "/items?limit=3")
    assert pages == 4
    assert seen == client.get("/items").get_json()
    assert len({i["id"] for i in seen}) == 12


def test_the_last_page_has_no_link_header(client):
    response = client.get("/items?limit=1")
    assert response.get_json() == [{"id": BACON_ID, "name": "Bacon"}]
    assert "Link" not in response.headers


def test_the_next_link_is_on_this_host_and_keeps_the_limit(client):
    create_item(client)
    url = next_link(client.get("/items?limit=1"))
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("", "", "/items")
    assert parse_qs(parts.query)["limit"] == ["1"]


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "ten", "1.5", "", "٣"])
def test_a_limit_outside_1_to_1000_answers_400(client, limit):
    response = client.get(f"/items?limit={limit}")
    assert response.status_code == 400
    assert "limit" in response.get_json()["errors"]


# The last one is ["a", 2**63]: an integer SQLite cannot hold.
@pytest.mark.parametrize(
    "cursor", ["garbage", "W10", "WyJhIl0", "bnVsbA", "%00", "W3RydWUsIngiXQ", "WyJhIiw5MjIzMzcyMDM2ODU0Nzc1ODA4XQ"]
)
def test_a_cursor_this_service_did_not_issue_answers_400(client, cursor):
    response = client.get(f"/items?cursor={cursor}")
    assert response.status_code == 400
    assert "cursor" in response.get_json()["errors"]


def test_a_query_answers_head_requests(client):
    assert client.head("/items").status_code == 200
