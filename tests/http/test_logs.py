"""Logs: one JSON line per record, each with its request id; never a body or a credential."""

import json

from app import logs
from tests.support import make_app


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_every_request_leaves_one_access_line_with_its_request_id(client, capsys):
    capsys.readouterr()
    client.post("/items", json={"name": "Eggs", "description": ""}, headers={"X-Request-ID": "req-7"})
    access = [line for line in json_lines(capsys.readouterr().err) if line["logger"] == "app.access"]
    assert len(access) == 1
    assert access[0]["request_id"] == "req-7"
    assert (access[0]["method"], access[0]["path"], access[0]["status"]) == ("POST", "/items", 201)
    assert access[0]["duration_ms"] >= 0


def test_bodies_query_strings_and_credentials_stay_out_of_the_logs(client, capsys):
    client.post(
        "/users?token=query-secret",
        json={"first_name": "Body", "last_name": "Secret", "email": "body-secret@example.com"},
        headers={"Authorization": "Bearer header-secret", "Cookie": "session=cookie-secret"},
    )
    err = capsys.readouterr().err
    assert not any(secret in err for secret in ("query-secret", "body-secret", "header-secret", "cookie-secret"))


def test_an_unexpected_error_is_logged_with_its_request_id_and_traceback(app, capsys):
    @app.get("/explode-for-logs")
    def explode():
        raise RuntimeError("kaboom")

    app.test_client().get("/explode-for-logs", headers={"X-Request-ID": "boom-1"})
    errors = [line for line in json_lines(capsys.readouterr().err) if line["level"] == "ERROR"]
    assert errors[0]["request_id"] == "boom-1"
    assert "RuntimeError: kaboom" in errors[0]["exception"]


def test_text_format_is_readable_and_still_carries_the_request_id(client, capsys):
    logs.configure("INFO", "text")
    try:
        client.get("/items", headers={"X-Request-ID": "txt-1"})
        line = [line for line in capsys.readouterr().err.splitlines() if "app.access" in line][-1]
        assert "[txt-1]" in line and "GET /items 200" in line
    finally:
        logs.configure("INFO", "json")


def test_the_access_line_has_the_fields_of_every_json_line_and_the_path_as_sent(client, capsys):
    capsys.readouterr()
    client.get('/items/caf%C3%A9"x', headers={"X-Request-ID": "odd-path"})
    (line,) = [line for line in json_lines(capsys.readouterr().err) if line["logger"] == "app.access"]
    assert list(line) == ["time", "level", "logger", "message", "request_id", "method", "path", "status", "duration_ms"]
    assert line["path"] == '/items/café"x' and line["message"] == 'GET /items/café"x 400'
    assert (line["level"], line["request_id"], line["status"]) == ("INFO", "odd-path", 400)
    assert line["time"].endswith("Z") and len(line["time"]) == len("2026-01-01T00:00:00.000Z")


def test_a_request_id_ending_in_a_line_break_is_made_up_anew_and_the_access_line_stays_one_line(client, capsys):
    capsys.readouterr()
    response = client.get("/items", environ_overrides={"HTTP_X_REQUEST_ID": "id-1\n"})
    lines = [line for line in capsys.readouterr().err.splitlines() if "app.access" in line]
    assert len(lines) == 1 and json_lines(lines[0])[0]["request_id"] == response.headers["X-Request-ID"]
    assert len(response.headers["X-Request-ID"]) == 32


def test_a_failed_request_leaves_its_access_line_too(app, capsys):
    @app.get("/explode-for-access")
    def explode():
        raise RuntimeError("kaboom")

    capsys.readouterr()
    app.test_client().get("/explode-for-access", headers={"X-Request-ID": "boom-2"})
    access = [line for line in json_lines(capsys.readouterr().err) if line["logger"] == "app.access"]
    assert [(line["status"], line["request_id"]) for line in access] == [(500, "boom-2")]


def test_log_level_warning_silences_the_access_lines(tmp_path, capsys):
    app = make_app(tmp_path, LOG_LEVEL="WARNING")
    try:
        capsys.readouterr()
        app.test_client().get("/items")
        assert "app.access" not in capsys.readouterr().err
    finally:
        logs.configure("INFO", "json")
