"""migrations.sql and migrations.postgresql.sql make the same database: tables, columns, keys,
indexes, the append-only log and the seed rows; the PostgreSQL file can be applied again, and
its grants draw the wall that app/db.py's authorizer draws on SQLite."""

import re
import sqlite3
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.postgres_server import postgres_server  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parents[2]
SQLITE_FILE = ROOT / "migrations.sql"
POSTGRESQL_FILE = ROOT / "migrations.postgresql.sql"
SQLITE_TYPES = {"INTEGER": "bigint", "TEXT": "text", "REAL": "double precision", "BLOB": "bytea"}
ON_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def _migrated_sqlite(path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(SQLITE_FILE.read_text(encoding="utf-8"))
    return conn


def _apply_postgresql_file(server, dbname: str) -> None:
    with server.connect(dbname) as conn:
        conn.execute(POSTGRESQL_FILE.read_text(encoding="utf-8"))


with closing(_migrated_sqlite(":memory:")) as _conn:
    TABLES = [t for (t,) in _conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")]
TABLES = [t for t in TABLES if not t.startswith("sqlite_")]


@pytest.fixture(scope="module")
def lite(tmp_path_factory):
    """A new SQLite file with migrations.sql applied (autocommit: each test begins its own)."""
    with closing(_migrated_sqlite(tmp_path_factory.mktemp("drift") / "cqrs.db")) as conn:
        yield conn


@pytest.fixture(scope="module")
def pg(postgres_server):  # noqa: F811
    """A new PostgreSQL database with migrations.postgresql.sql applied (autocommit)."""
    postgres_server.create_database("drift")
    _apply_postgresql_file(postgres_server, "drift")
    with postgres_server.connect("drift", autocommit=True) as conn:
        yield conn
    postgres_server.drop_database("drift")


# ---------------------------------------------------------------- what each engine says it has


def lite_columns(conn, table: str) -> list[tuple]:
    """(name, type, not null, default) per column, in order; a key column is never null."""
    rows = conn.execute(f"PRAGMA table_info({table})").fetchall()
    return [(name, SQLITE_TYPES[kind], bool(notnull or pk), default) for _, name, kind, notnull, default, pk in rows]


def pg_columns(conn, table: str) -> list[tuple]:
    return conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid)"
        " FROM pg_attribute a LEFT JOIN pg_attrdef d ON (d.adrelid, d.adnum) = (a.attrelid, a.attnum)"
        " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (table,),
    ).fetchall()


def lite_keys(conn, table: str) -> dict:
    """The primary key's columns, the UNIQUE constraints' and the foreign keys."""
    info = conn.execute(f"PRAGMA table_info({table})").fetchall()
    indexes = conn.execute(f"PRAGMA index_list({table})").fetchall()
    foreign = {}
    for key, _, parent, child, to, _, on_delete, _ in conn.execute(f"PRAGMA foreign_key_list({table})"):
        columns, parent_columns, _, _ = foreign.setdefault(key, ([], [], parent, on_delete))
        columns.append(child)
        parent_columns.append(to)
    return {
        "primary": [name for _, name, _, _, _, pk in sorted(info, key=lambda column: column[5]) if pk],
        "unique": sorted(_lite_index_columns(conn, name) for _, name, _, origin, _ in indexes if origin == "u"),
        "foreign": sorted((c, parent, p, d) for c, p, parent, d in map(_tuples, foreign.values())),
    }


def _tuples(foreign) -> tuple:
    columns, parent_columns, parent, on_delete = foreign
    return tuple(columns), tuple(parent_columns), parent, on_delete


def _lite_index_columns(conn, index: str) -> tuple:
    return tuple(name for _, _, name in conn.execute(f"PRAGMA index_info({index})"))


def pg_keys(conn, table: str) -> dict:
    rows = conn.execute(
        "SELECT c.contype, c.confdeltype, c.confrelid::regclass::text,"
        " array(SELECT attname FROM unnest(c.conkey) WITH ORDINALITY k(n, ord)"
        "       JOIN pg_attribute ON (attrelid, attnum) = (c.conrelid, k.n) ORDER BY k.ord),"
        " array(SELECT attname FROM unnest(c.confkey) WITH ORDINALITY k(n, ord)"
        "       JOIN pg_attribute ON (attrelid, attnum) = (c.confrelid, k.n) ORDER BY k.ord)"
        " FROM pg_constraint c WHERE c.conrelid = %s::regclass",
        (table,),
    ).fetchall()
    return {
        "primary": next(columns for kind, _, _, columns, _ in rows if kind == "p"),
        "unique": sorted(tuple(columns) for kind, _, _, columns, _ in rows if kind == "u"),
        "foreign": sorted(
            (tuple(columns), parent, tuple(parent_columns), ON_DELETE[on_delete])
            for kind, on_delete, parent, columns, parent_columns in rows
            if kind == "f"
        ),
    }


