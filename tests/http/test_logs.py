"""Logs: one JSON line per record, each with its request id; never a body or a credential."""

import json

from app import logs


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
