"""``flask --app wsgi events encrypt-personal-data``: the personal fields that events from
before keys hold in plaintext are sealed in place, in one transaction with an audit event; the
log still reads the same, a stream erased before reads as placeholders, the append-only
trigger is back, and a second run does nothing."""

import json
import shutil
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from app import create_app
from app.db import transaction
from app.eventlog import ERASED, read_after
from tests.engines import plain_connection
from tests.support import JOHN_DOE, JOHN_DOE_ID, query

FROZEN = Path(__file__).resolve().parent.parent / "frozen" / "2026-12-06"


def stored(app) -> dict[int, str]:
    return dict(query(app, "SELECT position, payload FROM events ORDER BY position"))


def read_log(app) -> dict[int, str]:
    with app.app_context(), transaction("projector", read_only=True) as tx:
        return {e.position: e.payload for e in read_after(tx, 0, 100_000)}


def test_the_seed_employees_plaintext_is_sealed_and_still_reads_the_same(app, client, runner):
    before, stored_before = read_log(app), stored(app)
    assert "1234 Main Street" in "".join(stored_before.values())
    result = runner.invoke(args=["events", "encrypt-personal-data"])
    assert result.exit_code == 0, result.output
    assert "1 events of 1 streams" in result.output
    after = stored(app)
    assert "1234 Main Street" not in "".join(after.values()) and "John" not in "".join(after.values())
    assert {p: v for p, v in read_log(app).items() if p in before} == before
    assert client.get(f"/employees/{JOHN_DOE_ID}").get_json() == JOHN_DOE
    assert client.get(f"/employees/{JOHN_DOE_ID}/history").get_json()[0]["data"]["first_name"] == "John"
    (audit,) = query(app, "SELECT type, payload FROM events WHERE stream_type = 'log'")
    assert audit[0] == "PersonalDataEncrypted" and json.loads(audit[1])["events"] == 1


def test_a_second_run_changes_nothing(app, runner):
    runner.invoke(args=["events", "encrypt-personal-data"])
    before = stored(app)
    result = runner.invoke(args=["events", "encrypt-personal-data"])
    assert result.exit_code == 0 and "nothing to do" in result.output
    assert stored(app) == before


def test_the_log_is_append_only_again_after_it(app, runner):
    runner.invoke(args=["events", "encrypt-personal-data"])
    with closing(plain_connection(app.config)) as conn, pytest.raises(Exception, match="append-only"):
        conn.execute("UPDATE events SET type = type WHERE position = 1")
    with app.app_context(), pytest.raises(DBAPIError), transaction("command") as tx:
        tx.execute("UPDATE events SET type = type WHERE position = 1")


@pytest.mark.sqlite
def test_on_the_frozen_database_a_user_deleted_before_reads_as_placeholders(tmp_path):
    shutil.copy(FROZEN / "database.sqlite3", tmp_path / "cqrs.db")
    app = create_app({"DATABASE_PATH": str(tmp_path / "cqrs.db")})
    client = app.test_client()
    emails = ("grace@example.com", "Amelie@Example.fr")
    assert all(email in "".join(stored(app).values()) for email in emails)
    result = app.test_cli_runner().invoke(args=["events", "encrypt-personal-data"])
    assert result.exit_code == 0, result.output
    assert "(1 erased" in result.output
    assert not any(email in "".join(stored(app).values()) for email in emails)
    feed = client.get("/events", query_string={"limit": 1000}).get_data(as_text=True)
    assert "grace@example.com" in feed and "Amelie@Example.fr" not in feed  # Amélie was deleted
    deleted = query(app, "SELECT stream_id FROM events WHERE type = 'UserDeleted'")[0][0]
    registered = client.get(f"/users/{deleted}/history").get_json()[0]
    assert registered["data"] == {"first_name": ERASED, "last_name": ERASED, "email": ERASED}
    live = client.get("/events", query_string={"limit": 1000}).get_json()
    with app.app_context():
        app.extensions["projector"].rebuild()
    assert client.get("/events", query_string={"limit": 1000}).get_json() == live
