"""APP_ROLE, bearer tokens, proxies, and the headers every response carries."""

import socket
from contextlib import closing

import pytest
from sqlalchemy.engine import make_url

from app import config
from app.db import dispose
from tests import engines
from tests.support import BACON_ID, JOHN_DOE_ID, UNKNOWN_ID, make_app


def test_the_command_role_serves_commands_and_health_but_no_queries(tmp_path):
    client = make_app(tmp_path, APP_ROLE="command").test_client()
    assert client.post("/items", json={"name": "Eggs", "description": ""}).status_code == 201
    assert client.get("/items").status_code == 405  # the path exists only for POST here
    assert client.get(f"/items/{BACON_ID}").status_code == 405
    assert client.get("/healthz").status_code == 200


def test_the_query_role_serves_queries_and_health_but_no_commands(tmp_path):
    client = make_app(tmp_path, APP_ROLE="query").test_client()
    assert client.get("/items").status_code == 200
    assert client.post("/items", json={"name": "Eggs", "description": ""}).status_code == 405
    assert client.delete(f"/items/{BACON_ID}").status_code == 405
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_a_query_process_sees_what_a_command_process_wrote(tmp_path):
    writer = make_app(tmp_path, APP_ROLE="command").test_client()
    reader = make_app(tmp_path, APP_ROLE="query").test_client()
    item = writer.post("/items", json={"name": "Eggs", "description": ""}).get_json()
    assert reader.get(f"/items/{item['id']}").get_json() == item


@pytest.fixture
def guarded(tmp_path):
    return make_app(tmp_path, COMMAND_TOKENS=("s3cret", "other")).test_client()