def lite_checked_columns(conn, table: str) -> list[tuple]:
    """The columns each CHECK constraint names, read from the CREATE TABLE text."""
    (ddl,) = conn.execute("SELECT sql FROM sqlite_schema WHERE name = ?", (table,)).fetchone()
    columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
    checks = []
    for match in re.finditer(r"\bCHECK\s*\(", ddl):
        expression = re.sub(r"'[^']*'", "", _parenthesized(ddl, match.end() - 1))
        checks.append(tuple(c for c in columns if re.search(rf"\b{c}\b", expression)))
    return sorted(checks)


def _parenthesized(text: str, start: int) -> str:
    depth = 0
    for end in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0:
            return text[start : end + 1]
    raise ValueError(f"unbalanced parentheses after {text[start : start + 40]!r}")


def pg_checked_columns(conn, table: str) -> list[tuple]:
    rows = conn.execute(
        "SELECT array(SELECT attname FROM pg_attribute WHERE attrelid = c.conrelid AND attnum = ANY(c.conkey)"
        "             ORDER BY attnum)"
        " FROM pg_constraint c WHERE c.conrelid = %s::regclass AND c.contype = 'c'",
        (table,),
    ).fetchall()
    return sorted(tuple(columns) for (columns,) in rows)


def lite_indexes(conn) -> dict:
    """The indexes made by CREATE INDEX: name -> (table, columns, unique, predicate)."""
    indexes = {}
    for name, table, ddl in conn.execute("SELECT name, tbl_name, sql FROM sqlite_schema WHERE type = 'index'"):
        if ddl is not None:  # SQLite's own, for a PRIMARY KEY or UNIQUE constraint: compared with the keys
            unique = ddl.upper().startswith("CREATE UNIQUE")
            where = re.search(r"\bWHERE\b(.*)$", ddl, re.S | re.I)
            indexes[name] = (table, _lite_index_columns(conn, name), unique, _predicate(where and where[1]))
    return indexes


def pg_indexes(conn) -> dict:
    rows = conn.execute(
        "SELECT c.relname, i.indrelid::regclass::text,"
        " array(SELECT attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, ord)"
        "       JOIN pg_attribute ON (attrelid, attnum) = (i.indrelid, k.n) ORDER BY k.ord),"
        " i.indisunique, pg_get_expr(i.indpred, i.indrelid)"
        " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE c.relnamespace = current_schema()::regnamespace"
        " AND NOT EXISTS (SELECT FROM pg_constraint WHERE conindid = i.indexrelid)"
    ).fetchall()
    return {name: (table, tuple(columns), unique, _predicate(where)) for name, table, columns, unique, where in rows}


def _predicate(where: str | None) -> str | None:
    """A partial index's WHERE, without what PostgreSQL adds when it prints it back (casts, parentheses)."""
    if where is None:
        return None
    return re.sub(r"::\w+|[()\s]", "", where).lower()


