"""GET /employees and GET /employees/<id> through the Flask test client."""

from urllib.parse import parse_qs, urlsplit

from tests.support import JOHN_DOE, JOHN_DOE_ID, all_pages, create_employee, next_link

JOHN_DOE_ROW = {"id": JOHN_DOE_ID, "name": "Doe, John", "city": "Boston"}


def test_the_seeded_john_doe_is_listed_and_readable(client):
    assert client.get("/employees").get_json() == [JOHN_DOE_ROW]
    response = client.get(f"/employees/{JOHN_DOE_ID}")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == JOHN_DOE


def test_the_list_shows_last_name_comma_first_name_and_the_city(client):
    employee = create_employee(client, firstName="Ann", lastName="Lee", city="Paris")
    assert {"id": employee["id"], "name": "Lee, Ann", "city": "Paris"} in client.get("/employees").get_json()


def test_employees_are_listed_by_last_name_then_first_name(client):
    for first, last in [("Zoe", "Adams"), ("Amy", "Young"), ("Bob", "Adams")]:
        create_employee(client, firstName=first, lastName=last)
    names = [e["name"] for e in client.get("/employees").get_json()]
    assert names == ["Adams, Bob", "Adams, Zoe", "Doe, John", "Young, Amy"]


def test_the_city_filter_keeps_only_employees_in_exactly_that_city(client):
    paris = create_employee(client, lastName="Lee", city="Paris")
    create_employee(client, lastName="Kim", city="paris")
    create_employee(client, lastName="Ott", city="Paris, TX")
    assert client.get("/employees?city=Paris").get_json() == [{"id": paris["id"], "name": "Lee, Jane", "city": "Paris"}]
    assert client.get("/employees?city=Boston").get_json() == [JOHN_DOE_ROW]


def test_a_city_without_employees_gives_an_empty_list(client):
    response = client.get("/employees?city=Atlantis")
    assert response.status_code == 200
    assert response.get_json() == []


def test_the_city_filter_lists_by_name_too(client):
    for last in ["Young", "Adams", "Moss"]:
        create_employee(client, lastName=last, city="Boston")
    names = [e["name"] for e in client.get("/employees?city=Boston").get_json()]
    assert names == ["Adams, Jane", "Doe, John", "Moss, Jane", "Young, Jane"]


def test_moving_an_employee_moves_them_between_city_lists(client):
    employee = create_employee(client, city="Paris")
    body = {"firstName": "Jane", "lastName": "Roe", "address": {**employee["address"], "city": "Rome"}}
    del body["address"]["id"]
    client.put(f"/employees/{employee['id']}", json=body)
    assert client.get("/employees?city=Paris").get_json() == []
    assert [e["id"] for e in client.get("/employees?city=Rome").get_json()] == [employee["id"]]


def test_pages_of_a_city_keep_the_city_filter(client):
    for n in range(5):
        create_employee(client, lastName=f"Name {n}", city="Paris" if n % 2 else "Rome")
    first = client.get("/employees?city=Rome&limit=2")
    assert parse_qs(urlsplit(next_link(first)).query)["city"] == ["Rome"]
    seen, pages = all_pages(client, "/employees?city=Rome&limit=2")
    assert pages == 2
    assert [e["name"] for e in seen] == ["Name 0, Jane", "Name 2, Jane", "Name 4, Jane"]
    assert {e["city"] for e in seen} == {"Rome"}


def test_a_departed_employee_answers_404(client):
    employee = create_employee(client)
    client.delete(f"/employees/{employee['id']}")
    assert client.get(f"/employees/{employee['id']}").status_code == 404
