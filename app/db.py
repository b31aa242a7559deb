"""The database as the rest of the app sees it: transactions of a role, on the configured engine.

Each side of the CQRS wall has its own role, and the database itself enforces the wall
(app/engines/ says how on each engine):

- ``command``: the write tables and the event log; any touch of a read table is refused.
- ``projector``: reads the event log, writes only read tables (``*_view``) and checkpoints.
- ``query``: reads only read tables, in read-only transactions.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import Flask
from flask.cli import with_appcontext
from flask_sqlalchemy import SQLAlchemy

from app import engines, read_position
from app.config import StartupError
from app.current import this_app
from app.engines import ROLES, Engine, is_read_table
from app.sql import Rows, Tx

__all__ = ["ROLES", "Rows", "Tx", "connection", "db", "dispose", "engine", "is_read_table", "read", "transaction"]

db = SQLAlchemy()


def init_app(app: Flask) -> None:
    """Set up the engine the settings choose (its connections open when first used), and init-db."""
    app.extensions["engine"] = engines.for_app(app)
    # The engines take flask-sqlalchemy's engines and pools, never its session: the teardown
    # that would remove a session after every request has none to remove.
    if db._teardown_session in app.teardown_appcontext_funcs:
        app.teardown_appcontext_funcs.remove(db._teardown_session)
    app.cli.add_command(init_db_command)


def engine() -> Engine:
    """The current app's engine."""
    return this_app().extensions["engine"]


def dispose() -> None:
    """Close every connection of the current app (before a fork, or when done with a database)."""
    engine().dispose()


def transaction(role: str, read_only: bool = False, on_demand: bool = False) -> "_Transaction":
    """One transaction as ``role``: commits when the block ends, rolls back if it raises.

    Command and projector transactions write (one writer at a time: see the engine's
    ``begin``) unless ``read_only``; query transactions only ever read.
    ``on_demand``: see ``transaction_on``.
    """
    return _Transaction(engine(), role, None, not (read_only or role == "query"), on_demand)


def read(select: str, **params) -> list[tuple]:
    """The rows of one SELECT of the query side, run without BEGIN and COMMIT, after the
    statement that reads how far the read model is (``read_position.SQL``): each statement
    reads a snapshot of its own, the later one at least as far on, so the position noted is
    one the rows have reached. A query that needs one statement pays for two, not four (on
    PostgreSQL, two round trips). An empty ``select`` notes the position alone."""
    current = engine()
    raw = current.checkout("query")
    try:
        reached = current.run(raw, read_position.SQL, ()).fetchone()
        rows = current.run(raw, select, params).fetchall() if select else []
    finally:
        current.checkin("query", raw)
    read_position.noted(reached)
    return rows


@contextmanager
def connection(role: str) -> Iterator[object]:
    """A connection of ``role`` for the block, for code that runs several transactions on it."""
    current = engine()
    raw = current.checkout(role)
    try:
        yield raw
    finally:
        current.checkin(role, raw)


def transaction_on(raw, immediate: bool, on_demand: bool = False) -> "_Transaction":
    """A transaction on ``raw`` (from ``connection``); ``immediate``: a write transaction.

    ``on_demand``: BEGIN waits for the block's first statement, so what the block does
    before it (parsing, validating a request) holds no lock; a block that runs no
    statement never begins.
    """
    return _Transaction(engine(), None, raw, immediate, on_demand)


class _Transaction:
    """The context manager of ``transaction`` and ``transaction_on``: a class rather than
    nested generators, since every request runs one and each generator frame costs time."""

    __slots__ = ("engine", "role", "raw", "write", "on_demand")

    def __init__(self, engine: Engine, role: str | None, raw, write: bool, on_demand: bool):
        self.engine, self.role, self.raw, self.write, self.on_demand = engine, role, raw, write, on_demand

    def __enter__(self) -> Tx:
        if self.role is not None:
            self.raw = self.engine.checkout(self.role)
        if self.on_demand:
            return Tx(self.raw, self.engine, self.write)
        try:
            if self.role == "query":
                read_position.noted(self.engine.begin_read(self.raw, read_position.SQL))
            else:
                self.engine.begin(self.raw, self.write)
        except BaseException:
            self._release()
            raise
        return Tx(self.raw, self.engine)

    def __exit__(self, exc_type, exc, traceback) -> None:
        engine, raw = self.engine, self.raw
        try:
            if exc_type is None and engine.in_transaction(raw):
                engine.commit(raw)
        finally:
            engine.finish(raw)
            self._release()

    def _release(self) -> None:
        if self.role is not None:
            self.engine.checkin(self.role, self.raw)


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Make the database (tables and seed data), or bring its schema to this code's version."""
    try:
        engine().check()
        engine().migrate()
    except StartupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{engine().describe()} is at schema version {engine().schema_version()}")
