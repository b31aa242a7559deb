"""Moving a deployment from SQLite to PostgreSQL: ``flask --app wsgi database copy-to-postgresql``.

Everything in the SQLite file (opened read-only, read in one snapshot) goes into the
PostgreSQL database of DATABASE_URL in ONE PostgreSQL transaction: the write tables, the
log with its positions, event ids and payload text as they are, the idempotency records,
and the read tables with their checkpoints, so the service starts there caught up, with
no rebuild. The events' identity then moves on past the last position, and before the
commit every table is compared, row by row in key order, with the source (floats to the
bit): any difference, or any error on the way, rolls everything back.

The target may be a new database (the migrations are applied first, as a start applies
them) or one that holds nothing but the seed. Tables and columns come from the source's
schema, which must be this build's (the same names in the same order on both engines).
"""

import math
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import click
import psycopg
from flask import current_app
from flask.cli import AppGroup
from psycopg import sql
from psycopg.copy import LibpqWriter

from app.config import StartupError
from app.db import engine, is_read_table
from app.engines.postgresql import libpq_url
from app.schema import BASELINES

# Rows the target sends at a time while verifying. Counted in rows, memory goes with the rows'
# size: a telemetry batch's event is ~70 kB, so 500 of them hold ~35 MB. The source's rows
# come one at a time (sqlite3 steps the statement as the cursor is read).
FETCH = 500
PROGRESS_EVERY = 1000  # rows between looks at the clock
LOCK_TIMEOUT = "10s"  # how long to wait for the target's tables before calling it in use

#: ``progress(stage, table, rows done, rows in all)``, stage "copy" or "verify": called as a
#: table's stage begins, every PROGRESS_SECONDS while it goes on, and when it ends.
Progress = Callable[[str, str, int, int], None]
PROGRESS_SECONDS = 2.0


class CopyRefused(RuntimeError):
    """The copy cannot be made or did not verify; the target is as it was. One line: what and what to do."""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]  # the primary key's columns: the order rows are compared in
    floats: tuple[int, ...]  # the indexes of its REAL columns, compared to the bit


@dataclass(frozen=True)
class Copied:
    """What was copied and verified: rows per table (equal on both sides), the last position,
    and the seconds spent copying and verifying."""

    rows: dict[str, int]
    head: int
    copy_seconds: float
    verify_seconds: float


def copy_to_postgresql(source_path: str, target_url: str, progress: Progress | None = None) -> Copied:
    """Copy the SQLite file at ``source_path`` into the migrated PostgreSQL database at
    ``target_url`` in one transaction, verified before it commits.

    CopyRefused (nothing changed) if the source cannot be read, its schema is not the
    target's, the target holds more than the seed or is in use, or a check fails.
    """
    progress = progress or (lambda *_: None)
    with closing(_open_source(source_path)) as source, closing(_connect(target_url)) as target:
        tables = source_tables(source)
        try:
            with target.transaction():
                started = time.monotonic()
                _take(target, tables)
                _refuse_unless_only_seed(target, tables)
                target.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(map(sql.Identifier, _names(tables)))))
                for table in tables:
                    _copy(source, target, table, progress)
                head = _move_identity_on(target)
                copied = time.monotonic()
                rows = verify(source, target, tables, progress)
                verified = time.monotonic()
        except psycopg.Error as error:
            raise CopyRefused(f"the copy was rolled back, the target is as it was: {_one_line(error)}") from None
    return Copied(rows, head, copied - started, verified - copied)


def _open_source(path: str) -> sqlite3.Connection:
    """The SQLite file, read-only, in a read transaction: one snapshot for the copy and its checks."""
    if not Path(path).is_file():
        raise CopyRefused(f"{path} is not a file: give the SQLite database to copy (its DATABASE_PATH)")
    source = sqlite3.connect(f"file:{quote(str(Path(path).resolve()))}?mode=ro", uri=True, isolation_level=None)
    try:
        source.execute("BEGIN")
        if not source.execute("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'events'").fetchone():
            raise CopyRefused(f"{path} holds no event log: it is not this service's database")
    except sqlite3.DatabaseError as error:
        source.close()
        raise CopyRefused(f"cannot read {path} as an SQLite database: {error}") from None
    except CopyRefused:
        source.close()
        raise
    return source


