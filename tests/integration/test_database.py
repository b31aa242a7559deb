"""The SQLite file: settings for many processes, the wall between the sides, and migrations."""

import os
import sqlite3
import subprocess
import sys
from contextlib import closing

import pytest
from sqlalchemy.exc import DatabaseError

from app import create_app
from app.db import ROLES, transaction
from tests.order_support import an_order
from tests.support import BACON_ID, JOHN_DOE_ID, query, read_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def everything(app) -> dict:
    """Schema and every row of every table: what a migration must leave untouched."""
    tables = [t for (t,) in query(app, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")]
    return {
        "schema": query(app, "SELECT type, name, sql FROM sqlite_schema ORDER BY name"),
        **{t: query(app, f"SELECT * FROM {t} ORDER BY 1") for t in tables},
    }


@pytest.mark.parametrize("role", ROLES)
def test_every_connection_is_set_up_for_many_processes(app, role):
    with app.app_context(), transaction(role) as tx:
        assert tx.scalar("PRAGMA journal_mode") == "wal"
        assert tx.scalar("PRAGMA synchronous") == 1  # NORMAL
        assert tx.scalar("PRAGMA foreign_keys") == 1
        assert tx.scalar("PRAGMA busy_timeout") >= 5000


@pytest.mark.parametrize(
    ("role", "sql"),
    [
        ("query", "SELECT * FROM items"),
        ("query", "SELECT * FROM events"),
        ("query", "DELETE FROM item_list_view"),
        ("command", "SELECT * FROM item_list_view"),
        ("command", "SELECT * FROM projection_checkpoints"),
        ("command", "UPDATE item_details_view SET document = '{}'"),
        ("projector", "SELECT * FROM items"),
        ("projector", "DELETE FROM items"),
        ("projector", "INSERT INTO events (event_id) VALUES ('x')"),
    ],
)
def test_sqlite_refuses_each_side_the_tables_of_the_other(app, role, sql):
    with app.app_context(), pytest.raises(DatabaseError, match="not authorized|prohibited"):
        with transaction(role) as tx:
            tx.execute(sql)


@pytest.mark.parametrize(
    ("role", "sql"),
    [
        ("query", "SELECT * FROM item_list_view"),
        ("command", "SELECT * FROM items"),
        ("command", "SELECT * FROM events"),
        ("projector", "SELECT * FROM events"),
        ("projector", "DELETE FROM item_list_view WHERE id = 'x'"),
    ],
)
def test_each_side_reaches_its_own_tables(app, role, sql):
    with app.app_context(), transaction(role) as tx:
        tx.execute(sql)


def test_a_command_transaction_acting_as_the_projector_gets_its_rights_and_only_there(app):
    sql = "SELECT count(*) FROM item_list_view"
    with app.app_context(), transaction("command") as tx:
        with tx.acting_as("projector") as projector:
            assert projector.scalar(sql) == 1  # the seeded Bacon
            with pytest.raises(DatabaseError, match="not authorized|prohibited"):
                projector.execute("DELETE FROM items")
        # The same text, prepared again for the command side, not reused from the projector's.
        with pytest.raises(DatabaseError, match="not authorized|prohibited"):
            tx.scalar(sql)


@pytest.mark.parametrize("sql", ["UPDATE events SET type = 'x'", "DELETE FROM events"])
def test_the_event_log_is_append_only_even_for_plain_connections(app, sql):
    with closing(sqlite3.connect(app.config["DATABASE_PATH"])) as conn, pytest.raises(sqlite3.DatabaseError):
        conn.execute(sql)


def test_applying_the_migrations_again_changes_nothing(app, runner):
    before = everything(app)
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "Applied migrations.sql" in result.output
    assert everything(app) == before


def test_a_deleted_seed_item_stays_deleted_across_restarts(app, client):
    assert client.delete(f"/items/{BACON_ID}").status_code == 204
    restarted = create_app({"DATABASE_PATH": app.config["DATABASE_PATH"]})
    assert restarted.test_client().get(f"/items/{BACON_ID}").status_code == 404
    assert query(app, "SELECT count(*) FROM items WHERE id = ?", BACON_ID) == [(0,)]


def test_a_database_with_the_old_order_history_copy_serves_histories_without_it(app, client):
    order = an_order(client)
    with closing(sqlite3.connect(app.config["DATABASE_PATH"])) as old, old:  # as before 2026-12-06
        old.execute("CREATE TABLE order_history_view (id TEXT PRIMARY KEY, user_id TEXT NOT NULL)")
    restarted = create_app({"DATABASE_PATH": app.config["DATABASE_PATH"]}).test_client()
    assert query(app, "SELECT name FROM sqlite_schema WHERE name = 'order_history_view'") == []
    history = restarted.get(f"/users/{order['user']['id']}/orders").get_json()
    assert [row["id"] for row in history] == [order["id"]]


def test_the_database_file_and_its_folder_are_created_on_first_start(tmp_path):
    path = tmp_path / "deep" / "er" / "cqrs.db"
    create_app({"DATABASE_PATH": str(path)})
    assert path.exists()


def test_several_processes_starting_on_a_new_database_at_once_seed_it_exactly_once(tmp_path):
    env = {**os.environ, "DATABASE_PATH": str(tmp_path / "cqrs.db")}
    starts = [
        subprocess.Popen([sys.executable, "-c", "from app import create_app; create_app()"], cwd=ROOT, env=env)
        for _ in range(4)
    ]
    assert [p.wait(timeout=60) for p in starts] == [0, 0, 0, 0]
    app = create_app({"DATABASE_PATH": str(tmp_path / "cqrs.db")})
    assert query(app, "SELECT stream_id, type FROM events") == [
        (BACON_ID, "ItemCreated"),
        (JOHN_DOE_ID, "EmployeeHired"),
    ]
    assert read_model(app)["item_list_view"] == [(BACON_ID, "Bacon")]


def test_full_durability_can_be_chosen(tmp_path):
    app = create_app({"DATABASE_PATH": str(tmp_path / "cqrs.db"), "SQLITE_SYNCHRONOUS": "FULL"})
    with app.app_context(), transaction("command") as tx:
        assert tx.scalar("PRAGMA synchronous") == 2  # FULL
