"""What every list shares, checked once per list: empty lists, HEAD, pages and the Link header,
and the answers to a limit or a cursor the service cannot take."""

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from app.db import dispose
from tests.device_support import create_device, record
from tests.order_support import customer, place_order, priced_item
from tests.support import all_pages, assert_problem, create_employee, create_item, create_user, make_app, next_link


def items(client, count: int) -> str:
    for n in range(count - 1):  # the seeded Bacon makes one
        create_item(client, name=f"Item {n % 4}")  # repeated names: the id breaks ties
    return "/items"


def employees(client, count: int) -> str:
    for n in range(count - 1):  # the seeded John Doe makes one
        create_employee(client, lastName=f"Name {n % 4}")  # repeated names: the id breaks ties
    return "/employees"


def users(client, count: int) -> str:
    for n in range(count):
        create_user(client, last_name=f"Name {n % 3}", first_name=f"F{n % 2}", email=f"u{n}@example.com")
    return "/users"


def orders_of_a_user(client, count: int) -> str:
    user, item = customer(client), priced_item(client)
    for n in range(count):
        place_order(client, user["id"], (item["id"], n + 1))
    return f"/users/{user['id']}/orders"


def orders(client, count: int) -> str:
    orders_of_a_user(client, count)
    return "/orders"


def devices(client, count: int) -> str:
    for n in range(count):
        create_device(client, name=f"Device {n}")
    return "/devices"


def readings(client, count: int) -> str:
    device = create_device(client)
    if count:
        record(client, device["id"], *[{"metric": "t", "value": n} for n in range(count)])
    return f"/devices/{device['id']}/telemetry?metric=t"


def fleet_statistics(client, count: int) -> str:
    if count:
        device = create_device(client)
        record(client, device["id"], *[{"metric": f"m{n}", "value": n} for n in range(count)])
    return "/telemetry/stats"


def history(client, count: int) -> str:
    item = create_item(client)  # its ItemCreated makes one
    for n in range(count - 1):
        client.put(f"/items/{item['id']}", json={"name": f"Eggs {n}", "description": ""})
    return f"/items/{item['id']}/history"


# Each makes a list hold ``count`` rows (one that is never empty, at least one) and returns its URL.
LISTS = {
    make.__name__: make
    for make in (items, employees, users, orders_of_a_user, orders, devices, readings, fleet_statistics, history)
}
NEVER_EMPTY = ("items", "employees", "history")


def with_args(url: str, **args) -> str:
    return url + ("&" if "?" in url else "?") + "&".join(f"{name}={value}" for name, value in args.items())


def cursor_of(key: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).rstrip(b"=").decode()


def key_of(cursor: str) -> list:
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


@pytest.fixture(scope="module", params=list(LISTS))
def listed(request, tmp_path_factory):
    """(client, URL) of a list of two rows on an app of its own, shared by tests that only read."""
    app = make_app(tmp_path_factory.mktemp(request.param), LOG_FORMAT="json")
    client = app.test_client()
    yield client, LISTS[request.param](client, 2)
    with app.app_context():
        dispose()


@pytest.mark.parametrize("name", [name for name in LISTS if name not in NEVER_EMPTY])
def test_a_list_without_rows_answers_an_empty_array(client, name):
    response = client.get(LISTS[name](client, 0))
    assert response.status_code == 200
    assert response.get_json() == []


@pytest.mark.parametrize("name", LISTS)
def test_a_list_answers_head_requests_without_a_body(client, name):
    response = client.head(LISTS[name](client, 1))
    assert response.status_code == 200
    assert response.get_data() == b""


@pytest.mark.parametrize("name", LISTS)
def test_the_last_page_has_no_link_header(client, name):
    url = LISTS[name](client, 1)
    response = client.get(with_args(url, limit=1))
    assert response.status_code == 200
    assert len(response.get_json()) == 1
    assert response.get_json() == client.get(url).get_json()
    assert "Link" not in response.headers


@pytest.mark.parametrize("name", LISTS)
def test_the_next_link_is_on_this_host_and_keeps_the_limit_and_the_filters(client, name):
    url = LISTS[name](client, 2)
    parts = urlsplit(next_link(client.get(with_args(url, limit=1))))
    assert (parts.scheme, parts.netloc, parts.path) == ("", "", urlsplit(url).path)
    args = parse_qs(parts.query)
    assert args.pop("cursor")
    assert args == parse_qs(urlsplit(with_args(url, limit=1)).query)


@pytest.mark.parametrize(("name", "count", "pages"), [("items", 12, 4), ("employees", 12, 4), ("users", 11, 4)])
def test_pages_follow_the_link_header_through_every_row_exactly_once(client, name, count, pages):
    url = LISTS[name](client, count)
    seen, walked = all_pages(client, with_args(url, limit=3))
    assert walked == pages
    assert seen == client.get(url).get_json()
    assert len({row["id"] for row in seen}) == count


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "ten", "x", "1.5", "", "٣"])
def test_a_limit_outside_1_to_1000_answers_400_naming_it(listed, limit):
    client, url = listed
    assert_problem(client.get(with_args(url, limit=limit)), 400, "limit")


# Not base64; "\0"; null; []; [true, "x"]; ["a", 2**63] (an integer SQLite cannot hold); "nope".
CURSORS = ["garbage", "%00", "bnVsbA", "W10", "W3RydWUsIngiXQ", "WyJhIiw5MjIzMzcyMDM2ODU0Nzc1ODA4XQ", "bm9wZQ"]


@pytest.mark.parametrize("cursor", CURSORS)
def test_a_cursor_this_service_did_not_issue_answers_400_naming_it(listed, cursor):
    client, url = listed
    assert_problem(client.get(with_args(url, cursor=cursor)), 400, "cursor")


@pytest.mark.parametrize("change", [lambda key: key[:-1], lambda key: [*key, key[-1]]], ids=["short", "long"])
def test_a_cursor_one_sort_key_short_or_long_answers_400_naming_it(listed, change):
    client, url = listed
    issued = parse_qs(urlsplit(next_link(client.get(with_args(url, limit=1)))).query)["cursor"][0]
    assert client.get(with_args(url, limit=1, cursor=issued)).status_code == 200
    assert_problem(client.get(with_args(url, limit=1, cursor=cursor_of(change(key_of(issued))))), 400, "cursor")
