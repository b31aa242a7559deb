"""A throwaway PostgreSQL 15 server for the tests: its own temp folder, a free loopback port,
trust auth for ``postgres``, no fsync; stopped and removed at the end, whatever the end.

initdb refuses to run as root, and the tests run as root: the folder then belongs to the
``postgres`` user and the server's commands run as that user.

    with running() as server:
        server.create_database("t1")
        engine = create_engine(server.url("t1"))

or, in a test, the session-scoped fixture ``postgres_server`` (import it into the test module).
"""

import atexit
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

BIN = Path("/usr/lib/postgresql/15/bin")
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "400",  # several gunicorn workers per test, each with a pool per role
    "shared_buffers": "'64MB'",
}


class Server:
    """A running server: where it listens, and its databases."""

    def __init__(self, folder: Path, port: int):
        self.folder, self.port = folder, port

    def url(self, dbname: str = "postgres") -> str:
        """The SQLAlchemy URL of one of its databases."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres", autocommit: bool = False) -> psycopg.Connection:
        """A psycopg connection to one of its databases, as the superuser ``postgres``."""
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, autocommit=autocommit)

    def create_database(self, name: str, template: str | None = None) -> None:
        """A new database, empty or a copy of ``template`` (which must have no connections)."""
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        self._admin(statement)

    def drop_database(self, name: str) -> None:
        """Drop the database if it exists, closing its connections first."""
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _admin(self, statement: sql.Composable) -> None:
        with self.connect(autocommit=True) as conn:
            conn.execute(statement)


@contextmanager
def running() -> Iterator[Server]:
    """A new server for the block; RuntimeError with the log's tail if it does not start."""
    folder = Path(tempfile.mkdtemp(prefix="postgres-"))
    stop = _stopper(folder)
    atexit.register(stop)  # also when the interpreter exits without leaving the block
    try:
        yield _start(folder)
    finally:
        stop()
        atexit.unregister(stop)


def _start(folder: Path, settings: dict | None = None) -> Server:
    """initdb in ``folder``/data and start it, with SETTINGS (and ``settings`` over them)."""
    _own(folder)
    data = folder / "data"
    _run("initdb", "-D", data, "--auth=trust", "-U", "postgres", "--encoding=UTF8", "--locale=C", "--no-sync")
    port = _free_port()
    _configure(data, {**SETTINGS, **(settings or {})}, folder, port)
    _launch(folder)
    return Server(folder, port)


def _own(folder: Path) -> None:
    """Hand ``folder`` to ``postgres`` when we are root: the server's programs run as that user."""
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(folder, account.pw_uid, account.pw_gid)


def _configure(data: Path, settings: dict, folder: Path, port: int) -> None:
    """Append ``settings``, the port and the socket's folder to the server's postgresql.conf."""
    settings = {**settings, "port": str(port), "unix_socket_directories": f"'{folder}'"}
    with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
        conf.writelines(f"{name} = {value}\n" for name, value in settings.items())


def _launch(folder: Path) -> None:
    """pg_ctl start on ``folder``/data, logging to ``folder``/server.log; RuntimeError with the log's tail."""
    log = folder / "server.log"
    try:
        _run("pg_ctl", "-D", folder / "data", "-l", log, "-w", "-t", "60", "start")
    except RuntimeError as error:
        tail = "".join(log.read_text(errors="replace").splitlines(True)[-30:]) if log.exists() else ""
        raise RuntimeError(f"{error}\nserver log ({log}), last lines:\n{tail}") from None


def _stopper(folder: Path):
    def stop() -> None:
        if (folder / "data" / "postmaster.pid").exists():
            _run("pg_ctl", "-D", folder / "data", "-m", "immediate", "stop", check=False)
        shutil.rmtree(folder, ignore_errors=True)

    return stop


def _run(program: str, *args, check: bool = True) -> None:
    """One of the server's programs, as ``postgres`` when we are root; RuntimeError with its output."""
    command = [str(BIN / program), *map(str, args)]
    if os.geteuid() == 0:
        command = ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(command)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise RuntimeError(f"{program} failed ({done.returncode}):\n{done.stdout}{done.stderr}")


def _free_port() -> int:
    """A loopback port that nothing listens on now (asked of the kernel, not guessed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    """One throwaway PostgreSQL server for the test session."""
    with running() as server:
        yield server
