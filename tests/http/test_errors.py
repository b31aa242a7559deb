"""What every route shares: problem+json errors, no tracebacks, request ids."""

import base64
import io
import json
from contextlib import closing
from urllib.parse import parse_qs, urlsplit

import pytest

from app.engines.postgresql import NAMESPACE, WRITERS
from app.http import MAX_JSON_DEPTH
from app.pagination import MAX_CURSOR_LENGTH
from tests.engines import plain_connection
from tests.support import (
    BACON_ID,
    JOHN_DOE_ID,
    Ids,
    assert_problem,
    create_user,
    employee_body,
    make_app,
    nothing_changes,
)


def test_an_unknown_route_answers_404_problem_json(client):
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": response.get_json()["detail"],
    }


def test_a_wrong_method_answers_405_with_the_allowed_ones(client):
    response = client.patch("/items")
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_an_unexpected_failure_answers_500_without_a_traceback(tmp_path):
    app = make_app(tmp_path)

    @app.get("/explode")
    def explode():
        raise RuntimeError("SELECT secret FROM passwords")

    response = app.test_client().get("/explode", headers={"X-Request-ID": "trace-me"})
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    body = response.get_data(as_text=True)
    assert "secret" not in body and "Traceback" not in body and "RuntimeError" not in body
    assert "trace-me" in response.get_json()["detail"]


