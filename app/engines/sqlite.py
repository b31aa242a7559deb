"""The SQLite engine: one file, three guarded roles, writers taking turns.

SQLite itself enforces the CQRS wall with an authorizer on every connection:

- ``command``: the write tables and the event log; any touch of a read table is refused.
- ``projector``: reads the event log, writes only read tables (``*_view``) and checkpoints.
- ``query``: reads only read tables, and the connection is ``query_only``.

Writers of every process take turns in a queue of their own (sqlite_writers.py) before BEGIN
IMMEDIATE, so one writes at a time: event positions commit in order.
"""

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager

from flask import Flask
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError

from app import schema
from app.engines import ROLES, Engine, Lead, RebuildRunning, is_read_table
from app.engines.sqlite_files import check_files
from app.engines.sqlite_shadow import ScratchFile
from app.sql import Tx
from app.engines.sqlite_writers import (
    LEADS,
    REBUILD_LOCK,
    TRUNCATE_WANTED,
    WriterQueue,
    checkpoint_in_background,
    held,
    open_beside,
    truncate,
    writer_queue,
)

# SQLite copies the WAL into the database file (a checkpoint, with its fsyncs) inside the
# commit that finds the WAL this long. Under gunicorn, sqlite_writers.checkpoint_in_background
# starts the WAL over well before; this is the net without it (flask run, the CLI).
WAL_AUTOCHECKPOINT_PAGES = 10_000
_BIND_KEY = {"command": None, "projector": "projector", "query": "query"}
TRUNCATE_WAIT_MS = 100  # how long an erasure's truncation of the WAL may hold up the writers


def _may_touch(role: str, action: int, table: str) -> bool:
    if table.startswith("sqlite_") or (action == sqlite3.SQLITE_READ and table == "json_each"):
        return True  # SQLite's schema; json_each(...) reads the list it is given, no table
    if role == "command":
        return not is_read_table(table)
    if role == "query":
        return action == sqlite3.SQLITE_READ and is_read_table(table)
    # The projector reads the log, and the keys that open its personal fields (app/personal_data.py).
    return is_read_table(table) or (action == sqlite3.SQLITE_READ and table in _PROJECTOR_READS)


_PROJECTOR_READS = frozenset({"events", "personal_data_keys"})


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
    """A sqlite3 connection that keeps its guard (see ``acting_as``) and its writer queue at hand."""

    guard: _Guard
    writers: WriterQueue
    has_turn = False  # holds its turn in the writer queue (from BEGIN IMMEDIATE to the end)


