"""The seed 003 layout behind a real nginx: a command process and a query process under /api/."""

import json
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from tests.e2e.conftest import (
    Server,
    connect,
    exchange,
    nginx_in_front,
    running_gunicorn,
    stop,
)
from tests.engines import database_config
from tests.support import BACON_ID


@dataclass
class Deployment:
    """The public base URL (…/api), the operators' private one, and the two gunicorns behind them."""

    base: str
    private: str
    command: Server
    query: Server


@pytest.fixture
def deployment(tmp_path):
    """A deployment of the test's own, for tests that change its data or stop a process."""
    with deployed(tmp_path) as ready:
        yield ready


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One deployment for the tests that only read or are refused: starting one takes seconds."""
    with deployed(tmp_path_factory.mktemp("nginx")) as ready:
        yield ready


@contextmanager
def deployed(tmp_path):
    """deploy/nginx.conf on free ports, in front of APP_ROLE=command and APP_ROLE=query gunicorns."""
    database = database_config(tmp_path)
    with (
        running_gunicorn(tmp_path, "command", database, APP_ROLE="command", PROXY_HOPS=1) as command,
        running_gunicorn(tmp_path, "query", database, APP_ROLE="query", PROXY_HOPS=1) as query,
        nginx_in_front(tmp_path, command, query) as (base, private),
    ):
        yield Deployment(base, private, command, query)


def access_lines(server) -> list[tuple[str, str]]:
    lines = [json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
    return [(line["method"], line["path"]) for line in lines if line.get("logger") == "app.access"]


def test_items_flow_through_nginx_with_public_links(deployment):
    base, command, query = deployment.base, deployment.command, deployment.query
    created = requests.post(f"{base}/items", json={"name": "Eggs", "description": "A dozen"})
    assert created.status_code == 201
    item = created.json()
    assert created.headers["Location"] == f"/api/items/{item['id']}"  # relative without PUBLIC_BASE_URL
    assert requests.get(urljoin(base, created.headers["Location"])).json() == item

    first = requests.get(f"{base}/items?limit=1")
    assert first.json() == [{"id": BACON_ID, "name": "Bacon"}]
    assert first.links["next"]["url"].startswith("/api/items?")
    following = requests.get(urljoin(base, first.links["next"]["url"]))
    assert following.json() == [{"id": item["id"], "name": "Eggs"}]

    assert requests.put(f"{base}/items/{item['id']}", json={"name": "Ham", "description": ""}).status_code == 200
    assert requests.delete(f"{base}/items/{item['id']}").status_code == 204
    assert requests.get(f"{base}/items/{item['id']}").status_code == 404

    # Reads went to the query process, writes to the command process, each without the /api prefix.
    assert ("POST", "/items") in access_lines(command)
    assert ("GET", "/items") in access_lines(query)
    assert not any(method == "GET" and path.startswith("/items") for method, path in access_lines(command))
    assert not any(method != "GET" for method, path in access_lines(query) if path != "/healthz")


def test_users_flow_through_nginx(deployment):
    base = deployment.base
    body = {"first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Example.com"}
    created = requests.post(f"{base}/users", json=body)
    assert created.status_code == 201
    user = created.json()
    assert urlsplit(created.headers["Location"]).path == f"/api/users/{user['id']}"
    assert requests.post(f"{base}/users", json={**body, "email": "ada@example.COM"}).status_code == 409
    assert requests.get(f"{base}/users", params={"email": "ADA@EXAMPLE.COM"}).json() == [user]
    renamed = requests.put(f"{base}/users/{user['id']}", json={**body, "last_name": "King"}, headers={"If-Match": '"1"'})
    assert renamed.status_code == 200
    assert requests.get(f"{base}/users/{user['id']}").headers["ETag"] == '"2"'
    assert requests.delete(f"{base}/users/{user['id']}").status_code == 204


def test_nginx_hides_its_version_and_the_app_sets_safe_headers(shared):
    base = shared.base
    response = requests.get(f"{base}/items")
    assert response.headers["Server"] == "nginx"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-cache"
    assert requests.get(f"{base.removesuffix('/api')}/items").status_code == 404  # only /api/ is served


# ---------------------------------------------------------------- the operators' listener

OPERATORS = ["/metrics", "/projections", "/process-managers", "/events", "/events?after=0"]


@pytest.mark.parametrize("path", OPERATORS)
def test_operators_routes_are_refused_at_the_public_address(shared, path):
    assert requests.get(shared.base + path, timeout=10).status_code == 404


@pytest.mark.parametrize(
    "path", ["//metrics", "/%2Fmetrics", "/./metrics", "/%6Detrics", "/items/../metrics", "/metrics/", "/events/"]
)
def test_operators_routes_are_refused_at_the_public_address_however_spelt(shared, path):
    response = requests.get(shared.base + path, timeout=10)
    assert response.status_code == 404
    assert "http_requests_total" not in response.text


@pytest.mark.parametrize("path", OPERATORS)
def test_operators_routes_are_served_at_the_private_address(shared, path):
    assert requests.get(shared.private + path, timeout=10).status_code == 200


def test_the_public_api_description_lists_commands_and_queries(shared):
    document = requests.get(f"{shared.base}/openapi.json", timeout=10).json()
    assert {"get", "post"} <= set(document["paths"]["/items"])
    assert "post" in document["paths"]["/orders/{order_id}/cancel"]
    assert document["servers"] == [{"url": "/api"}]


def test_the_public_docs_page_is_served(shared):
    page = requests.get(f"{shared.base}/docs", timeout=10)
    assert page.status_code == 200
    assert "/api/openapi.json" in page.text


# ---------------------------------------------------------------- slow clients


def test_twenty_slow_clients_do_not_stall_the_service_behind_nginx(deployment):
    """Each gunicorn has 2 sync workers: 20 requests arriving a byte at a time would hold them
    all, but nginx reads each request whole before a worker sees it."""
    with ExitStack() as slow:
        for n in range(10):
            headers = slow.enter_context(connect(deployment.base))
            headers.sendall(b"GET /api/items HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            body = slow.enter_context(connect(deployment.base))
            body.sendall(
                b"POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 1000\r\n\r\n{"name": "Sl'
            )
        read = requests.get(f"{deployment.base}/items", timeout=20)
        written = requests.post(f"{deployment.base}/items", json={"name": "Eggs", "description": ""}, timeout=20)
        assert (read.status_code, written.status_code) == (200, 201)


def test_nginx_drops_a_client_whose_headers_stop_arriving(shared):
    """client_header_timeout is 10 s (nginx's default is 60 s); the socket waits 30 s."""
    with connect(shared.base) as client:
        client.sendall(b"GET /api/items HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        try:
            answer = client.recv(65536)
        except ConnectionResetError:  # reset_timedout_connection
            answer = b""
        assert answer == b""


# ---------------------------------------------------------------- what nginx refuses itself


REFUSED_BY_NGINX = {
    "a request line over 8 KiB": (414, b"GET /api/items?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    "a header over 8 KiB": (400, b"GET /api/items HTTP/1.1\r\nHost: x\r\nX-A: " + b"b" * 9000 + b"\r\n\r\n"),
    "Content-Length beside Transfer-Encoding": (
        400,
        b"POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    "a malformed request line": (400, b"GET /api/items HTTP/1.1 extra\r\nHost: x\r\n\r\n"),
    "an unknown transfer coding": (501, b"POST /api/items HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: zip\r\n\r\n"),
    "a body over 1 MiB": (413, b"POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n"),
    "an operators' route": (404, b"GET /api/metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
    "a path outside /api/": (404, b"GET /items HTTP/1.1\r\nHost: x\r\n\r\n"),
}


@pytest.mark.parametrize(("status", "request_bytes"), REFUSED_BY_NGINX.values(), ids=REFUSED_BY_NGINX.keys())
def test_what_nginx_refuses_itself_is_answered_as_problem_json(shared, status, request_bytes):
    answered, headers, body = exchange(shared.base, request_bytes)
    assert answered == status
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == status and problem["title"] and problem["detail"]
    assert headers["x-request-id"]


def test_a_process_that_does_not_answer_is_a_502_as_problem_json(deployment):
    stop(deployment.command.process)
    response = requests.post(f"{deployment.base}/items", json={"name": "Eggs", "description": ""}, timeout=20)
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 502
