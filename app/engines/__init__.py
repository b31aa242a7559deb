"""The database engines: what differs between SQLite and PostgreSQL, behind one interface.

Everything else (commands, queries, projections, the bus, the projector, the process
managers) runs the same SQL on either engine through app.db and app.sql. An engine
knows how to connect each role so that the database itself enforces the CQRS wall,
how to open a write transaction so that writers (and so event positions) go one at a
time, which errors mean "busy, retry", how to migrate, and how a rebuild swaps tables.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from flask import Flask

ROLES = ("command", "projector", "query")


def is_read_table(name: str) -> bool:
    """Read tables are the projections' views and the projector's own bookkeeping."""
    return name.endswith("_view") or name.startswith("projection_")


class Engine:
    """The interface each engine implements. ``raw`` is the engine's DB-API connection."""

    name: str
    # Connected through the query role only (a query process on a standby, say): it writes
    # nothing, at start or ever; command processes migrate, catch up and react.
    query_only = False

    def describe(self) -> str:
        """Where the data lives, for people (a path, or a URL without its password)."""
        raise NotImplementedError

    # Connections: one pool per role, each connection guarded by its role's rights.
    def checkout(self, role: str):
        raise NotImplementedError

    def checkin(self, role: str, raw) -> None:
        raise NotImplementedError

    def dispose(self) -> None:
        """Close every connection (before a fork, or when done with the database)."""
        raise NotImplementedError

    # Transactions and statements.
    def begin(self, raw, write: bool) -> None:
        """BEGIN; a write transaction first waits until no other writer is in one."""
        raise NotImplementedError

    def begin_read(self, raw, sql: str) -> tuple:
        """BEGIN a read-only transaction and run ``sql`` first in it (in one round trip where
        the engine can); returns its first row."""
        raise NotImplementedError

    def commit(self, raw) -> None:
        raise NotImplementedError

    def finish(self, raw) -> None:
        """After COMMIT, or instead of it: roll back whatever is still open, let the next writer in."""
        raise NotImplementedError

    def in_transaction(self, raw) -> bool:
        raise NotImplementedError

    def run(self, raw, sql: str, params):
        """One statement (``params`` a dict, or a list of dicts for many); returns the cursor.
        Errors are SQLAlchemy's (OperationalError, IntegrityError, ...) on every engine."""
        raise NotImplementedError

    def acting_as(self, tx, role: str) -> AbstractContextManager:
        """A Tx on ``tx``'s transaction with ``role``'s rights, for the block."""
        raise NotImplementedError

    def is_busy(self, error: Exception) -> bool:
        """Whether a database error means "busy, retry": nothing changed, a retry may pass."""
        raise NotImplementedError

    def replica_lag(self) -> float | None:
        """Seconds the query role's database replays behind its primary; None unless it is a standby."""
        return None

    # Starting: the whole life of the database outside requests.
    def check(self) -> None:
        """StartupError (one line: what, where, what to do) if this process cannot use the database."""
        raise NotImplementedError

    def migrate(self) -> None:
        """Bring the schema to this code's version (app/schema.py): make and seed a new database,
        or apply the steps an older one needs; once even if processes start together."""
        raise NotImplementedError

    def schema_version(self) -> int | None:
        """The version the database's schema is at (None: no schema yet)."""
        raise NotImplementedError

    def append_only_lifted(self, tx) -> AbstractContextManager:
        """For the block, inside ``tx`` (a write transaction of the command role), the log's
        updates allowed: the one sanctioned rewrite (app/log_rewrites.py). The trigger that
        refuses them is back before the block's end, and with the rollback if it raises."""
        raise NotImplementedError

    def forget_old_versions(self) -> None:
        """After an erasure committed: leave no earlier version of a changed page where the
        database's files keep it (SQLite's WAL). Nothing to do where the engine cannot
        (PostgreSQL keeps dead tuples until VACUUM)."""

    def background_tasks(self) -> None:
        """Start what keeps the database in shape from a worker's thread (gunicorn's post_worker_init)."""

    def lead(self, purpose: str) -> "Lead":
        """A candidate for the lead of ``purpose`` among every process on every host that uses
        this database: one process holds it at a time, until it ends."""
        raise NotImplementedError

    def rebuild_lock(self, wait_seconds: float) -> AbstractContextManager:
        """Held while a rebuild runs, across processes; RebuildRunning if another holds it."""
        raise NotImplementedError

    def rebuild_running(self) -> bool:
        raise NotImplementedError

    def shadow(self):
        """Where a rebuild fills its copies of the read tables (``prefix`` names a copy), how it
        makes them, swaps one in (``swap``, in the writers' transaction) and removes leftovers."""
        raise NotImplementedError


class Lead:
    """This process's candidacy for a lead (Engine.lead)."""

    def held(self) -> bool:
        """Take the lead if no process holds it; whether this one holds it now (it loses it
        with its connection to the server, on PostgreSQL)."""
        raise NotImplementedError

    def release(self) -> None:
        """Give the lead up (if held) and the candidacy with it."""
        raise NotImplementedError


class RebuildRunning(RuntimeError):
    """Another rebuild holds the rebuild lock."""


def for_app(app: Flask) -> Engine:
    """The engine the app's settings choose: PostgreSQL given DATABASE_URL (or, for a query
    process, QUERY_DATABASE_URL), else the SQLite file."""
    config = app.config
    if config.get("DATABASE_URL") or (config.get("APP_ROLE") == "query" and config.get("QUERY_DATABASE_URL")):
        from app.engines.postgresql import PostgreSQL

        return PostgreSQL(app)
    from app.engines.sqlite import SQLite

    return SQLite(app)
