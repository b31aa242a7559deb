"""The SQLite database: one file, three guarded roles, transactions, and migrations.sql.

Each side of the CQRS wall gets its own engine, and SQLite itself enforces the wall
with an authorizer on every connection:

- ``command``: the write tables and the event log; any touch of a read table is refused.
- ``projector``: reads the event log, writes only read tables (``*_view``) and checkpoints.
- ``query``: reads only read tables, and the connection is ``query_only``.
"""

import collections
import functools
import os
import pwd
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

from app.config import StartupError
from app.writers import SIDE_FILES, WriterQueue, writer_queue

db = SQLAlchemy()

ROLES = ("command", "projector", "query")
_BIND_KEY = {"command": None, "projector": "projector", "query": "query"}
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations.sql"
# SQLite copies the WAL into the database file (a checkpoint, with its fsyncs) inside the
# commit that finds the WAL this long. Under gunicorn, app.writers.checkpoint_in_background
# starts the WAL over well before; this is the net without it (flask run, the CLI).
WAL_AUTOCHECKPOINT_PAGES = 10_000


def is_read_table(name: str) -> bool:
    """Read tables are the projections' views and the projector's own bookkeeping."""
    return name.endswith("_view") or name.startswith("projection_")


def _may_touch(role: str, action: int, table: str) -> bool:
    if table.startswith("sqlite_") or (action == sqlite3.SQLITE_READ and table == "json_each"):
        return True  # SQLite's schema; json_each(...) reads the list it is given, no table
    if role == "command":
        return not is_read_table(table)
    if role == "query":
        return action == sqlite3.SQLITE_READ and is_read_table(table)
    return is_read_table(table) or (action == sqlite3.SQLITE_READ and table == "events")


_TABLE_ACTIONS = {sqlite3.SQLITE_READ, sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}


class _Guard:
    """A connection's authorizer: what its role may touch. SQLite asks it while preparing each statement."""

    __slots__ = ("role",)

    def __init__(self, role: str):
        self.role = role

    def __call__(self, action, arg1, _arg2, _dbname, _source):
        if action in _TABLE_ACTIONS and not _may_touch(self.role, action, arg1):
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK


class GuardedConnection(sqlite3.Connection):
    """A sqlite3 connection that keeps its guard (see ``Tx.acting_as``) and its writer queue at hand."""

    guard: _Guard
    writers: WriterQueue
    has_turn = False  # holds its turn in the writer queue (from BEGIN IMMEDIATE to the end)


def _configure_engine(engine, role: str, path: str, busy_timeout_ms: int, synchronous: str) -> None:
    writers = writer_queue(path, busy_timeout_ms / 1000)

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):
        # pysqlite's own transaction handling is off; we issue BEGIN ourselves (below).
        dbapi_connection.isolation_level = None
        pragmas = (
            f"synchronous = {synchronous}",
            "foreign_keys = ON",
            f"busy_timeout = {busy_timeout_ms}",
            f"wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}",
        )
        for pragma in pragmas:
            dbapi_connection.execute(f"PRAGMA {pragma}")
        if role == "query":
            dbapi_connection.execute("PRAGMA query_only = ON")
        dbapi_connection.guard = _Guard(role)
        dbapi_connection.set_authorizer(dbapi_connection.guard)
        dbapi_connection.writers = writers


def init_app(app: Flask) -> None:
    """Create the engines for the three roles and register the init-db command."""
    path = os.path.abspath(app.config["DATABASE_PATH"])
    app.config["DATABASE_PATH"] = path
    uri = f"sqlite:///{path}"
    busy_ms = app.config["SQLITE_BUSY_TIMEOUT_MS"]
    options = {
        "connect_args": {
            "timeout": busy_ms / 1000,
            "check_same_thread": False,  # pooled connections serve whichever thread asks next
            "cached_statements": 256,
            "factory": GuardedConnection,
        },
    }
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    # A bind given as a bare URL would get none of the options above.
    app.config["SQLALCHEMY_BINDS"] = {"projector": {"url": uri, **options}, "query": {"url": uri, **options}}
    db.init_app(app)
    with app.app_context():
        for role in ROLES:
            engine = db.engines[_BIND_KEY[role]]
            _configure_engine(engine, role, path, busy_ms, app.config["SQLITE_SYNCHRONOUS"])
        app.extensions["sqlite_pools"] = {role: _Pool(db.engines[_BIND_KEY[role]]) for role in ROLES}
    app.cli.add_command(init_db_command)


