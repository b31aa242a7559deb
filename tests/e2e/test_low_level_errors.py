"""What gunicorn refuses before the app sees a request (request line, headers, framing, a body
that never comes) is answered as problem+json too, over a raw socket to real gunicorn."""

import json

import pytest

from tests.e2e.conftest import exchange, running_gunicorn

CLIENT_TIMEOUT = 2  # seconds a worker waits for a client that stopped sending


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("low-level")
    with running_gunicorn(tmp_path, CLIENT_TIMEOUT=CLIENT_TIMEOUT, WORKER_TIMEOUT=10) as server:
        yield server


REFUSED = {
    "a request line too long": (414, b"GET /items?q=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    "too many headers": (431, b"GET /items HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 120 + b"\r\n"),
    "a header too large": (431, b"GET /items HTTP/1.1\r\nHost: x\r\nX-A: " + b"b" * 9000 + b"\r\n\r\n"),
    "Content-Length beside Transfer-Encoding": (
        400,
        b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    "a space in a header name": (400, b"GET /items HTTP/1.1\r\nHost: x\r\nBad Header: b\r\n\r\n"),
    "a control character in a header value": (400, b"GET /items HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n"),
    "a malformed request line": (400, b"GET /items HTTP/1.1 extra\r\nHost: x\r\n\r\n"),
    "an unknown transfer coding": (501, b"POST /items HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: zip\r\n\r\n"),
}


@pytest.mark.parametrize(("status", "request_bytes"), REFUSED.values(), ids=REFUSED.keys())
def test_what_gunicorn_refuses_is_answered_as_problem_json(server, status, request_bytes):
    answered, headers, body = exchange(server.url, request_bytes)
    assert answered == status
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == status and problem["title"] and problem["detail"]
    assert headers["x-request-id"]


def test_a_body_shorter_than_its_content_length_is_answered_408_as_problem_json(server):
    body = b'{"name": "Eg'
    head = b"POST /items HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    answered, headers, answer = exchange(server.url, head + body)
    assert answered == 408
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(answer)["status"] == 408


def test_headers_that_never_end_are_answered_408_as_problem_json(server):
    answered, headers, answer = exchange(server.url, b"GET /items HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert answered == 408
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(answer)["status"] == 408
