"""The PostgreSQL engine: the same service on a server that several hosts can share.

The wall is PostgreSQL's own: three roles (cqrs_command, cqrs_projector, cqrs_query) with
the GRANTs of migrations.postgresql.sql, each connection taking its role's; the query
role's sessions are read-only. A command acts as the projector with SET LOCAL ROLE,
which its transaction's end undoes.

Global order without skipped events: a sequence hands out positions before commit, so a
later-committing transaction could make a lower position visible after the projector had
read past it. Every write transaction therefore begins by taking one transaction-level
advisory lock, as SQLite's BEGIN IMMEDIATE takes its write lock: writers go one at a time,
and positions become visible in order. Reads never wait for it.
"""

import functools
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from flask import Flask
from psycopg.pq import TransactionStatus
from psycopg.types.string import TextLoader
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from app import schema
from app.schema import definition
from app.config import ConfigError, StartupError
from app.engines import ROLES, Engine, Lead, RebuildRunning
from app.sql import Tx

# Advisory lock keys (two int4, so pg_locks shows them as classid/objid): one namespace for
# this service, one key per purpose. Advisory locks are per database.
NAMESPACE = 0x43515253  # "CQRS"
WRITERS, MIGRATIONS_KEY, REBUILD = 1, 2, 3
LEADS = {"process-managers": 4, "follower": 5}  # session locks of the lead process of each purpose (PostgreSQL.lead)
# Errors after which a retry may pass: lock not available (lock_timeout), serialization failure,
# deadlock; and a connection the server ended (shut down, restarted, terminated it).
_BUSY = {"55P03", "40001", "40P01", "57P01", "57P02", "57P03"}
CONNECT_TIMEOUT_SECONDS = 3
_BIND_KEY = {"command": None, "projector": "projector", "query": "query"}
_IDLE = TransactionStatus.IDLE

_REPLICA_LAG = """
SELECT CASE WHEN NOT pg_is_in_recovery() THEN NULL
            WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END
"""


def role_name(role: str) -> str:
    return f"cqrs_{role}"


def sqlalchemy_url(url: str) -> str:
    """``postgresql://...`` (libpq's form) with psycopg 3 named as SQLAlchemy's driver."""
    return re.sub(r"^postgres(?:ql)?(?:\+psycopg)?://", "postgresql+psycopg://", url)


def libpq_url(url: str) -> str:
    return re.sub(r"^postgres(?:ql)?(?:\+psycopg)?://", "postgresql://", url)