def test_a_request_id_is_echoed_when_well_formed_and_made_up_otherwise(client):
    assert client.get("/items", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    made_up = client.get("/items", headers={"X-Request-ID": "bad id\x7f"}).headers["X-Request-ID"]
    assert made_up != "bad id\x7f" and len(made_up) == 32


def test_the_request_id_is_stored_on_the_events_it_appends(app, client):
    client.post("/items", json={"name": "Eggs", "description": ""}, headers={"X-Request-ID": "order-42"})
    from tests.support import query

    assert query(app, "SELECT correlation_id FROM events ORDER BY position DESC LIMIT 1") == [("order-42",)]


def test_responses_tell_browsers_not_to_sniff(client):
    assert client.get("/items").headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.sqlite
def test_a_write_lock_held_past_the_busy_timeout_answers_503_and_changes_nothing(tmp_path):
    import sqlite3

    app = make_app(tmp_path, SQLITE_BUSY_TIMEOUT_MS=100)
    with nothing_changes(app):
        blocker = sqlite3.connect(app.config["DATABASE_PATH"], isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            response = app.test_client().post("/items", json={"name": "Eggs", "description": ""})
        finally:
            blocker.rollback()
            blocker.close()
    assert_problem(response, 503)
    assert response.headers["Retry-After"] == "1"


@pytest.mark.sqlite
def test_a_writer_that_never_gets_its_turn_answers_503_and_changes_nothing(tmp_path):
    import fcntl
    import os

    app = make_app(tmp_path, SQLITE_BUSY_TIMEOUT_MS=100)
    with nothing_changes(app):
        # Another process's writer, as the queue sees it: the lock of its own open file.
        held = os.open(app.config["DATABASE_PATH"] + "-writers", os.O_RDWR | os.O_CREAT)
        fcntl.flock(held, fcntl.LOCK_EX)
        try:
            response = app.test_client().post("/items", json={"name": "Eggs", "description": ""})
        finally:
            os.close(held)
    assert_problem(response, 503)
    assert app.test_client().post("/items", json={"name": "Eggs", "description": ""}).status_code == 201


@pytest.mark.postgresql
def test_a_writer_that_never_gets_the_writers_lock_answers_503_and_changes_nothing_on_postgresql(tmp_path):
    app = make_app(tmp_path, DATABASE_BUSY_TIMEOUT_MS=200)
    with nothing_changes(app):
        # Another process's writer, holding the lock the engine's writers take.
        with closing(plain_connection(app.config)) as blocker:
            blocker.execute(f"SELECT pg_advisory_lock({NAMESPACE}, {WRITERS})")
            response = app.test_client().post("/items", json={"name": "Eggs", "description": ""})
    assert_problem(response, 503)
    assert response.headers["Retry-After"] == "1"
    assert app.test_client().post("/items", json={"name": "Eggs", "description": ""}).status_code == 201


@pytest.mark.postgresql
def test_a_table_lock_held_past_the_busy_timeout_answers_503_and_changes_nothing_on_postgresql(tmp_path):
    app = make_app(tmp_path, DATABASE_BUSY_TIMEOUT_MS=200)
    with nothing_changes(app):
        # Not one of our writers: a psql session, say, that locked the table the command writes.
        with closing(plain_connection(app.config)) as blocker:
            blocker.execute("BEGIN")
            blocker.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
            response = app.test_client().post("/items", json={"name": "Eggs", "description": ""})
    assert_problem(response, 503)
    assert response.headers["Retry-After"] == "1"
    assert app.test_client().post("/items", json={"name": "Eggs", "description": ""}).status_code == 201


def _nested(levels: int) -> dict:
    """A body whose arrays and objects nest ``levels`` deep (the body itself is level 1)."""
    inner: object = 1
    for level in range(levels - 1):
        inner = [inner] if level % 2 else {"x": inner}
    return {"name": "Deep", "description": "", "extra": inner}


def test_a_body_nested_past_the_limit_is_refused_before_anything_looks_at_it(client):
    response = client.post("/items", json=_nested(MAX_JSON_DEPTH + 1))
    assert response.status_code == 400
    assert "nested deeper than" in response.get_json()["detail"]


def test_a_body_nested_up_to_the_limit_reaches_validation(client):
    response = client.post("/items", json=_nested(MAX_JSON_DEPTH))
    assert response.status_code == 400
    assert list(response.get_json()["errors"]) == ["extra"]  # the unknown field, not the nesting


def test_a_body_with_a_key_given_twice_is_refused_and_changes_nothing(app, client):
    with nothing_changes(app):
        for body in (
            '{"name": "Eggs", "description": "", "name": "Bacon"}',
            '{"readings": [{"metric": "t", "value": 1, "value": 2}]}',  # deep inside a batch too
        ):
            response = client.post("/items", data=body, content_type="application/json")
            assert "duplicate key" in assert_problem(response, 400)["detail"]


# ---------------------------------------------------------------- text that is not Unicode

LONE = "\ud800"  # a lone surrogate: json.dumps sends it as the escape \ud800, which JSON allows


def send(client, method: str, path: str, body: dict):
    """``body`` as JSON text with every non-ASCII character escaped (lone surrogates included)."""
    return client.open(path, method=method, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def ids(client) -> Ids:
    return Ids(client)


@pytest.mark.parametrize(
    "method, path, body, field",
    [
        ("POST", "/items", {"name": LONE, "description": ""}, "name"),
        ("PUT", f"/items/{BACON_ID}", {"name": "Ham", "description": f"a{LONE}b"}, "description"),
        ("POST", "/employees", employee_body(firstName=LONE), "firstName"),
        ("PUT", f"/employees/{JOHN_DOE_ID}", employee_body(city=LONE), "address"),
        ("POST", "/users", {"first_name": LONE, "last_name": "L", "email": "l@example.com"}, "first_name"),
        ("PUT", "/users/{user}", {"first_name": "A", "last_name": LONE, "email": "a@example.com"}, "last_name"),
        ("POST", "/devices", {"name": LONE, "kind": "sensor"}, "name"),
        ("POST", "/orders/{order}/cancel", {"reason": LONE}, "reason"),
    ],
)
def test_a_lone_surrogate_in_a_value_answers_400_naming_the_field_and_changes_nothing(
    app, client, ids, method, path, body, field
):
    path = path.format_map(ids)
    with nothing_changes(app):
        response = send(client, method, path, body)
    assert_problem(response, 400, field)


@pytest.mark.parametrize(
    "path, body",
    [
        ("/items", {LONE: 1, "name": "Eggs", "description": ""}),
        ("/employees", {**employee_body(), "address": {**employee_body()["address"], LONE: 1}}),
        ("/orders", {"user_id": "{user}", "lines": [{"item_id": "{item}", "quantity": 1, LONE: 1}]}),
        ("/devices/{device}/telemetry", {"readings": [{"metric": "t", "value": 1, LONE: 1}]}),
    ],
)
def test_a_lone_surrogate_in_a_key_answers_400_problem_json_and_changes_nothing(app, client, ids, path, body):
    path, text = path.format_map(ids), json.dumps(body).replace("{user}", ids["user"]).replace("{item}", ids["item"])
    with nothing_changes(app):
        response = client.post(path, data=text, content_type="application/json")
    assert_problem(response, 400)


def test_escaped_text_that_is_valid_unicode_is_taken_as_its_characters(client):
    # A surrogate pair is one character; \ud55c is not a surrogate, though it starts like one.
    body = '{"name": "\\ud83e\\udd53 \\ud55c", "description": ""}'
    response = client.post("/items", data=body, content_type="application/json")
    assert response.status_code == 201
    assert response.get_json()["name"] == "🥓 한"


def test_a_problem_that_quotes_a_lone_surrogate_still_goes_out_as_problem_json(tmp_path):
    from app.errors import invalid

    app = make_app(tmp_path)

    @app.get("/quote")
    def quote():
        raise invalid({LONE: ["Unknown field."]})

    response = app.test_client().get("/quote")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["errors"] == {LONE: ["Unknown field."]}


# ---------------------------------------------------------------- cursors

def cursor_of(text: bytes) -> str:
    return base64.urlsafe_b64encode(text).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "path, key",
    [
        ("/items", '["\\ud800","x"]'),
        ("/employees", '["\\ud800","x"]'),
        ("/users", '["\\ud800","x","y"]'),
        (f"/items/{BACON_ID}/history", '["\\udfff"]'),
    ],
)
def test_a_cursor_with_a_lone_surrogate_answers_400(client, path, key):
    response = client.get(path, query_string={"cursor": cursor_of(key.encode())})
    assert response.status_code == 400
    assert "cursor" in response.get_json()["errors"]


def test_a_cursor_nested_past_the_parsers_depth_answers_400(client):
    response = client.get("/items", query_string={"cursor": cursor_of(b"[" * 1001 + b"]" * 1001)})
    assert response.status_code == 400
    assert "cursor" in response.get_json()["errors"]


def test_a_cursor_longer_than_any_this_service_issues_answers_400_before_it_is_decoded(client, monkeypatch):
    import app.pagination

    monkeypatch.setattr(app.pagination.base64, "urlsafe_b64decode", lambda _: pytest.fail("decoded"))
    response = client.get("/items", query_string={"cursor": "W" * (MAX_CURSOR_LENGTH + 1)})
    assert response.status_code == 400
    assert "cursor" in response.get_json()["errors"]


def test_the_longest_sort_key_makes_a_cursor_within_the_cap(client):
    # Names at their longest, of characters that JSON escapes as two \u escapes each.
    for n in range(2):
        create_user(client, first_name="🥓" * 100, last_name="🥓" * 100, email=f"bacon{n}@example.com")
    response = client.get("/users?limit=1")
    link = response.headers["Link"]
    cursor = parse_qs(urlsplit(link[link.index("<") + 1 : link.index(">")]).query)["cursor"][0]
    assert len(cursor) <= MAX_CURSOR_LENGTH
    assert client.get("/users", query_string={"limit": 1, "cursor": cursor}).status_code == 200


# ---------------------------------------------------------------- streamed bodies

def streamed(client, path: str, body: bytes):
    """POST ``body`` as a server hands on a chunked one: no Content-Length, the stream's end marked."""
    return client.post(
        path,
        input_stream=io.BytesIO(body),
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def item_body(size: int) -> bytes:
    """A valid item body of exactly ``size`` bytes."""
    empty = b'{"name":"x","description":""}'
    return empty.replace(b'""', b'"' + b"y" * (size - len(empty)) + b'"')


def test_a_chunked_body_over_the_size_limit_answers_413_and_changes_nothing(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    with nothing_changes(app):
        response = streamed(client, "/items", item_body(1001))
    assert_problem(response, 413)


def test_a_chunked_body_of_exactly_the_size_limit_is_read_whole(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    assert streamed(client, "/items", item_body(1000)).status_code == 201


def test_a_chunked_body_over_the_size_limit_answers_413_where_the_body_is_read_before_parsing(app, client, ids):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    reason = b'{"reason":"' + b"y" * 1000 + b'"}'
    assert streamed(client, f"/orders/{ids['order']}/cancel", reason).status_code == 413


@pytest.mark.postgresql
def test_connections_the_server_ended_cost_a_503_to_retry_then_new_ones_serve(app, client):
    """Pooled connections are not pinged before use: one the server ended (a restart, a
    terminated backend) fails its request with a 503 to retry, never a 500, and is replaced."""
    assert client.get("/items").status_code == 200  # the pool now holds connections
    with closing(plain_connection(app.config)) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    statuses = [client.get("/items").status_code for _ in range(3)]
    assert statuses == [503, 200, 200]  # the one pooled query connection, then a new one
    created = [client.post("/items", json={"name": "Eggs", "description": "d"}).status_code for _ in range(3)]
    assert created[-1] == 201 and set(created) <= {201, 503}
