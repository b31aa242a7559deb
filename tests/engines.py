"""Which engine the tests run on, and a database of it for each test.

``TEST_ENGINE=postgresql`` runs the suite on PostgreSQL (``make test`` runs it once per
engine): a throwaway server starts with the first test that needs it (one per test
process) and stops at the end of its session. Each test directory gets its own database, a
copy of a template that the migrations already seeded, so an app made twice on the same
directory finds the same data, as it would the same SQLite file; and the database goes when
the directory does (pytest removes a passing test's ``tmp_path``), as the file would.
"""

import atexit
import hashlib
import os
import threading
from contextlib import closing
from functools import partial
from pathlib import Path

import psycopg

ENGINE = os.environ.get("TEST_ENGINE", "sqlite")
ENGINES = ("sqlite", "postgresql")
if ENGINE not in ENGINES:
    raise RuntimeError(f"TEST_ENGINE must be one of {', '.join(ENGINES)}, got {ENGINE!r}")

TEMPLATE = "cqrs_template"
_lock = threading.Lock()
_server = None
_stop = None
_folders: dict[str, Path] = {}  # each database made, by name: the directory it stands for


def server():
    """This process's throwaway PostgreSQL server, started on first use, with the template database."""
    global _server, _stop
    with _lock:
        if _server is None:
            from app.engines.postgresql import migrate
            from tests.postgres_server import running

            context = running()
            started = context.__enter__()
            _stop = partial(context.__exit__, None, None, None)
            atexit.register(_stop)  # a backstop: stop_server() runs at the session's end
            started.create_database(TEMPLATE)
            with closing(started.connect(TEMPLATE, autocommit=True)) as conn:
                migrate(conn)
            _server = started
        return _server


def stop_server() -> None:
    """Stop this process's server, if it started, and remove its folder: at the end of the test
    session, while there is time (an xdist worker's atexit can be cut short mid-removal)."""
    global _server, _stop
    with _lock:
        if _stop is not None:
            atexit.unregister(_stop)
            _stop()
        _server = _stop = None
        _folders.clear()  # their databases went with the server


def database_config(directory: Path) -> dict:
    """The settings of a new app's database in ``directory``: the SQLite file there, or on
    PostgreSQL the database of that directory (made from the template the first time)."""
    config = {"DATABASE_PATH": str(directory / "cqrs.db")}
    if ENGINE == "postgresql":
        folder = directory.resolve()
        name = "t_" + hashlib.sha1(str(folder).encode()).hexdigest()[:20]
        config["DATABASE_URL"] = database(name)
        _folders[name] = folder
    return config


def drop_databases_of_removed_directories() -> None:
    """Drop the database of each directory that is gone: a session's databases, a copy of the
    template per test, would otherwise fill the disk."""
    for name, folder in list(_folders.items()):
        if not folder.exists():
            server().drop_database(name)
            del _folders[name]


def database_of(app) -> dict:
    """The settings that name ``app``'s database, for another process (a CLI, a server) to open it."""
    return {name: app.config[name] for name in ("DATABASE_PATH", "DATABASE_URL") if app.config.get(name)}


def database(name: str) -> str:
    """The URL of the PostgreSQL database ``name``, a copy of the template made if missing."""
    running = server()
    with closing(running.connect(autocommit=True)) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            # FILE_COPY copies the template's files whole: faster than the WAL-logged default here.
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE} STRATEGY FILE_COPY')
    return running.url(name)


def plain_connection(config: dict):
    """A connection with no role and no wall (as the database's owner), to look at what is stored.
    Its ``execute`` takes ``?`` placeholders on both engines."""
    if config.get("DATABASE_URL"):
        from app.engines.postgresql import libpq_url

        return _Qmark(psycopg.connect(libpq_url(config["DATABASE_URL"]), autocommit=True))
    import sqlite3

    return sqlite3.connect(config["DATABASE_PATH"])


class _Qmark:
    """A psycopg connection that takes sqlite3's ``?`` placeholders."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    def execute(self, sql: str, params=()):
        if not params:
            return self.conn.execute(sql)
        return self.conn.execute(sql.replace("%", "%%").replace("?", "%s"), params)

    def commit(self) -> None:
        """Nothing to do: each statement commits as it runs (autocommit), as sqlite3's do after ``commit``."""

    def close(self) -> None:
        self.conn.close()


def close_every_app() -> None:
    """Close the connections of every app the test made on PostgreSQL, so that the server's
    connections do not run out over a session (SQLite's files need no such care)."""
    while _made:
        _made.pop().dispose()


_made: list = []


def _track_made_engines() -> None:
    from app.engines.postgresql import PostgreSQL

    setup = PostgreSQL.__init__

    def init(self, app):
        setup(self, app)
        _made.append(self)

    PostgreSQL.__init__ = init


if ENGINE == "postgresql":
    _track_made_engines()