def _connect(url: str) -> psycopg.Connection:
    try:
        return psycopg.connect(libpq_url(url), autocommit=True, application_name="cqrs-copy")
    except psycopg.Error as error:
        raise CopyRefused(f"cannot connect to the target: {_one_line(error)}") from None


def source_tables(source: sqlite3.Connection) -> list[Table]:
    """The source's tables (SQLite's own aside), each after those its foreign keys point to."""
    names = [n for (n,) in source.execute("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY rowid")]
    by_name = {}
    for name in names:
        if name.startswith("sqlite_"):
            continue
        info = source.execute(f"PRAGMA table_info({_quoted(name)})").fetchall()
        key = tuple(column for _, column, *_, pk in sorted(info, key=lambda c: c[5]) if pk)
        floats = tuple(i for i, (_, _, kind, *_) in enumerate(info) if kind.upper() == "REAL")
        by_name[name] = Table(name, tuple(column for _, column, *_ in info), key, floats)
    ordered: list[Table] = []

    def visit(name: str) -> None:
        if by_name[name] in ordered:
            return
        for parent in {row[2] for row in source.execute(f"PRAGMA foreign_key_list({_quoted(name)})")}:
            if parent != name:
                visit(parent)
        ordered.append(by_name[name])

    for name in by_name:
        visit(name)
    return ordered


def _take(target: psycopg.Connection, tables: list[Table]) -> None:
    """Lock every table of the target for the transaction, after checking they are the source's.

    CopyRefused if the schemas differ, or if the service (or anyone) holds a table past LOCK_TIMEOUT."""
    found = {}
    for name, column in target.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        " ORDER BY table_name, ordinal_position"
    ):
        found.setdefault(name, []).append(column)
    expected = {table.name: list(table.columns) for table in tables}
    if found != expected:
        differ = sorted(name for name in found.keys() | expected.keys() if found.get(name) != expected.get(name))
        raise CopyRefused(
            f"the source's tables are not this build's (they differ in {', '.join(differ)}): run this build"
            " once on the SQLite file (DATABASE_PATH=<file> flask --app wsgi init-db), then copy"
        )
    target.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    try:
        target.execute(
            sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                sql.SQL(", ").join(map(sql.Identifier, _names(tables)))
            )
        )
    except psycopg.errors.LockNotAvailable:
        raise CopyRefused(
            f"the target is in use (its tables stayed locked {LOCK_TIMEOUT}): stop the service on it"
        ) from None


def _refuse_unless_only_seed(target: psycopg.Connection, tables: list[Table]) -> None:
    """CopyRefused unless the target's log and write tables hold only rows the migrations seed.

    Read tables, the followers' checkpoints and the schema's version are left out: the first
    two only say what the log says (a start on the target projects the seed), the version is
    the source's too (their tables are the same), and the source's rows replace them all."""
    seed = seed_rows()
    for table in tables:
        if is_read_table(table.name) or table.name.endswith("_checkpoints") or table.name == "schema_migrations":
            continue
        allowed = seed.get(table.name, set())
        query = sql.SQL("SELECT {} FROM {} LIMIT %s").format(_column_list(table), sql.Identifier(table.name))
        rows = target.execute(query, (len(allowed) + 1,)).fetchall()
        extra = [row for row in rows if tuple(row) not in allowed]
        if extra:
            raise CopyRefused(
                f"the target already holds data ({table.name} has rows beyond the seed): copy only into a new"
                " database, or one where the service has done nothing yet"
            )