def pg_snapshot(conn) -> dict:
    """Everything a second run of the file could change: schema, triggers, grants, rows, the identity."""
    tables = [t for (t,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
    return {
        "indexes": pg_indexes(conn),
        "triggers": conn.execute("SELECT tgname, tgfoid::regproc::text FROM pg_trigger ORDER BY 1").fetchall(),
        "grants": conn.execute(
            "SELECT relname, relacl::text FROM pg_class WHERE relacl IS NOT NULL ORDER BY 1"
        ).fetchall(),
        "identity": conn.execute(
            "SELECT last_value FROM pg_sequences WHERE sequencename = 'events_position_seq'"
        ).fetchall(),
        **{
            t: (
                pg_columns(conn, t),
                pg_keys(conn, t),
                pg_checked_columns(conn, t),
                sorted(conn.execute(f"SELECT * FROM {t}"), key=repr),
            )
            for t in tables
        },
    }


# ---------------------------------------------------------------- the same database


def test_both_engines_have_the_same_tables(lite, pg):
    assert (
        sorted(t for (t,) in pg.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))
        == TABLES
    )


@pytest.mark.parametrize("table", TABLES)
def test_each_table_has_the_same_columns_in_the_same_order(lite, pg, table):
    assert pg_columns(pg, table) == lite_columns(lite, table)


@pytest.mark.parametrize("table", TABLES)
def test_each_table_has_the_same_keys(lite, pg, table):
    assert pg_keys(pg, table) == lite_keys(lite, table)


@pytest.mark.parametrize("table", TABLES)
def test_each_table_checks_the_same_columns(lite, pg, table):
    assert pg_checked_columns(pg, table) == lite_checked_columns(lite, table)


def test_every_text_column_sorts_by_bytes_on_postgresql(pg):
    collations = pg.execute(
        "SELECT DISTINCT collation_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND data_type = 'text'"
    ).fetchall()
    assert collations == [("C",)]


def test_both_engines_have_the_same_indexes(lite, pg):
    assert pg_indexes(pg) == lite_indexes(lite)


@pytest.mark.parametrize("table", TABLES)
def test_both_engines_seed_the_same_rows(lite, pg, table):
    assert sorted(pg.execute(f"SELECT * FROM {table}"), key=repr) == sorted(
        lite.execute(f"SELECT * FROM {table}"), key=repr
    )


@pytest.mark.parametrize("statement", ["UPDATE events SET type = 'x'", "DELETE FROM events"])
def test_both_engines_refuse_to_change_the_event_log(lite, pg, statement):
    with pytest.raises(sqlite3.IntegrityError, match="the event log is append-only"):
        lite.execute(statement)
    with pytest.raises(psycopg.errors.IntegrityError, match="the event log is append-only"):
        with pg.transaction(force_rollback=True):
            pg.execute(statement)


@pytest.mark.parametrize("payload", ['{"a":[1,2.5,null]}', "[]", '"text"', "1", "null", "", "{", "{'a':1}", "not json"])
def test_both_engines_take_the_same_payloads(lite, pg, payload):
    # Refused by a failed CHECK on SQLite, by the cast to json on PostgreSQL (migrations.postgresql.sql says why).
    row = ("e", "item", "x", 1, "ItemCreated", payload, "2024-01-01T00:00:00.000000Z")
    statement = "INSERT INTO events (event_id, stream_type, stream_id, version, type, payload, occurred_at) VALUES "
    lite.execute("BEGIN")
    try:
        lite_takes = _takes(lambda: lite.execute(statement + "(?, ?, ?, ?, ?, ?, ?)", row), sqlite3.IntegrityError)
    finally:
        lite.execute("ROLLBACK")
    with pg.transaction(force_rollback=True):
        pg_takes = _takes(lambda: pg.execute(statement + "(%s, %s, %s, %s, %s, %s, %s)", row), psycopg.DataError)
    assert pg_takes == lite_takes


def _takes(insert, refusal) -> bool:
    try:
        insert()
    except refusal:
        return False
    return True


# ---------------------------------------------------------------- applying it again


def test_applying_the_postgresql_file_again_changes_nothing(postgres_server):  # noqa: F811
    postgres_server.create_database("twice")
    try:
        _apply_postgresql_file(postgres_server, "twice")
        with postgres_server.connect("twice", autocommit=True) as conn:
            before = pg_snapshot(conn)
            _apply_postgresql_file(postgres_server, "twice")
            assert pg_snapshot(conn) == before
    finally:
        postgres_server.drop_database("twice")


def test_the_first_append_after_the_seed_takes_the_next_position(postgres_server):  # noqa: F811
    postgres_server.create_database("appended")
    try:
        _apply_postgresql_file(postgres_server, "appended")
        _apply_postgresql_file(postgres_server, "appended")
        with postgres_server.connect("appended", autocommit=True) as conn:
            position = conn.execute(
                "INSERT INTO events (event_id, stream_type, stream_id, version, type, payload, occurred_at)"
                " VALUES ('e', 'item', 'x', 1, 'ItemCreated', '{}', 'now') RETURNING position"
            ).fetchone()
        assert position == (3,)
    finally:
        postgres_server.drop_database("appended")


# ---------------------------------------------------------------- the wall, as grants


def as_role(conn, role: str, statement: str) -> None:
    with conn.transaction(force_rollback=True):
        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(f"cqrs_{role}")))
        conn.execute(statement)


@pytest.mark.parametrize(
    ("role", "statement"),
    [
        ("query", "SELECT * FROM items"),
        ("query", "SELECT * FROM events"),
        ("query", "INSERT INTO item_list_view VALUES ('x', 'x', '{}')"),
        ("query", "DELETE FROM item_list_view"),
        ("command", "SELECT * FROM item_list_view"),
        ("command", "SELECT * FROM projection_checkpoints"),
        ("command", "UPDATE item_details_view SET document = '{}'"),
        ("command", "UPDATE events SET type = 'x'"),
        ("command", "DELETE FROM events"),
        ("projector", "SELECT * FROM items"),
        ("projector", "DELETE FROM items"),
        ("projector", "INSERT INTO events (event_id) VALUES ('x')"),
    ],
)
def test_postgresql_refuses_each_side_the_tables_of_the_other(pg, role, statement):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_role(pg, role, statement)


@pytest.mark.parametrize(
    ("role", "statement"),
    [
        ("query", "SELECT * FROM item_list_view"),
        ("query", "SELECT * FROM projection_checkpoints"),
        ("command", "SELECT * FROM items"),
        ("command", "DELETE FROM items"),
        ("command", "SELECT * FROM events"),
        (
            "command",
            "INSERT INTO events (event_id, stream_type, stream_id, version, type, payload, occurred_at)"
            " VALUES ('e', 'item', 'x', 1, 'ItemCreated', '{}', 'now')",
        ),
        ("command", "UPDATE process_checkpoints SET position = 1"),
        ("projector", "SELECT * FROM events"),
        ("projector", "DELETE FROM item_list_view WHERE id = 'x'"),
        ("projector", "UPDATE projection_checkpoints SET position = 1"),
    ],
)
def test_postgresql_lets_each_side_reach_its_own_tables(pg, role, statement):
    as_role(pg, role, statement)
