"""The seed 003 layout behind a real nginx: a command process and a query process under /api/."""

import json
import subprocess
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.conftest import ROOT, free_port, nginx_binary, running_gunicorn, stop, wait_until_answering
from tests.support import BACON_ID


@pytest.fixture
def deployment(tmp_path):
    """deploy/nginx.conf on a free port, in front of APP_ROLE=command and APP_ROLE=query gunicorns."""
    database = str(tmp_path / "cqrs.db")
    with (
        running_gunicorn(tmp_path, "command", database, APP_ROLE="command", PROXY_HOPS=1) as command,
        running_gunicorn(tmp_path, "query", database, APP_ROLE="query", PROXY_HOPS=1) as query,
    ):
        port = free_port()
        conf = (ROOT / "deploy" / "nginx.conf").read_text()
        for old, new in [
            ("127.0.0.1:3000", command.url.removeprefix("http://")),
            ("127.0.0.1:3001", query.url.removeprefix("http://")),
            ("listen 127.0.0.1:8080", f"listen 127.0.0.1:{port}"),
        ]:
            assert old in conf
            conf = conf.replace(old, new)
        (tmp_path / "nginx.conf").write_text(conf)
        log = tmp_path / "nginx.log"
        globals_ = f"daemon off; pid {tmp_path}/nginx.pid; error_log {log};"
        nginx = subprocess.Popen([nginx_binary(), "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", globals_])
        try:
            base = f"http://127.0.0.1:{port}/api"
            wait_until_answering(f"{base}/healthz", nginx, log)
            yield base, command, query
        finally:
            stop(nginx)


def access_lines(server) -> list[tuple[str, str]]:
    lines = [json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
    return [(line["method"], line["path"]) for line in lines if line.get("logger") == "app.access"]


def test_items_flow_through_nginx_with_public_links(deployment):
    base, command, query = deployment
    created = requests.post(f"{base}/items", json={"name": "Eggs", "description": "A dozen"})
    assert created.status_code == 201
    item = created.json()
    assert created.headers["Location"] == f"{base}/items/{item['id']}"
    assert requests.get(created.headers["Location"]).json() == item

    first = requests.get(f"{base}/items?limit=1")
    assert first.json() == [{"id": BACON_ID, "name": "Bacon"}]
    assert first.links["next"]["url"].startswith(f"{base}/items?")
    assert requests.get(first.links["next"]["url"]).json() == [{"id": item["id"], "name": "Eggs"}]

    assert requests.put(f"{base}/items/{item['id']}", json={"name": "Ham", "description": ""}).status_code == 200
    assert requests.delete(f"{base}/items/{item['id']}").status_code == 204
    assert requests.get(f"{base}/items/{item['id']}").status_code == 404

    # Reads went to the query process, writes to the command process, each without the /api prefix.
    assert ("POST", "/items") in access_lines(command)
    assert ("GET", "/items") in access_lines(query)
    assert not any(method == "GET" and path.startswith("/items") for method, path in access_lines(command))
    assert not any(method != "GET" for method, path in access_lines(query) if path != "/healthz")


def test_users_flow_through_nginx(deployment):
    base, _, _ = deployment
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


def test_nginx_hides_its_version_and_the_app_sets_safe_headers(deployment):
    base, _, _ = deployment
    response = requests.get(f"{base}/items")
    assert response.headers["Server"] == "nginx"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-cache"
    assert requests.get(f"{base.removesuffix('/api')}/items").status_code == 404  # only /api/ is served
