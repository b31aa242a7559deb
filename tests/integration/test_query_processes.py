"""A query process on PostgreSQL reads through the query role only: given QUERY_DATABASE_URL
(a standby's, in production), it serves every read and operators' route without ever
connecting to DATABASE_URL, and starts only once the schema is there. One that follows
another service (FOLLOW_URL) is the exception: its database is its own."""

from contextlib import closing

import pytest

from app import create_app
from app.config import StartupError
from app.db import engine
from app.schema import current
from tests import engines
from tests.engines import plain_connection
from tests.support import BACON_ID, make_app

pytestmark = pytest.mark.postgresql

NOWHERE = "postgresql://cqrs:secret@127.0.0.1:9/nowhere"  # the discard port: nothing answers there


@pytest.fixture
def reader(tmp_path):
    """A query process whose DATABASE_URL leads nowhere: any connection to it would fail."""
    written = make_app(tmp_path)
    written.test_client().post("/items", json={"name": "Eggs", "description": ""})
    url = written.config["DATABASE_URL"]
    return create_app({"APP_ROLE": "query", "DATABASE_URL": NOWHERE, "QUERY_DATABASE_URL": url}).test_client()


def test_it_serves_reads_and_operators_routes_through_the_query_role_alone(reader):
    assert reader.get(f"/items/{BACON_ID}").status_code == 200
    assert [item["name"] for item in reader.get("/items").get_json()] == ["Bacon", "Eggs"]
    assert reader.get("/healthz").get_json() == {"status": "ok"}
    assert reader.get("/readyz").get_json() == {"status": "ready"}
    statuses = reader.get("/projections").get_json()
    assert {status["state"] for status in statuses} == {"live"}
    assert b"read_model_position" in reader.get("/metrics").data


def test_it_needs_no_database_url_at_all(tmp_path):
    url = make_app(tmp_path).config["DATABASE_URL"]
    reader = create_app({"APP_ROLE": "query", "DATABASE_URL": "", "QUERY_DATABASE_URL": url}).test_client()
    assert reader.get(f"/items/{BACON_ID}").status_code == 200


def test_process_managers_are_a_command_processes_matter(reader):
    assert reader.get("/process-managers").status_code == 404


def test_a_primary_has_no_replica_lag(app, client):
    with app.app_context():
        assert engine().replica_lag() is None
    assert b"replica_lag_seconds" not in client.get("/metrics").data


def test_it_will_not_start_on_a_database_without_the_schema(tmp_path):
    running = engines.server()
    running.create_database("t_no_schema_yet")
    try:
        with pytest.raises(StartupError, match="no schema a query process can read.*start a command process"):
            create_app({"APP_ROLE": "query", "DATABASE_URL": "", "QUERY_DATABASE_URL": running.url("t_no_schema_yet")})
    finally:
        engines.close_every_app()
        running.drop_database("t_no_schema_yet")


def test_it_will_not_start_on_a_schema_older_than_its_code_until_a_command_process_upgrades_it(tmp_path):
    written = make_app(tmp_path)
    url = written.config["DATABASE_URL"]
    with closing(plain_connection(written.config)) as conn:
        conn.execute("DELETE FROM schema_migrations")
        conn.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, 'older', '')")
    with pytest.raises(StartupError, match=f"has schema version 1, this code needs {current('postgresql')}: start a command process"):
        create_app({"APP_ROLE": "query", "DATABASE_URL": "", "QUERY_DATABASE_URL": url})
    with closing(plain_connection(written.config)) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'newer', '')")
    with pytest.raises(StartupError, match="at version 99, newer than this code's"):
        create_app({"APP_ROLE": "query", "DATABASE_URL": "", "QUERY_DATABASE_URL": url})


def test_a_following_query_service_makes_the_schema_of_its_own_database(tmp_path):
    """One that follows another service (FOLLOW_URL) keeps a database of its own, and writes it."""
    running = engines.server()
    running.create_database("t_follower_empty")
    try:
        url = running.url("t_follower_empty")
        follower = create_app({"APP_ROLE": "query", "DATABASE_URL": url, "FOLLOW_URL": "http://127.0.0.1:9"})
        assert follower.test_client().get("/items").get_json() == []  # nothing followed yet: the source is away
        problem = follower.test_client().get("/readyz").get_json()
        assert problem["status"] == "not ready" and "http://127.0.0.1:9" in problem["reasons"][0]
    finally:
        engines.close_every_app()
        running.drop_database("t_follower_empty")