class PostgreSQL(Engine):
    name = "postgresql"

    def __init__(self, app: Flask):
        from app.db import db  # flask-sqlalchemy's extension: it makes the engines and opens connections

        config = app.config
        # A query process (a query host, on a standby) reads through the query role only: it
        # opens no connection to DATABASE_URL, which it may not even be given. Not one that
        # follows another service (FOLLOW_URL): it keeps a database of its own.
        self.query_only = config["APP_ROLE"] == "query" and not config.get("FOLLOW_URL")
        given = config["DATABASE_URL"] or (config["QUERY_DATABASE_URL"] if self.query_only else "")
        if not given:
            raise ConfigError("DATABASE_URL must be set: COMMAND_/PROJECTOR_/QUERY_DATABASE_URL only stand beside it")
        self.url = sqlalchemy_url(given)
        self.busy_ms = config["DATABASE_BUSY_TIMEOUT_MS"]
        urls = {role: sqlalchemy_url(config.get(f"{role.upper()}_DATABASE_URL") or self.url) for role in ROLES}
        self.query_url = urls["query"]
        options = {
            "isolation_level": "AUTOCOMMIT",  # BEGIN and COMMIT are ours (see begin)
            "pool_size": config["DATABASE_POOL_SIZE"],
            "max_overflow": config["DATABASE_POOL_OVERFLOW"],
            # A server that does not answer (a host down) is a 503 in seconds, not a hung worker.
            "connect_args": {"application_name": "cqrs-service", "connect_timeout": CONNECT_TIMEOUT_SECONDS},
        }
        config["SQLALCHEMY_DATABASE_URI"] = urls["command"]
        config["SQLALCHEMY_ENGINE_OPTIONS"] = options
        config["SQLALCHEMY_BINDS"] = {key: {"url": urls[role], **options} for role, key in _BIND_KEY.items() if key}
        db.init_app(app)
        with app.app_context():
            self.engines = {role: db.engines[_BIND_KEY[role]] for role in ROLES}
        for role, engine in self.engines.items():
            self._configure(engine, role)
        self._fairies: dict[int, object] = {}

    def _configure(self, engine, role: str) -> None:
        busy_ms = self.busy_ms

        @event.listens_for(engine, "connect")
        def on_connect(dbapi_connection, _record):
            statements = [f"SET ROLE {role_name(role)}", f"SET lock_timeout = {int(busy_ms)}"]
            if role == "query":
                statements.append("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            dbapi_connection.execute("; ".join(statements))
            # json_object() renders a document for the reply as it is: text, not a Python dict.
            dbapi_connection.adapters.register_loader("json", TextLoader)
            dbapi_connection.role = role

    def describe(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def checkout(self, role: str):
        try:
            fairy = self.engines[role].raw_connection()
        except psycopg.Error as error:  # opening a new one: the pool lets the driver's error through
            raise DBAPIError.instance(None, None, error, psycopg.Error) from error
        raw = fairy.dbapi_connection
        self._fairies[id(raw)] = fairy
        return raw

    def checkin(self, role: str, raw) -> None:
        fairy = self._fairies.pop(id(raw))
        if raw.broken or raw.closed:
            # Lost (a server restart, a network cut): the pool opens a new one when next asked.
            # Pooled connections are not pinged before use: that would cost every request a round trip.
            fairy.invalidate()
        else:
            fairy.close()  # back to SQLAlchemy's pool, which rolls back whatever was left open

    def dispose(self) -> None:
        for engine in self.engines.values():
            engine.dispose()

    def begin(self, raw, write: bool) -> None:
        """BEGIN; a writer then waits, up to the busy timeout, for the writers' lock."""
        if write:
            self.run(raw, f"BEGIN; SELECT pg_advisory_xact_lock({NAMESPACE}, {WRITERS})", ())
        else:
            self.run(raw, "BEGIN ISOLATION LEVEL REPEATABLE READ", ())  # one snapshot for the whole read

    def begin_read(self, raw, sql: str) -> tuple:
        cursor = self.run(raw, f"BEGIN ISOLATION LEVEL REPEATABLE READ; {sql}", ())
        cursor.nextset()  # past BEGIN's empty result
        return cursor.fetchone()

    def commit(self, raw) -> None:
        self.run(raw, "COMMIT", ())

    def finish(self, raw) -> None:
        if raw.info.transaction_status != _IDLE:
            try:
                raw.execute("ROLLBACK")
            except psycopg.Error:
                pass  # a broken connection: its transaction is gone with it, and the pool will see

    def in_transaction(self, raw) -> bool:
        return raw.info.transaction_status != _IDLE

    def run(self, raw, sql: str, params):
        try:
            if isinstance(params, list):
                cursor = raw.cursor()
                cursor.executemany(_pyformat(sql), params)
                return cursor
            if params:
                return raw.execute(_pyformat(sql), params)
            return raw.execute(_pyformat(sql, placeholders=False))  # psycopg reads no % in it then
        except psycopg.Error as error:
            # Without the parameters: a logged error must not carry a person's data.
            raise DBAPIError.instance(sql, params, error, psycopg.Error, hide_parameters=True) from error

    @contextmanager
    def acting_as(self, tx: Tx, role: str) -> Iterator[Tx]:
        raw = tx.raw
        self.run(raw, f"SET LOCAL ROLE {role_name(role)}", ())
        try:
            yield Tx(raw, self)
        finally:
            if raw.info.transaction_status == TransactionStatus.INTRANS:  # else it is rolled back, and SET with it
                self.run(raw, f"SET LOCAL ROLE {role_name(raw.role)}", ())

    def is_busy(self, error: Exception) -> bool:
        orig = getattr(error, "orig", error)
        sqlstate = getattr(orig, "sqlstate", None)
        # An OperationalError without a SQLSTATE is the client's: the server could not be reached.
        return sqlstate in _BUSY or (isinstance(orig, psycopg.OperationalError) and sqlstate is None)

    def check(self) -> None:
        """A query process: that its database has the schema (it never migrates: the database
        may be a standby). Others: nothing beside the server, which the migrations reach first."""
        if self.query_only:
            self._check_schema()

    def migrate(self) -> None:
        """Bring the schema to this code's version (app/schema.py) in one transaction, holding a
        session advisory lock so that processes starting together take turns; a database at
        the version already is only looked at."""
        try:
            with psycopg.connect(libpq_url(self.url), autocommit=True, application_name="cqrs-migrate") as conn:
                migrate(conn)
        except psycopg.OperationalError as error:
            raise StartupError(f"cannot connect to PostgreSQL at {self.describe()}: {_one_line(error)}") from None
        except psycopg.Error as error:
            raise StartupError(f"cannot bring the schema of {self.describe()} up to date: {_one_line(error)}") from None

    @contextmanager
    def append_only_lifted(self, tx: Tx) -> Iterator[None]:
        """As the session's own user, the owner of the log (ALTER TABLE is the owner's right):
        the trigger disabled, then enabled again, in the transaction; its lock on the log
        keeps every other reader and writer out until the commit."""
        tx.execute("SET LOCAL ROLE NONE")
        tx.execute("ALTER TABLE events DISABLE TRIGGER events_are_never_updated")
        yield
        tx.execute("ALTER TABLE events ENABLE TRIGGER events_are_never_updated")
        tx.execute(f"SET LOCAL ROLE {role_name('command')}")

    def schema_version(self) -> int | None:
        with psycopg.connect(libpq_url(self.url), autocommit=True) as conn:
            return schema_version(conn)

    def _check_schema(self) -> None:
        where = make_url(self.query_url).render_as_string(hide_password=True)
        raw = None
        try:
            raw = self.checkout("query")  # its SET ROLE fails while no migration has made the roles
            self.run(raw, "SELECT 1 FROM projection_checkpoints LIMIT 1", ())
            recorded = self.run(raw, "SELECT max(version) FROM schema_migrations", ()).fetchone()[0]
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) is None:  # the server was not reached
                raise StartupError(f"cannot connect to PostgreSQL at {where}: {_one_line(error.orig)}") from None
            raise StartupError(
                f"the database at {where} has no schema a query process can read ({_one_line(error.orig)}):"
                " start a command process of this version on its primary first, or run flask init-db there"
            ) from None
        finally:
            if raw is not None:
                self.checkin("query", raw)
        if schema.pending(self.name, recorded):
            raise StartupError(
                f"the database at {where} has schema version {recorded}, this code needs"
                f" {schema.current(self.name)}: start a command process of this version on its primary first"
            )

    def replica_lag(self) -> float | None:
        """0 while the standby has replayed all it received (an idle primary sends nothing new),
        else the age of the last transaction it replayed; None on a primary."""
        raw = self.checkout("query")
        try:
            return self.run(raw, _REPLICA_LAG, ()).fetchone()[0]
        finally:
            self.checkin("query", raw)

    def lead(self, purpose: str) -> "SessionLead":
        return SessionLead(libpq_url(self.url), LEADS[purpose], purpose)

    @contextmanager
    def rebuild_lock(self, wait_seconds: float) -> Iterator[None]:
        """A session advisory lock, on a connection of its own: it goes when that connection
        closes, however the rebuild ends (a killed process's connection is closed by the server)."""
        with psycopg.connect(libpq_url(self.url), autocommit=True, application_name="cqrs-rebuild") as conn:
            deadline = time.monotonic() + wait_seconds
            while not conn.execute(f"SELECT pg_try_advisory_lock({NAMESPACE}, {REBUILD})").fetchone()[0]:
                if time.monotonic() > deadline:
                    raise RebuildRunning("a rebuild is already running; wait for it to end")
                time.sleep(0.05)
            yield

    def shadow(self) -> "ShadowSchema":
        return ShadowSchema(self)

    @contextmanager
    def projector_session(self) -> Iterator[psycopg.Connection]:
        """A projector connection outside any transaction, for the rebuild's DDL."""
        raw = self.checkout("projector")
        try:
            yield raw
        finally:
            self.checkin("projector", raw)

    def rebuild_running(self) -> bool:
        with self.engines["projector"].connect() as conn:
            return bool(
                conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                    f" WHERE l.locktype = 'advisory' AND l.classid = {NAMESPACE} AND l.objid = {REBUILD}"
                    " AND l.objsubid = 2 AND l.granted AND d.datname = current_database()"
                ).scalar()
            )


