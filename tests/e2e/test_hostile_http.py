"""Hostile requests over real sockets, to a real gunicorn: what the test client cannot stand in for."""

import pytest
import requests

from tests.e2e.conftest import running_gunicorn
from tests.support import BACON_ID


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One gunicorn for the module, with bodies capped at 1,000 bytes."""
    with running_gunicorn(tmp_path_factory.mktemp("hostile"), workers=1, MAX_BODY_BYTES=1000) as server:
        yield server


def test_a_chunked_body_over_the_size_limit_answers_413_over_real_gunicorn(server):
    body = b'{"name": "Eggs", "description": "' + b"y" * 4000 + b'"}'
    # A generator makes requests send the body chunked, with no Content-Length.
    chunks = iter([body[:2000], body[2000:]])
    response = requests.post(server("/items"), data=chunks, headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"
    assert requests.get(server("/items"), timeout=30).json() == [{"id": BACON_ID, "name": "Bacon"}]


def test_the_host_a_client_names_never_reaches_location_or_link_over_real_gunicorn(server):
    created = requests.post(
        server("/items"), json={"name": "Eggs", "description": ""}, headers={"Host": "evil.example"}, timeout=30
    )
    assert created.headers["Location"].startswith("/items/")
    listed = requests.get(server("/items?limit=1"), headers={"Host": "evil.example"}, timeout=30)
    assert listed.headers["Link"].startswith("</items?")


def test_a_lone_surrogate_as_a_key_answers_400_problem_json_over_real_gunicorn(server):
    body = '{"\\ud800": 1, "name": "Eggs", "description": ""}'
    response = requests.post(server("/items"), data=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["X-Request-ID"]