class SQLite(Engine):
    name = "sqlite"

    def __init__(self, app: Flask):
        from app.db import db  # flask-sqlalchemy's extension: it makes the engines and opens connections

        self.path = os.path.abspath(app.config["DATABASE_PATH"])
        app.config["DATABASE_PATH"] = self.path
        self.busy_ms = app.config["SQLITE_BUSY_TIMEOUT_MS"]
        uri = f"sqlite:///{self.path}"
        options = {
            "connect_args": {
                "timeout": self.busy_ms / 1000,
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
            engines = {role: db.engines[_BIND_KEY[role]] for role in ROLES}
        for role, engine in engines.items():
            self._configure(engine, role, app.config["SQLITE_SYNCHRONOUS"])
        self.engines = engines
        self.pools = {role: _Pool(engine) for role, engine in engines.items()}

    def _configure(self, engine, role: str, synchronous: str) -> None:
        writers = writer_queue(self.path, self.busy_ms / 1000)

        @event.listens_for(engine, "connect")
        def on_connect(dbapi_connection, _record):
            # pysqlite's own transaction handling is off; we issue BEGIN ourselves.
            dbapi_connection.isolation_level = None
            pragmas = (
                f"synchronous = {synchronous}",
                "foreign_keys = ON",
                f"busy_timeout = {self.busy_ms}",
                f"wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}",
                # Deleted content is overwritten with zeros: an erased person's rows leave no
                # readable trace in freed pages (app/personal_data.py).
                "secure_delete = ON",
            )
            for pragma in pragmas:
                dbapi_connection.execute(f"PRAGMA {pragma}")
            if role == "query":
                dbapi_connection.execute("PRAGMA query_only = ON")
            dbapi_connection.guard = _Guard(role)
            dbapi_connection.set_authorizer(dbapi_connection.guard)
            dbapi_connection.writers = writers

    def describe(self) -> str:
        return self.path

    def checkout(self, role: str) -> sqlite3.Connection:
        return self.pools[role].checkout()

    def checkin(self, role: str, raw: sqlite3.Connection) -> None:
        self.pools[role].checkin(raw)

    def dispose(self) -> None:
        for pool in self.pools.values():
            pool.close()
        for engine in self.engines.values():
            engine.dispose()

    def begin(self, raw: sqlite3.Connection, write: bool) -> None:
        """BEGIN; a writer first waits its turn in the writer queue (held until ``finish``), then
        begins IMMEDIATE: it holds the write lock from the start, so it never fails to upgrade."""
        if write and not raw.has_turn:
            raw.writers.acquire()
            raw.has_turn = True
        try:
            self.run(raw, "BEGIN IMMEDIATE" if write else "BEGIN", ())
        except BaseException:
            self.finish(raw)
            raise

    def begin_read(self, raw: sqlite3.Connection, sql: str) -> tuple:
        self.begin(raw, write=False)
        return raw.execute(sql).fetchone()  # a deferred BEGIN: this first read takes the snapshot

    def commit(self, raw: sqlite3.Connection) -> None:
        self.run(raw, "COMMIT", ())

    def finish(self, raw: sqlite3.Connection) -> None:
        _end(raw)

    def in_transaction(self, raw: sqlite3.Connection) -> bool:
        return raw.in_transaction

    def run(self, raw: sqlite3.Connection, sql: str, params) -> sqlite3.Cursor:
        """One statement on the sqlite3 connection itself; its errors become SQLAlchemy's
        (OperationalError, IntegrityError, ...), exactly as if SQLAlchemy had run it."""
        try:
            if isinstance(params, list):
                return raw.executemany(sql, params)
            return raw.execute(sql, params)
        except sqlite3.Error as error:
            # Without the parameters: a logged error must not carry a person's data.
            raise DBAPIError.instance(sql, params, error, sqlite3.Error, hide_parameters=True) from error

    @contextmanager
    def acting_as(self, tx: Tx, role: str) -> Iterator[Tx]:
        """SQLite authorizes a statement when it prepares it, and reuses prepared statements by
        their text: the statements made here carry the role in a comment, so none is ever
        reused under another role."""
        guard = tx.raw.guard
        before, guard.role = guard.role, role
        try:
            yield _ActingTx(tx.raw, self, f" /* as {role} */")
        finally:
            guard.role = before

    def is_busy(self, error: Exception) -> bool:
        message = str(getattr(error, "orig", error))
        return "locked" in message or "busy" in message

    def check(self) -> None:
        check_files(self.path)

    def migrate(self) -> None:
        """Bring the schema to this code's version (app/schema.py), in one transaction.

        Processes starting together take turns in the writer queue: setting the journal mode
        takes an exclusive lock that SQLite's busy timeout does not wait for.
        """
        migrate(self.path, self.busy_ms)

    def schema_version(self) -> int | None:
        if not os.path.exists(self.path):
            return None
        with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as conn:
            return schema_version(conn)

    @contextmanager
    def append_only_lifted(self, tx: Tx) -> Iterator[None]:
        """Drop the trigger, and make it again from its own text (DDL is transactional here)."""
        made = tx.scalar("SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name = 'events_are_never_updated'")
        tx.execute("DROP TRIGGER events_are_never_updated")
        yield
        tx.execute(made)

    def forget_old_versions(self) -> None:
        """Truncate the WAL now if readers of older snapshots let it within a moment (the
        writers wait that long at most); else leave it to the background checkpointer, which
        tries at each pass until it is done (a file beside the database asks it to)."""
        raw = self.checkout("command")
        try:
            done = truncate(raw, raw.writers, busy_ms=TRUNCATE_WAIT_MS)
        finally:
            self.checkin("command", raw)
        if not done:
            os.close(open_beside(self.path, TRUNCATE_WANTED))

    def background_tasks(self) -> None:
        checkpoint_in_background(self.path, self.busy_ms / 1000)

    def lead(self, purpose: str) -> "FileLead":
        """The flock of ``<database>-<purpose>``: the processes sharing a file share a host."""
        if f"-{purpose}" not in LEADS:
            raise ValueError(f"no lead file for {purpose!r}")
        return FileLead(self.path, f"-{purpose}")

    @contextmanager
    def rebuild_lock(self, wait_seconds: float) -> Iterator[None]:
        """The flock of ``<database>-rebuild``: a rebuild killed partway holds it no more."""
        fd = open_beside(self.path, REBUILD_LOCK)
        try:
            deadline = time.monotonic() + wait_seconds
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise RebuildRunning("a rebuild is already running; wait for it to end") from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)  # the lock goes with it

    def rebuild_running(self) -> bool:
        return held(self.path, REBUILD_LOCK)

    def shadow(self) -> ScratchFile:
        return ScratchFile(self.path)


class FileLead(Lead):
    def __init__(self, database_path: str, suffix: str):
        self.fd = open_beside(database_path, suffix)  # its flock goes when the process ends
        self.holding = False

    def held(self) -> bool:
        if not self.holding:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.holding = True
            except BlockingIOError:
                pass
        return self.holding

    def release(self) -> None:
        os.close(self.fd)  # and its flock with it


class _ActingTx(Tx):
    __slots__ = ("tag",)

    def __init__(self, raw: sqlite3.Connection, engine: SQLite, tag: str):
        super().__init__(raw, engine)
        self.tag = tag

    def execute_with(self, sql: str, params):
        return super().execute_with(sql + self.tag, params)


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
        _end(raw)
        if len(self.idle) < self.MAX_IDLE and self.pid == os.getpid():
            self.idle.append(raw)
        else:
            raw.close()

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()


def _end(raw: sqlite3.Connection) -> None:
    """Roll back what is still open (the block raised, or COMMIT failed); the next writer's turn."""
    if raw.in_transaction:
        raw.rollback()
    if raw.has_turn:
        raw.has_turn = False
        raw.writers.release()


def migrate(database_path: str, busy_timeout_ms: int) -> None:
    """The schema at ``database_path`` brought to this code's version (app/schema.py), in one
    transaction, in a writer-queue turn; nothing is written when it is there already.
    StartupError if it cannot be."""
    from app.config import StartupError

    os.makedirs(os.path.dirname(database_path), exist_ok=True)
    writers = writer_queue(database_path, busy_timeout_ms / 1000)
    writers.acquire()
    try:
        conn = sqlite3.connect(database_path, timeout=busy_timeout_ms / 1000, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
            conn.execute("PRAGMA journal_mode = WAL")  # persistent: set once, kept in the file
            script = schema.plan("sqlite", schema_version(conn))  # no other writer until the turn ends
            if script:
                conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nCOMMIT;")
        finally:
            conn.close()  # an unfinished transaction rolls back here
    except sqlite3.DatabaseError as error:
        if str(error) == "file is not a database":
            raise StartupError(
                f"DATABASE_PATH {database_path} is not an SQLite database: give the path of the service's"
                " database, or of a file that does not exist yet to start a new one"
            ) from None
        raise StartupError(f"cannot bring the schema of {database_path} up to date: {error}") from None
    finally:
        writers.release()


def schema_version(conn: sqlite3.Connection) -> int | None:
    """The version the database's schema is at: None for a new database, 1 for one made
    before versions were kept."""
    found = conn.execute(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name IN ('events', 'schema_migrations')"
    )
    tables = {name for (name,) in found}
    if "schema_migrations" in tables:
        return conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    return 1 if "events" in tables else None
