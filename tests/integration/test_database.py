"""The database: settings for many processes, the wall between the sides, and migrations."""

import hashlib
import os
import subprocess
import sys
from contextlib import closing, nullcontext

import pytest
from sqlalchemy.exc import DatabaseError

from app import create_app
from app.schema import current as current_version
from app.config import StartupError
from app.db import ROLES, connection, transaction, transaction_on
from tests import engines
from tests.e2e.conftest import free_port
from tests.engines import plain_connection
from tests.order_support import an_order
from tests.support import BACON_ID, JOHN_DOE_ID, as_schema_version_1, make_app, query, read_model, tables

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# What each engine says when the wall refuses a statement: SQLite's authorizer, or PostgreSQL's
# GRANTs (42501) and the query role's read-only transactions (25006).
REFUSED = "not authorized|prohibited|permission denied|read-only transaction"
VIEW_COUNT = "SELECT count(*) FROM item_list_view"

# PostgreSQL's catalogue of what migrations.postgresql.sql makes: columns, keys and checks,
# indexes, triggers, functions and GRANTs.
PG_SCHEMA = [
    "SELECT table_name, column_name, data_type, column_default, is_nullable FROM information_schema.columns"
    " WHERE table_schema = current_schema() ORDER BY 1, 2",
    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE connamespace = current_schema()::regnamespace ORDER BY 1, 2",
    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1",
    "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2",
    "SELECT proname, prosrc FROM pg_proc WHERE pronamespace = current_schema()::regnamespace ORDER BY 1",
    "SELECT table_name, grantee, privilege_type FROM information_schema.role_table_grants"
    " WHERE table_schema = current_schema() ORDER BY 1, 2, 3",
]


def schema(app) -> list:
    if app.config.get("DATABASE_URL"):
        return [query(app, sql) for sql in PG_SCHEMA]
    return query(app, "SELECT type, name, sql FROM sqlite_schema ORDER BY name")


def everything(app) -> dict:
    """Schema and every row of every table: what a migration must leave untouched."""
    return {"schema": schema(app), **{t: query(app, f"SELECT * FROM {t} ORDER BY 1") for t in sorted(tables(app))}}


def refused():
    return pytest.raises(DatabaseError, match=REFUSED)


def new_database_config(directory) -> dict:
    """The settings of a database that nothing has made yet: no file, or an empty PostgreSQL database."""
    if engines.ENGINE == "postgresql":
        name = "new_" + hashlib.sha1(str(directory.resolve()).encode()).hexdigest()[:20]
        engines.server().create_database(name)
        return {"DATABASE_URL": engines.server().url(name)}
    return {"DATABASE_PATH": str(directory / "cqrs.db")}


@pytest.mark.sqlite
@pytest.mark.parametrize("role", ROLES)
def test_every_connection_is_set_up_for_many_processes(app, role):
    with app.app_context(), transaction(role) as tx:
        assert tx.scalar("PRAGMA journal_mode") == "wal"
        assert tx.scalar("PRAGMA synchronous") == 1  # NORMAL
        assert tx.scalar("PRAGMA foreign_keys") == 1
        assert tx.scalar("PRAGMA busy_timeout") >= 5000


@pytest.mark.postgresql
@pytest.mark.parametrize("role", ROLES)
def test_every_postgresql_connection_has_its_role_and_the_busy_timeout(tmp_path, role):
    app = make_app(tmp_path, DATABASE_BUSY_TIMEOUT_MS=1234)
    with app.app_context(), transaction(role) as tx:
        assert tx.scalar("SELECT current_user") == f"cqrs_{role}"
        assert tx.scalar("SELECT setting FROM pg_settings WHERE name = 'lock_timeout'") == "1234"  # ms


@pytest.mark.postgresql
@pytest.mark.parametrize(("role", "read_only"), [("command", "off"), ("projector", "off"), ("query", "on")])
def test_only_the_query_roles_postgresql_transactions_are_read_only(app, role, read_only):
    with app.app_context(), transaction(role) as tx:
        assert tx.scalar("SHOW transaction_read_only") == read_only


@pytest.mark.postgresql
def test_a_postgresql_query_transaction_refuses_a_write_even_to_a_table_it_reads(app):
    with app.app_context(), pytest.raises(DatabaseError) as error:
        with transaction("query") as tx:
            tx.execute("DELETE FROM item_list_view")
    assert error.value.orig.sqlstate == "25006"  # read_only_sql_transaction, before any GRANT is looked at


# Each side's reach into the other's tables.
REFUSALS = [
    ("query", "SELECT * FROM items"),
    ("query", "SELECT * FROM events"),
    ("query", "DELETE FROM item_list_view"),
    ("command", "SELECT * FROM item_list_view"),
    ("command", "SELECT * FROM projection_checkpoints"),
    ("command", "UPDATE item_details_view SET document = '{}'"),
    ("projector", "SELECT * FROM items"),
    ("projector", "DELETE FROM items"),
    ("projector", "INSERT INTO events (event_id) VALUES ('x')"),
]