class SessionLead(Lead):
    """A session advisory lock on a connection of its own: the server ends it with the
    connection, so a process killed, or cut off from the server, leaves the lead to another."""

    def __init__(self, url: str, key: int, purpose: str):
        self.url, self.key, self.purpose = url, key, purpose
        self.conn: psycopg.Connection | None = None
        self.holding = False

    def held(self) -> bool:
        try:
            if self.conn is None or self.conn.closed:
                self.conn = psycopg.connect(
                    self.url,
                    autocommit=True,
                    application_name=f"cqrs-lead-{self.purpose}",
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                )
                self.holding = False
            statement = "SELECT true" if self.holding else f"SELECT pg_try_advisory_lock({NAMESPACE}, {self.key})"
            self.holding = self.conn.execute(statement).fetchone()[0]
        except psycopg.Error:
            if self.conn is not None:
                self.conn.close()
            self.conn, self.holding = None, False
            raise
        return self.holding

    def release(self) -> None:
        """Unlock before closing: the server ends the session (and its lock) only some time
        after the connection closes, and another process may ask meanwhile."""
        if self.conn is not None:
            try:
                if self.holding and not self.conn.closed:
                    self.conn.execute(f"SELECT pg_advisory_unlock({NAMESPACE}, {self.key})")
            except psycopg.Error:
                pass  # the session's end releases it all the same
            finally:
                self.conn.close()
        self.conn, self.holding = None, False


