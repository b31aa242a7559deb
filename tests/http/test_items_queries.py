"""GET /items and GET /items/<id> through the Flask test client."""

from tests.support import BACON_ID, create_item


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