@pytest.mark.sqlite
@pytest.mark.parametrize(("role", "sql"), REFUSALS)
def test_sqlite_refuses_each_side_the_tables_of_the_other(app, role, sql):
    with app.app_context(), pytest.raises(DatabaseError, match="not authorized|prohibited"):
        with transaction(role) as tx:
            tx.execute(sql)


@pytest.mark.postgresql
@pytest.mark.parametrize(("role", "sql"), REFUSALS)
def test_postgresql_refuses_each_side_the_tables_of_the_other(app, role, sql):
    with app.app_context(), pytest.raises(DatabaseError) as error:
        with transaction(role) as tx:
            tx.execute(sql)
    # insufficient_privilege (the GRANTs), or read_only_sql_transaction (the query role's writes)
    assert error.value.orig.sqlstate in ("42501", "25006"), error.value


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
    with app.app_context(), transaction("command") as tx:
        with tx.acting_as("projector") as projector:
            assert projector.scalar(VIEW_COUNT) == 1  # the seeded Bacon
            with refused(), projector.savepoint():  # on PostgreSQL, a refusal aborts up to the savepoint
                projector.execute("DELETE FROM items")
            assert projector.scalar(VIEW_COUNT) == 1  # still the projector after rolling back to it
        assert tx.scalar("SELECT count(*) FROM items") == 1
        # The same text, prepared again for the command side, not reused from the projector's.
        with refused():
            tx.scalar(VIEW_COUNT)


def _refused_statement(projector) -> None:
    projector.execute("DELETE FROM items")


def _python_error(projector) -> None:
    projector.scalar(VIEW_COUNT)
    raise RuntimeError("a handler's bug")


@pytest.mark.parametrize("failure", [_refused_statement, _python_error])
def test_a_savepoint_rolled_back_around_acting_as_the_projector_leaves_the_command_role(app, failure):
    with app.app_context(), transaction("command") as tx:
        with pytest.raises(Exception), tx.savepoint(), tx.acting_as("projector") as projector:  # noqa: B017, PT011
            failure(projector)
        assert tx.scalar("SELECT count(*) FROM items") == 1
        with refused():
            tx.scalar(VIEW_COUNT)


def _commits(projector) -> None:
    projector.scalar(VIEW_COUNT)


@pytest.mark.parametrize("ending", [_commits, _refused_statement, _python_error])
def test_a_command_connection_is_the_command_again_in_its_next_transaction_after_acting_as_another(app, ending):
    with app.app_context(), connection("command") as raw:
        with pytest.raises(Exception) if ending is not _commits else nullcontext():  # noqa: PT011
            with transaction_on(raw, immediate=True) as tx, tx.acting_as("projector") as projector:
                ending(projector)
        with refused(), transaction_on(raw, immediate=True) as tx:
            tx.scalar(VIEW_COUNT)


@pytest.mark.parametrize("sql", ["UPDATE events SET type = 'x'", "DELETE FROM events"])
def test_the_event_log_is_append_only_even_for_plain_connections(app, sql):
    with closing(plain_connection(app.config)) as conn, pytest.raises(Exception, match="append-only"):  # noqa: PT011
        conn.execute(sql)


def test_applying_the_migrations_again_changes_nothing(app, runner):
    before = everything(app)
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert f"is at schema version {current_version(app.extensions['engine'].name)}" in result.output
    assert everything(app) == before


def test_a_deleted_seed_item_stays_deleted_across_restarts(app, client, tmp_path):
    assert client.delete(f"/items/{BACON_ID}").status_code == 204
    restarted = make_app(tmp_path)
    assert restarted.test_client().get(f"/items/{BACON_ID}").status_code == 404
    assert query(app, "SELECT count(*) FROM items WHERE id = ?", BACON_ID) == [(0,)]


def test_a_database_with_the_old_order_history_copy_serves_histories_without_it(app, client, tmp_path):
    order = an_order(client)
    with closing(plain_connection(app.config)) as old:  # as before 2026-12-06
        as_schema_version_1(old)
        old.execute("CREATE TABLE order_history_view (id TEXT PRIMARY KEY, user_id TEXT NOT NULL)")
        old.commit()
    restarted = make_app(tmp_path).test_client()
    assert "order_history_view" not in tables(app)
    history = restarted.get(f"/users/{order['user']['id']}/orders").get_json()
    assert [row["id"] for row in history] == [order["id"]]


@pytest.mark.sqlite
def test_the_database_file_and_its_folder_are_created_on_first_start(tmp_path):
    path = tmp_path / "deep" / "er" / "cqrs.db"
    create_app({"DATABASE_PATH": str(path)})
    assert path.exists()