def seed_rows() -> dict[str, set[tuple]]:
    """Every row the migrations make in a new database, by table: an in-memory database migrated."""
    with closing(sqlite3.connect(":memory:", isolation_level=None)) as seeded:
        seeded.executescript(BASELINES["sqlite"].read_text(encoding="utf-8"))
        tables = source_tables(seeded)
        return {t.name: set(seeded.execute(f"SELECT * FROM {_quoted(t.name)}").fetchall()) for t in tables}


def _copy(source: sqlite3.Connection, target: psycopg.Connection, table: Table, progress: Progress) -> None:
    """Stream one table's rows into the target with COPY, a row at a time."""
    total = source.execute(f"SELECT count(*) FROM {_quoted(table.name)}").fetchone()[0]
    rows = source.execute(f"SELECT {_source_columns(table)} FROM {_quoted(table.name)}")
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table.name), _column_list(table))
    done, last = 0, time.monotonic()
    progress("copy", table.name, 0, total)
    with target.cursor() as cursor, cursor.copy(statement, writer=LibpqWriter(cursor)) as copy:
        for row in rows:
            copy.write_row(row)
            done += 1
            if not done % PROGRESS_EVERY and time.monotonic() - last >= PROGRESS_SECONDS:
                last = time.monotonic()
                progress("copy", table.name, done, total)
    progress("copy", table.name, done, total)


def _move_identity_on(target: psycopg.Connection) -> int:
    """The events' identity set to the last position copied, so the next append takes the one after."""
    head = target.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0]
    target.execute("SELECT setval(pg_get_serial_sequence('events', 'position'), %s, %s)", (max(head, 1), head > 0))
    return head


def verify(
    source: sqlite3.Connection, target: psycopg.Connection, tables: list[Table], progress: Progress
) -> dict[str, int]:
    """Rows per table, after checking that each table holds the same rows on both sides (in key
    order; floats to the bit) and the log the same last position. CopyRefused on the first difference."""
    counts = {}
    for table in tables:
        counts[table.name] = _same_rows(source, target, table, progress)
    heads = [
        source.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0],
        target.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0],
    ]
    if heads[0] != heads[1]:
        raise CopyRefused(
            f"verification failed: the last position is {heads[0]} on the source, {heads[1]} on the target"
        )
    return counts


def _same_rows(source: sqlite3.Connection, target: psycopg.Connection, table: Table, progress: Progress) -> int:
    order = table.key or table.columns
    lite = source.execute(
        f"SELECT {_source_columns(table)} FROM {_quoted(table.name)}"
        f" ORDER BY {', '.join(_quoted(c) + ('' if table.key else ' NULLS FIRST') for c in order)}"
    )
    query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
        _column_list(table),
        sql.Identifier(table.name),
        sql.SQL(", ").join(sql.SQL("{}" if table.key else "{} NULLS FIRST").format(sql.Identifier(c)) for c in order),
    )
    counted, last, floats = 0, time.monotonic(), table.floats
    progress("verify", table.name, 0, -1)
    with target.cursor(name=f"verify_{table.name}") as pg:
        pg.itersize = FETCH
        pg.execute(query)
        for mine, theirs in _pairs(lite, pg):
            if mine is None or theirs is None or not _same(mine, theirs, floats):
                raise CopyRefused(
                    f"verification failed: {table.name} differs from the source at row {counted + 1} in key order"
                )
            counted += 1
            if not counted % PROGRESS_EVERY and time.monotonic() - last >= PROGRESS_SECONDS:
                last = time.monotonic()
                progress("verify", table.name, counted, -1)
    progress("verify", table.name, counted, counted)
    return counted


def _pairs(left: Iterator[tuple], right: Iterator[tuple]) -> Iterator[tuple]:
    """Rows of both sides side by side; None for the side that ran out first."""
    left, right = iter(left), iter(right)
    while True:
        a, b = next(left, None), next(right, None)
        if a is None and b is None:
            return
        yield a, b