class ShadowSchema:
    """The rebuild's copies of the read tables, as ``cqrs_rebuild.<table>``: a schema of the
    projector's own, filled while queries read the live tables. The swap deletes the live
    rows and copies the new ones in, in the writers' transaction: readers keep their snapshot
    of the old rows until it commits, no table is dropped (no lock that would stop reads,
    here or on a standby), and the live tables keep their indexes, names and GRANTs.

    A table made ``anew`` (its projection's version changed: its shape may have) is made as
    the baseline makes it, and the swap drops the live table and moves the copy in (the
    projector owns the read tables): readers wait for that commit, and a standby may cancel
    a read of the table that overlaps it."""

    prefix = "cqrs_rebuild."

    def __init__(self, engine: "PostgreSQL"):
        self.engine = engine

    @contextmanager
    def attached(self, raw) -> Iterator[None]:
        try:
            yield
        finally:
            self.remove_leftovers()

    def create_tables(self, tx: Tx, tables: list[str], anew: frozenset[str] = frozenset()) -> None:
        """Empty copies with the live tables' columns, keys and indexes (upserts need the keys),
        or for those ``anew``, the baseline's."""
        for table in tables:
            if table not in anew:
                tx.execute(f"CREATE TABLE {self.prefix}{table} (LIKE public.{table} INCLUDING ALL)")
                continue
            for sql in definition(self.engine.name, table):
                tx.execute(re.sub(rf"\b(TABLE|ON) {table}\b", rf"\1 {self.prefix}{table}", sql, count=1))

    def create_indexes(self, tx: Tx, tables: list[str], anew: frozenset[str] = frozenset()) -> None:
        """Made with the tables: the handlers' upserts need their unique indexes from the first row."""

    def swap(self, tx: Tx, table: str, anew: bool = False) -> None:
        if anew:
            tx.execute(f"DROP TABLE IF EXISTS public.{table}")  # a new projection's may not be made yet
            tx.execute(f"ALTER TABLE {self.prefix}{table} SET SCHEMA public")
            tx.execute(f"GRANT SELECT ON public.{table} TO {role_name('query')}")
            return
        tx.execute(f"DELETE FROM public.{table}")
        tx.execute(f"INSERT INTO public.{table} SELECT * FROM {self.prefix}{table}")

    def leftovers(self) -> bool:
        with self.engine.projector_session() as conn:
            return bool(_copies(conn))

    def remove_leftovers(self) -> None:
        with self.engine.projector_session() as conn:
            for name in _copies(conn):
                conn.execute(f'DROP TABLE IF EXISTS {self.prefix}"{name}"')


def _copies(conn) -> list[str]:
    return [name for (name,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'cqrs_rebuild'")]


_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|::|:(\w+)|%|\?|\bjson_object\(")
# The one function both engines have under different names: SQLite's json_object(k, v, ...)
# is PostgreSQL's json_build_object (which writes the same JSON with spaces).
_DIALECT = {"%": "%%", "?": "%s", "json_object(": "json_build_object("}


@functools.lru_cache(maxsize=2048)
def _pyformat(sql: str, placeholders: bool = True) -> str:
    """The statement in psycopg's terms: ``:name`` parameters as ``%(name)s`` and ``?`` as ``%s``,
    a literal ``%`` doubled, SQLite's function names as PostgreSQL's; quoted text and ``::``
    casts as they are."""

    def replace(match: re.Match) -> str:
        token = match.group(0)
        if not placeholders:
            return token if match.group(1) is not None or token in "%?" else _DIALECT.get(token, token)
        if match.group(1) is not None:
            return f"%({match.group(1)})s"
        if token[0] in "'\"":
            return token.replace("%", "%%")  # psycopg looks for placeholders even in quoted text
        return _DIALECT.get(token, token)

    return _TOKEN.sub(replace, sql)


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def migrate(conn: psycopg.Connection) -> None:
    """The schema on ``conn`` (autocommit) brought to this code's version: looked at first, then
    under the migrations' advisory lock, in one transaction."""
    if schema_version(conn) == schema.current("postgresql"):
        return
    conn.execute(f"SELECT pg_advisory_lock({NAMESPACE}, {MIGRATIONS_KEY})")
    try:
        with conn.transaction():
            script = schema.plan("postgresql", schema_version(conn))
            if script:
                conn.execute(script)
    finally:
        conn.execute(f"SELECT pg_advisory_unlock({NAMESPACE}, {MIGRATIONS_KEY})")


def schema_version(conn: psycopg.Connection) -> int | None:
    """The version the database's schema is at: None for a new database, 1 for one made
    before versions were kept."""
    versions, log = conn.execute(
        "SELECT to_regclass('schema_migrations') IS NOT NULL, to_regclass('events') IS NOT NULL"
    ).fetchone()
    if versions:
        return conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    return 1 if log else None