class _Pool:
    """Open sqlite3 connections of one role, kept for reuse: a checkout is a list.pop().

    SQLAlchemy's engine opens and configures each connection (pragmas, authorizer);
    its pool's checkout, reset and event layers cost more than a short SQLite read.
    Connections never cross a fork: a new process starts with an empty pool.
    """

    MAX_IDLE = 16

    def __init__(self, engine):
        self.engine = engine
        self.idle: list[sqlite3.Connection] = []
        self.pid = os.getpid()

    def checkout(self) -> sqlite3.Connection:
        if self.pid != os.getpid():
            self.idle, self.pid = [], os.getpid()  # the parent's connections stay the parent's
        try:
            return self.idle.pop()
        except IndexError:
            fairy = self.engine.raw_connection()
            fairy.detach()  # ours from now on; SQLAlchemy's pool forgets it
            return fairy.dbapi_connection

    def checkin(self, raw: sqlite3.Connection) -> None:
        if raw.in_transaction:  # a COMMIT that failed, or an error SQLite did not roll back itself
            raw.rollback()
        _end(raw)
        if len(self.idle) < self.MAX_IDLE and self.pid == os.getpid():
            self.idle.append(raw)
        else:
            raw.close()

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()


def dispose() -> None:
    """Close every connection of the current app (before a fork, or when done with a database)."""
    for pool in current_app.extensions["sqlite_pools"].values():
        pool.close()
    for engine in db.engines.values():
        engine.dispose()


def check_files(database_path: str) -> None:
    """Make the database's folder if missing, then check that this process can use it and
    every file of the database. StartupError: which path, what is wrong, what to do."""
    if os.path.isdir(database_path):
        raise StartupError(
            f"DATABASE_PATH {database_path} is a folder: give the path of the database file,"
            f" e.g. {os.path.join(database_path, 'cqrs.db')}"
        )
    _check_folder(os.path.dirname(database_path))
    for path in [database_path, *(database_path + suffix for suffix in SIDE_FILES)]:
        if os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK):
            user = _user(os.geteuid())
            raise StartupError(
                f"{path} cannot be read and written by user {user} ({_owner_and_mode(path)}): give that user"
                f" read and write access to the database's files (chown {user} {database_path}*;"
                f" chmod u+rw {database_path}*)"
            )


