"""POST, PUT and DELETE /items through the Flask test client: every status, and what each changes."""

import pytest

from tests.support import BACON_ID, assert_problem, create_item, events, nothing_changes


def test_creating_an_item_answers_201_with_the_item_and_its_location(client):
    response = client.post("/items", json={"name": "Eggs", "description": "A dozen"})
    assert response.status_code == 201
    item = response.get_json()
    assert item == {"id": item["id"], "name": "Eggs", "description": "A dozen"}
    assert response.headers["Location"] == f"/items/{item['id']}"


def test_a_created_item_can_be_read_back_at_once(client):
    item = create_item(client, price=4.25)
    assert client.get(f"/items/{item['id']}").get_json() == item
    assert {"id": item["id"], "name": "Eggs"} in client.get("/items").get_json()


def test_creating_an_item_records_one_event_in_its_own_stream(app, client):
    item = create_item(client)
    assert events(app)[-1][1:] == ("item", item["id"], 1, "ItemCreated")


def test_updating_an_item_answers_200_with_the_new_state(client):
    item = create_item(client)
    response = client.put(f"/items/{item['id']}", json={"name": "Ham", "description": "Smoked", "price": 3})
    assert response.status_code == 200
    assert response.get_json() == {"id": item["id"], "name": "Ham", "description": "Smoked", "price": 3}
    assert client.get(f"/items/{item['id']}").get_json() == response.get_json()


def test_updating_without_a_price_removes_the_price(client):
    item = create_item(client, price=2)
    response = client.put(f"/items/{item['id']}", json={"name": "Eggs", "description": ""})
    assert "price" not in response.get_json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"description": "x"}, "name"),
        ({"name": "  ", "description": "x"}, "name"),
        ({"name": "x" * 201, "description": "x"}, "name"),
        ({"name": "Eggs"}, "description"),
        ({"name": "Eggs", "description": "x" * 2001}, "description"),
        ({"name": "Eggs", "description": "", "price": -1}, "price"),
        ({"name": "Eggs", "description": "", "price": 1.234}, "price"),
        ({"name": "Eggs", "description": "", "price": "1"}, "price"),
    ],
)
def test_invalid_fields_answer_400_naming_each_field_and_change_nothing(app, client, body, field):
    with nothing_changes(app):
        for response in (client.post("/items", json=body), client.put(f"/items/{BACON_ID}", json=body)):
            assert_problem(response, 400, field)


def test_text_is_stored_and_returned_verbatim(client):
    hostile = "Robert'); DROP TABLE items;-- \u202e 🥓 \x01 end"
    item = create_item(client, name="Bobby", description=hostile)
    assert client.get(f"/items/{item['id']}").get_json()["description"] == hostile


def test_a_nul_in_text_or_a_key_or_a_query_answers_400_on_every_engine(app, client):
    """PostgreSQL stores no U+0000 in text: neither engine takes it, so both answer alike."""
    with nothing_changes(app):
        problem = assert_problem(client.post("/items", json={"name": "a\x00b", "description": "d"}), 400, "name")
        assert "U+0000" in problem["errors"]["name"][0]
        assert_problem(client.post("/items", json={"name": "n", "description": "d", "\x00": 1}), 400, "\\u0000")
        assert_problem(client.get("/employees?city=Bos%00ton"), 400, "city")