def _same(a: tuple, b: tuple, floats: tuple[int, ...]) -> bool:
    """Equal rows, the values at ``floats`` compared to the bit (-0.0 is not 0.0, NaN is NaN)."""
    if a == b:  # where 0.0 == -0.0 and 1 == 1.0
        return all(_bits(a[i]) == _bits(b[i]) for i in floats)
    # A NaN is unequal to itself: the values one by one, every float by its bits.
    return len(a) == len(b) and all(_bits(x) == _bits(y) for x, y in zip(a, b))


def _bits(value):
    """A float's bits as text (every NaN alike); any other value as it is."""
    if not isinstance(value, float):
        return value
    return "nan" if math.isnan(value) else value.hex()


def _names(tables: list[Table]) -> list[str]:
    return [table.name for table in tables]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _source_columns(table: Table) -> str:
    return ", ".join(map(_quoted, table.columns))


def _column_list(table: Table) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, table.columns))


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


# ---------------------------------------------------------------- the command

database = AppGroup("database", help="See or upgrade the schema, or move the data to another engine.")


@database.command("copy-to-postgresql")
@click.option(
    "--from",
    "source",
    required=True,
    metavar="SQLITE_FILE",
    help="The SQLite database to copy (the deployment's DATABASE_PATH); opened read-only.",
)
def copy_to_postgresql_command(source: str) -> None:
    """Copy an SQLite deployment into the PostgreSQL database of DATABASE_URL.

    \b
    Stop the service first: what it commits after the copy's snapshot is not copied.
    The target must be new (createdb) or hold nothing but the seed; the migrations
    are applied to it first. Everything is copied in one transaction: the event log
    (same positions, ids and payloads), the write tables, the idempotency records and
    the read tables with their checkpoints. Before committing, every table is compared
    with the source row by row; any difference rolls the copy back. Exits 1 on refusal.
    """
    current = engine()
    if current.name != "postgresql":
        raise click.UsageError("set DATABASE_URL to the PostgreSQL database to copy into")
    try:
        current.migrate()
    except StartupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Copying {source} into {current.describe()}, in one transaction.")
    try:
        copied = copy_to_postgresql(source, current_app.config["DATABASE_URL"], _progress_lines())
    except CopyRefused as refused:
        raise click.ClickException(str(refused)) from None
    _report(copied)


def _progress_lines() -> Progress:
    """A line per table copied, and one every PROGRESS_SECONDS while a large table is copied or verified."""
    started = {}

    def progress(stage: str, table: str, done: int, total: int) -> None:
        if (stage, table) not in started:  # a table's stage begins
            started[stage, table] = time.monotonic()
            return
        if stage == "verify" and done == total:
            return  # a verified table shows in the report
        seconds = time.monotonic() - started[stage, table]
        rate = f" in {seconds:.1f}s, {done / seconds:,.0f} rows/s" if seconds >= 1 else ""
        of = f"/{total:,}" if total >= 0 else ""
        click.echo(f"  {'copied' if stage == 'copy' else 'verified'} {table}: {done:,}{of} rows{rate}")

    return progress


def _report(copied: Copied) -> None:
    total = sum(copied.rows.values())
    click.echo("Verified, every row the same on both sides (floats to the bit):")
    for table, rows in copied.rows.items():
        kind = "read" if is_read_table(table) else "log" if table == "events" else "write"
        click.echo(f"  {table:<28} {kind:<6} {rows:>12,} rows  equal")
    click.echo(f"Last position {copied.head} on both; the next event takes {copied.head + 1}.")
    rate = total / max(copied.copy_seconds, 1e-9)
    click.echo(
        f"Committed {total:,} rows: copied in {copied.copy_seconds:.1f}s ({rate:,.0f} rows/s),"
        f" verified in {copied.verify_seconds:.1f}s."
    )