@pytest.mark.parametrize("authorization", [None, "s3cret", "Bearer", "Bearer wrong", "Basic s3cret", "Bearer s3cret2"])
def test_commands_without_a_valid_token_answer_401_and_change_nothing(guarded, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = guarded.post("/items", json={"name": "Eggs", "description": ""}, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.mimetype == "application/problem+json"
    assert [i["name"] for i in guarded.get("/items").get_json()] == ["Bacon"]


@pytest.mark.parametrize("token", ["s3cret", "other"])
def test_any_configured_token_opens_the_command_side(guarded, token):
    response = guarded.post("/items", json={"name": "Eggs", "description": ""}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201


def test_queries_stay_open_unless_query_tokens_are_set(tmp_path, guarded):
    assert guarded.get("/items").status_code == 200
    locked = make_app(tmp_path, QUERY_TOKENS=("look",)).test_client()
    assert locked.get("/items").status_code == 401
    assert locked.get("/items", headers={"Authorization": "Bearer look"}).status_code == 200
    assert locked.get("/healthz").status_code == 200


PERSONAL_READS = [
    "/users",
    "/employees",
    "/events",
    "/orders/{order}",
    "/users/{user}/orders",
    "/users/{user}",
    "/users/{user}/history",
    "/employees/{employee}",
    "/items/{employee}/history",
]


@pytest.mark.parametrize("path", PERSONAL_READS)
def test_reads_of_personal_data_take_a_command_token_when_only_command_tokens_are_set(guarded, path):
    ids = {"user": UNKNOWN_ID, "order": UNKNOWN_ID, "employee": JOHN_DOE_ID}
    assert guarded.get(path.format(**ids)).status_code == 401
    assert guarded.get(path.format(**ids), headers={"Authorization": "Bearer s3cret"}).status_code in (200, 404)


@pytest.mark.parametrize("path", PERSONAL_READS)
def test_reads_of_personal_data_take_a_query_token_when_query_tokens_are_set(tmp_path, path):
    locked = make_app(tmp_path, COMMAND_TOKENS=("c",), QUERY_TOKENS=("q",)).test_client()
    ids = {"user": UNKNOWN_ID, "order": UNKNOWN_ID, "employee": JOHN_DOE_ID}
    assert locked.get(path.format(**ids), headers={"Authorization": "Bearer c"}).status_code == 401
    assert locked.get(path.format(**ids), headers={"Authorization": "Bearer q"}).status_code in (200, 404)


def test_reads_of_no_ones_data_stay_open_when_only_command_tokens_are_set(guarded):
    for path in ("/items", "/devices", "/orders", "/healthz"):
        assert guarded.get(path).status_code == 200, path


FORWARDED = {
    "X-Forwarded-For": "203.0.113.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Prefix": "/api",
}


def links(client, **headers) -> tuple[str, str]:
    """The Location of a created item and the Link of a page of items, as a client sees them."""
    created = client.post("/items", json={"name": "Eggs", "description": ""}, headers=headers)
    return created.headers["Location"], client.get("/items?limit=1", headers=headers).headers["Link"]


def test_the_host_a_client_names_never_reaches_location_or_link(client):
    location, link = links(client, Host="evil.example")
    assert location.startswith("/items/")
    assert link.startswith("</items?")


def test_behind_a_trusted_proxy_links_carry_its_prefix_but_not_the_host_it_forwards(tmp_path):
    location, link = links(make_app(tmp_path, PROXY_HOPS=1).test_client(), **FORWARDED)
    assert location.startswith("/api/items/")
    assert link.startswith("</api/items?")


def test_without_trusted_proxies_forwarded_headers_are_ignored(client):
    location, _ = links(client, **FORWARDED)
    assert location.startswith("/items/")


@pytest.mark.parametrize("hops", [0, 1])
def test_with_a_public_base_url_links_are_built_from_it_alone(tmp_path, hops):
    client = make_app(tmp_path, PUBLIC_BASE_URL="https://shop.example.com/api", PROXY_HOPS=hops).test_client()
    location, link = links(client, Host="evil.example", **FORWARDED)
    assert location.startswith("https://shop.example.com/api/items/")
    assert link.startswith("<https://shop.example.com/api/items?")


def test_a_public_base_url_goes_into_links_as_it_was_written(tmp_path):
    client = make_app(tmp_path, PUBLIC_BASE_URL="https://shop.example.com/my%20shop;v=1").test_client()
    location, _ = links(client)
    assert location.startswith("https://shop.example.com/my%20shop;v=1/items/")


def test_a_public_base_url_is_read_from_the_environment_without_its_trailing_slash(monkeypatch, tmp_path):
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://shop.example.com/api/")
    assert config.from_environment(str(tmp_path))["PUBLIC_BASE_URL"] == "https://shop.example.com/api"


@pytest.mark.parametrize(
    "value",
    [
        "shop.example.com",
        "ftp://shop.example.com",
        "https://",
        "https://shop.example.com:http",
        "https://shop.example.com/?a=1",
        "https://shop.example.com/#top",
        "https://u:p@shop.example.com",
        "https://shop example.com",
    ],
)
def test_a_malformed_public_base_url_is_a_config_error_naming_it(monkeypatch, tmp_path, value):
    monkeypatch.setenv("PUBLIC_BASE_URL", value)
    with pytest.raises(config.ConfigError) as error:
        config.from_environment(str(tmp_path))
    assert str(error.value).startswith("PUBLIC_BASE_URL must be")
    assert "\n" not in str(error.value)


def test_reads_must_be_revalidated_and_nothing_else_is_cached(client):
    assert client.get("/items").headers["Cache-Control"] == "no-cache"
    assert client.post("/items", json={"name": "Eggs", "description": ""}).headers["Cache-Control"] == "no-store"
    assert client.get(f"/items/{UNKNOWN_ID}").headers["Cache-Control"] == "no-store"


@pytest.mark.sqlite
def test_the_health_check_answers_503_when_the_database_cannot_answer(tmp_path):
    app = make_app(tmp_path)
    with app.app_context():
        dispose()
    for path in tmp_path.glob("cqrs.db*"):
        path.unlink()  # gone: a new connection finds an empty file without our tables
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"


@pytest.mark.postgresql
def test_the_health_check_answers_503_when_the_postgresql_database_is_gone(tmp_path):
    app = make_app(tmp_path)
    assert app.test_client().get("/healthz").status_code == 200  # its pools hold connections now
    name = make_url(app.config["DATABASE_URL"]).database
    with closing(engines.server().connect(autocommit=True)) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')  # closes every connection to it
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"


@pytest.mark.postgresql
def test_the_health_check_answers_503_when_the_postgresql_server_cannot_be_reached(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens there
    app = make_app(tmp_path, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/cqrs", SKIP_STARTUP_TASKS=True)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"
