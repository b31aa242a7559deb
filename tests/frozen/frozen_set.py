"""A frozen set's two files, read and written the same way by the script that made it
(make_frozen.py, run on the code of its day) and by the test that replays it with today's
code (tests/integration/test_frozen_log.py), on either engine.

Every function takes a connection as the database's owner (no role, no wall), as
tests.engines.plain_connection opens it: ``?`` placeholders on both engines.
"""

import json
import sqlite3
from pathlib import Path

EVENT_COLUMNS = (
    "position",
    "event_id",
    "stream_type",
    "stream_id",
    "version",
    "type",
    "schema_version",
    "payload",
    "occurred_at",
    "correlation_id",
    "causation_id",
)


def read_events(folder: Path) -> list[dict]:
    """The events of the frozen set in ``folder`` (events.jsonl), in position order."""
    with open(folder / "events.jsonl", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def write_events(folder: Path, events: list[dict]) -> None:
    """events.jsonl: one event a line, its columns in the table's order, text as it is stored."""
    with open(folder / "events.jsonl", "w", encoding="utf-8") as out:
        out.writelines(json.dumps(event, ensure_ascii=False) + "\n" for event in events)


def stored_events(conn) -> list[dict]:
    """Every event of the log, every column, in position order."""
    rows = conn.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events ORDER BY position").fetchall()
    return [dict(zip(EVENT_COLUMNS, row)) for row in rows]


def insert_events(conn, events: list[dict]) -> None:
    """Append ``events`` to the log with their own positions, then move PostgreSQL's identity
    past them (SQLite's AUTOINCREMENT follows an explicit position by itself), so that the
    next command takes the position after the last."""
    insert = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
    for event in events:
        conn.execute(insert, [event[column] for column in EVENT_COLUMNS])
    if _is_sqlite(conn):
        conn.commit()
    else:
        conn.execute("SELECT setval(pg_get_serial_sequence('events', 'position'), (SELECT max(position) FROM events))")


def read_model(conn) -> dict[str, list[dict]]:
    """Every read table (a name ending in _view; the projector's own bookkeeping aside), each
    as its rows, column by column, sorted by all their columns. JSON documents are the text
    stored; numbers are what the driver gives (INTEGER and BIGINT as int, REAL and DOUBLE
    PRECISION as float), so the two engines dump alike."""
    return {table: _rows(conn, table) for table in sorted(_read_tables(conn))}


def write_read_model(folder: Path, model: dict[str, list[dict]]) -> None:
    """read_model.json: a table's rows one per line, so that a diff shows the rows that changed."""
    with open(folder / "read_model.json", "w", encoding="utf-8") as out:
        out.write("{\n")
        for n, (table, rows) in enumerate(model.items()):
            out.write(f"{json.dumps(table)}: [\n")
            out.write(",\n".join("  " + json.dumps(row, ensure_ascii=False) for row in rows))
            out.write("\n]" + (",\n" if n < len(model) - 1 else "\n"))
        out.write("}\n")


def read_read_model(folder: Path) -> dict[str, list[dict]]:
    with open(folder / "read_model.json", encoding="utf-8") as dumped:
        return json.load(dumped)


def _read_tables(conn) -> list[str]:
    if _is_sqlite(conn):
        names = conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
    else:  # the service's own schema: a rebuild's copies live in another (cqrs_rebuild)
        names = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return [name for (name,) in names if name.endswith("_view")]


def _rows(conn, table: str) -> list[dict]:
    cursor = conn.execute(f"SELECT * FROM {table}")
    columns = [column[0] for column in cursor.description]
    # Sorted here, not by ORDER BY: the engines put NULLs at opposite ends.
    rows = sorted(cursor.fetchall(), key=lambda row: [(value is not None, value) for value in row])
    return [dict(zip(columns, row)) for row in rows]


def _is_sqlite(conn) -> bool:
    return isinstance(conn, sqlite3.Connection)