def test_several_processes_starting_on_a_new_database_at_once_seed_it_exactly_once(tmp_path):
    database = new_database_config(tmp_path)
    env = {**os.environ, **database}
    starts = [
        subprocess.Popen([sys.executable, "-c", "from app import create_app; create_app()"], cwd=ROOT, env=env)
        for _ in range(4)
    ]
    assert [p.wait(timeout=60) for p in starts] == [0, 0, 0, 0]
    app = create_app(database)
    assert query(app, "SELECT stream_id, type FROM events") == [
        (BACON_ID, "ItemCreated"),
        (JOHN_DOE_ID, "EmployeeHired"),
    ]
    assert [row[:2] for row in read_model(app)["item_list_view"]] == [(BACON_ID, "Bacon")]


@pytest.mark.sqlite
def test_full_durability_can_be_chosen(tmp_path):
    app = create_app({"DATABASE_PATH": str(tmp_path / "cqrs.db"), "SQLITE_SYNCHRONOUS": "FULL"})
    with app.app_context(), transaction("command") as tx:
        assert tx.scalar("PRAGMA synchronous") == 2  # FULL


@pytest.mark.postgresql
def test_a_start_that_cannot_reach_postgresql_says_so_in_one_line(tmp_path):
    port = free_port()  # nothing listens there
    url = f"postgresql://someone:secret@127.0.0.1:{port}/cqrs"
    with pytest.raises(StartupError) as failed:
        create_app({"DATABASE_PATH": str(tmp_path / "unused.db"), "DATABASE_URL": url})
    message = str(failed.value)
    assert message.startswith(f"cannot connect to PostgreSQL at postgresql+psycopg://someone:***@127.0.0.1:{port}/cqrs")
    assert "\n" not in message and "secret" not in message


@pytest.mark.postgresql
def test_each_role_may_log_in_with_credentials_of_its_own(tmp_path):
    """Production: a login per role, NOINHERIT, that may only become its role (the command's
    login also the projector, which its transactions act as). The service works through them."""
    owner = make_app(tmp_path)  # migrated by the owner: the roles and GRANTs exist
    with closing(plain_connection(owner.config)) as conn:
        for login, roles in (("svc_command", "cqrs_command, cqrs_projector"), ("svc_query", "cqrs_query")):
            conn.execute(f"DROP ROLE IF EXISTS {login}")
            conn.execute(f"CREATE ROLE {login} LOGIN NOINHERIT IN ROLE {roles}")
    url = owner.config["DATABASE_URL"]
    as_login = {
        "COMMAND_DATABASE_URL": url.replace("//postgres@", "//svc_command@"),
        "PROJECTOR_DATABASE_URL": url.replace("//postgres@", "//svc_command@"),
        "QUERY_DATABASE_URL": url.replace("//postgres@", "//svc_query@"),
    }
    app = make_app(tmp_path, **as_login)
    client = app.test_client()
    created = client.post("/items", json={"name": "Eggs", "description": "a dozen"})
    assert created.status_code == 201
    assert "Eggs" in [item["name"] for item in client.get("/items").get_json()]
    with app.app_context(), transaction("query") as tx:
        assert tx.scalar("SELECT session_user") == "svc_query"
        with pytest.raises(DatabaseError, match="permission denied"):
            tx.execute("SELECT * FROM items")


@pytest.mark.postgresql
def test_a_test_database_goes_when_its_folder_does(tmp_path):
    """The tests' own housekeeping: a copy of the template per test folder would fill the disk."""
    folder = tmp_path / "gone"
    folder.mkdir()
    name = engines.database_config(folder)["DATABASE_URL"].rsplit("/", 1)[1]

    def exists() -> bool:
        with closing(engines.server().connect()) as conn:
            return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None

    engines.drop_databases_of_removed_directories()
    assert exists()
    folder.rmdir()
    engines.drop_databases_of_removed_directories()
    assert not exists()


def test_the_keys_of_personal_data_are_read_by_the_projector_and_never_by_queries(app):
    keys = "SELECT count(*) FROM personal_data_keys"
    with app.app_context():
        with transaction("command") as tx:
            tx.execute(
                "INSERT INTO personal_data_keys (stream_type, stream_id, key, created_at) VALUES ('user', 'u', NULL, 't')"
            )
        with transaction("projector") as tx:
            assert tx.scalar(keys) == 1
        with refused(), transaction("projector") as tx:
            tx.execute("DELETE FROM personal_data_keys")
        with refused(), transaction("query") as tx:
            tx.scalar(keys)


@pytest.mark.sqlite
def test_every_sqlite_connection_overwrites_what_it_deletes(app):
    for role in ROLES:
        with app.app_context(), transaction(role) as tx:
            assert tx.scalar("PRAGMA secure_delete") == 1