def _check_folder(folder: str) -> None:
    """SQLite makes and removes its -wal and -shm beside the database: the folder must be writable."""
    user = _user(os.geteuid())
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise StartupError(
            f"cannot make {folder}, the database's folder: {error.strerror}; make it and give user {user}"
            " write access to it"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StartupError(
            f"{folder}, the database's folder, is not writable by user {user} ({_owner_and_mode(folder)}):"
            " SQLite makes its -wal and -shm files there; give that user write access to the folder"
            f" (chown {user} {folder}, or chmod u+w)"
        )


def _owner_and_mode(path: str) -> str:
    status = os.stat(path)
    return f"owner {_user(status.st_uid)}, mode {stat.S_IMODE(status.st_mode):04o}"


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def migrate(database_path: str, busy_timeout_ms: int) -> None:
    """Apply migrations.sql in one transaction; applying it again changes nothing.

    Processes starting together take turns in the writer queue: setting the journal mode
    takes an exclusive lock that SQLite's busy timeout does not wait for.
    """
    os.makedirs(os.path.dirname(database_path), exist_ok=True)
    script = MIGRATIONS.read_text(encoding="utf-8")
    writers = writer_queue(database_path, busy_timeout_ms / 1000)
    writers.acquire()
    try:
        conn = sqlite3.connect(database_path, timeout=busy_timeout_ms / 1000, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
            conn.execute("PRAGMA journal_mode = WAL")  # persistent: set once, kept in the file
            conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nCOMMIT;")
        finally:
            conn.close()  # an unfinished transaction rolls back here
    except sqlite3.DatabaseError as error:
        if str(error) == "file is not a database":
            raise StartupError(
                f"DATABASE_PATH {database_path} is not an SQLite database: give the path of the service's"
                " database, or of a file that does not exist yet to start a new one"
            ) from None
        raise StartupError(f"cannot apply migrations.sql to {database_path}: {error}") from None
    finally:
        writers.release()


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Apply migrations.sql (tables and seed data) to the configured database."""
    try:
        check_files(current_app.config["DATABASE_PATH"])
        migrate(current_app.config["DATABASE_PATH"], current_app.config["SQLITE_BUSY_TIMEOUT_MS"])
    except StartupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Applied migrations.sql to {current_app.config['DATABASE_PATH']}")


def _run(raw: sqlite3.Connection, sql: str, params) -> sqlite3.Cursor:
    """One statement on the sqlite3 connection itself; its errors become SQLAlchemy's
    (OperationalError, IntegrityError, ...), exactly as if SQLAlchemy had run it."""
    try:
        if isinstance(params, list):
            return raw.executemany(sql, params)
        return raw.execute(sql, params)
    except sqlite3.Error as error:
        raise DBAPIError.instance(sql, params, error, sqlite3.Error) from error


@functools.lru_cache(maxsize=1024)
def _row_class(names: tuple[str, ...]) -> type:
    """A named tuple for rows with these columns (any column name, even ``count(*)``)."""
    base = collections.namedtuple("Row", names, rename=True)

    def as_dict(row) -> dict:
        return dict(zip(names, row))

    return type("Row", (base,), {"__slots__": (), "_asdict": as_dict, "_mapping": property(as_dict)})


class Rows:
    """What a statement answered: iterate the rows, or take the first row or value.

    Rows are named tuples: ``row[0]``, ``row.name``, ``row._asdict()``, unpacking.
    """

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor):
        self._cursor = cursor

    @property
    def _make(self):
        """Makes a named tuple of a row (looked up only when rows are read by name)."""
        names = tuple(column[0] for column in self._cursor.description or ())
        return _row_class(names)._make if names else tuple

    def __iter__(self) -> Iterator[tuple]:
        return map(self._make, self._cursor)

    def all(self) -> list[tuple]:
        return list(map(self._make, self._cursor.fetchall()))

    def tuples(self) -> list[tuple]:
        """The rows as plain tuples (no names: the cheapest way out)."""
        return self._cursor.fetchall()

    def first(self) -> tuple | None:
        row = self._cursor.fetchone()
        self._cursor.close()
        return None if row is None else self._make(row)

    def scalar(self):
        row = self._cursor.fetchone()
        self._cursor.close()
        return None if row is None else row[0]

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount


class Tx:
    """SQL inside one transaction: statement text and named parameters in, rows out.

    Statements go straight to the sqlite3 connection: SQLAlchemy's per-statement
    compile and result layers cost more than SQLite's own work on these short statements.
    """

    __slots__ = ("raw", "begin")

    def __init__(self, raw: sqlite3.Connection, begin: str | None = None):
        self.raw = raw
        self.begin = begin  # for a transaction that begins at its first statement: the BEGIN to run then

    def execute(self, sql: str, **params) -> Rows:
        return self.execute_with(sql, params)

    def first(self, sql: str, **params) -> tuple | None:
        return self.execute(sql, **params).first()

    def scalar(self, sql: str, **params):
        return self.execute(sql, **params).scalar()

    def all(self, sql: str, **params) -> list[tuple]:
        return self.execute(sql, **params).all()

    def execute_many(self, sql: str, rows: list[dict]) -> None:
        """One statement for many parameter sets (sqlite3's executemany)."""
        if rows:
            self.execute_with(sql, rows)

    def execute_with(self, sql: str, params) -> Rows:
        if self.begin and not self.raw.in_transaction:
            _begin(self.raw, self.begin)
        return Rows(_run(self.raw, sql, params))

    @contextmanager
    def acting_as(self, role: str) -> Iterator["Tx"]:
        """This transaction with ``role``'s rights instead (the projector's, inside a command's
        transaction, so that both commit at once). SQLite authorizes a statement when it
        prepares it, and reuses prepared statements by their text: the statements made
        here carry the role in a comment, so none is ever reused under another role."""
        guard = self.raw.guard
        before, guard.role = guard.role, role
        try:
            yield _ActingTx(self.raw, self.begin, f" /* as {role} */")
        finally:
            guard.role = before

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A savepoint: the block's changes are kept if it ends, undone if it raises."""
        self.execute_with("SAVEPOINT tx_savepoint", ())
        try:
            yield
        except BaseException:
            _run(self.raw, "ROLLBACK TO tx_savepoint", ())
            _run(self.raw, "RELEASE tx_savepoint", ())
            raise
        _run(self.raw, "RELEASE tx_savepoint", ())


class _ActingTx(Tx):
    __slots__ = ("tag",)

    def __init__(self, raw: sqlite3.Connection, begin: str | None, tag: str):
        super().__init__(raw, begin)
        self.tag = tag

    def execute_with(self, sql: str, params) -> Rows:
        return super().execute_with(sql + self.tag, params)


def transaction(role: str, read_only: bool = False, on_demand: bool = False) -> "_Transaction":
    """One transaction as ``role``: commits when the block ends, rolls back if it raises.

    Command and projector transactions begin IMMEDIATE (they hold the write lock)
    unless ``read_only``; query transactions are always plain snapshot reads.
    ``on_demand``: see ``transaction_on``.
    """
    immediate = not (read_only or role == "query")
    return _Transaction(current_app.extensions["sqlite_pools"][role], None, immediate, on_demand)


@contextmanager
def connection(role: str) -> Iterator[sqlite3.Connection]:
    """A connection of ``role`` for the block, for code that runs several transactions on it."""
    pool = current_app.extensions["sqlite_pools"][role]
    raw = pool.checkout()
    try:
        yield raw
    finally:
        pool.checkin(raw)


def transaction_on(raw: sqlite3.Connection, immediate: bool, on_demand: bool = False) -> "_Transaction":
    """A transaction on ``raw``. IMMEDIATE takes the write lock up front, so concurrent
    writers queue on busy_timeout instead of failing to upgrade a read lock.

    ``on_demand``: BEGIN waits for the block's first statement, so what the block does
    before it (parsing, validating a request) holds no lock; a block that runs no
    statement never begins.
    """
    return _Transaction(None, raw, immediate, on_demand)


class _Transaction:
    """The context manager of ``transaction`` and ``transaction_on``: a class rather than
    nested generators, since every request runs one and each generator frame costs time."""

    __slots__ = ("pool", "raw", "begin", "on_demand")

    def __init__(self, pool: "_Pool | None", raw: sqlite3.Connection | None, immediate: bool, on_demand: bool):
        self.pool, self.raw, self.on_demand = pool, raw, on_demand
        self.begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    def __enter__(self) -> Tx:
        if self.pool is not None:
            self.raw = self.pool.checkout()
        if self.on_demand:
            return Tx(self.raw, self.begin)
        try:
            _begin(self.raw, self.begin)
        except BaseException:
            self._release()
            raise
        return Tx(self.raw)

    def __exit__(self, exc_type, exc, traceback) -> None:
        raw = self.raw
        try:
            if exc_type is None and raw.in_transaction:
                _run(raw, "COMMIT", ())
        finally:
            if raw.in_transaction:  # the block raised, or COMMIT failed
                raw.rollback()
            _end(raw)
            self._release()

    def _release(self) -> None:
        if self.pool is not None:
            self.pool.checkin(self.raw)


def _begin(raw: sqlite3.Connection, begin: str) -> None:
    """BEGIN; a writer first waits its turn in the writer queue (held until ``_end``)."""
    if begin == "BEGIN IMMEDIATE" and not raw.has_turn:
        raw.writers.acquire()
        raw.has_turn = True
    try:
        _run(raw, begin, ())
    except BaseException:
        _end(raw)
        raise


def _end(raw: sqlite3.Connection) -> None:
    """After COMMIT or ROLLBACK: the next writer's turn."""
    if raw.has_turn:
        raw.has_turn = False
        raw.writers.release()
