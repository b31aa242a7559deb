"""What every route shares: problem+json errors, no tracebacks, request ids."""

from app import create_app
from app.http import MAX_JSON_DEPTH


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
    app = create_app({"DATABASE_PATH": str(tmp_path / "cqrs.db")})

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


def test_a_write_lock_held_past_the_busy_timeout_answers_503_and_changes_nothing(tmp_path):
    import sqlite3

    from tests.support import events

    app = create_app({"DATABASE_PATH": str(tmp_path / "cqrs.db"), "SQLITE_BUSY_TIMEOUT_MS": 100})
    before = events(app)
    blocker = sqlite3.connect(app.config["DATABASE_PATH"], isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        response = app.test_client().post("/items", json={"name": "Eggs", "description": ""})
    finally:
        blocker.rollback()
        blocker.close()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.mimetype == "application/problem+json"
    assert events(app) == before


def test_a_writer_that_never_gets_its_turn_answers_503_and_changes_nothing(tmp_path):
    import fcntl
    import os

    from tests.support import events

    app = create_app({"DATABASE_PATH": str(tmp_path / "cqrs.db"), "SQLITE_BUSY_TIMEOUT_MS": 100})
    before = events(app)
    # Another process's writer, as the queue sees it: the lock of its own open file.
    held = os.open(app.config["DATABASE_PATH"] + "-writers", os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        response = app.test_client().post("/items", json={"name": "Eggs", "description": ""})
    finally:
        os.close(held)
    assert response.status_code == 503
    assert events(app) == before
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
    from tests.support import events

    before = events(app)
    for body in (
        '{"name": "Eggs", "description": "", "name": "Bacon"}',
        '{"readings": [{"metric": "t", "value": 1, "value": 2}]}',  # deep inside a batch too
    ):
        response = client.post("/items", data=body, content_type="application/json")
        assert response.status_code == 400
        assert response.mimetype == "application/problem+json"
        assert "duplicate key" in response.get_json()["detail"]
    assert events(app) == before
