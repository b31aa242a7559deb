"""A throwaway PostgreSQL 15 primary and a streaming standby of it, for the scale-out tests:
each in its own folder on a free loopback port, trust auth for ``postgres``, no fsync;
stopped and removed at the end, whatever the end.

The standby is a ``pg_basebackup -R`` copy of the primary (hot_standby: it answers reads),
fed by asynchronous streaming replication: a commit on the primary reaches it a little later.

    with running_cluster() as cluster:
        cluster.create_database("t1")           # on the primary; returns once the standby has it
        cluster.primary_url("t1"), cluster.replica_url("t1")
        cluster.wait_replayed()                 # the standby has replayed all the primary wrote
        cluster.pause_replay(); cluster.resume_replay()
        with cluster.replay_delayed(10): ...     # each commit applied 10 ms late on the standby
        cluster.stop_replica(); cluster.start_replica()

or, in a test, the session-scoped fixture ``postgres_cluster`` (import it into the test module).
"""

import atexit
import hashlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg
import pytest

from tests.postgres_server import Server, _configure, _free_port, _launch, _own, _run, _start

PRIMARY = {
    "wal_level": "replica",
    "max_wal_senders": "4",
    "hot_standby": "on",
    # The standby is sent only WAL the primary has flushed: with synchronous_commit off, a
    # commit would reach it only at the WAL writer's next round (up to wal_writer_delay).
    "synchronous_commit": "on",
    "wal_writer_delay": "'10ms'",
}
# Loopback replication connections for the standby (initdb's own sample has them too, today).
REPLICATION_HBA = "host replication postgres 127.0.0.1/32 trust\n"


class Cluster:
    """A running primary and its standby: their URLs, databases, and the standby's replay."""

    def __init__(self, folder: Path, primary: Server, replica: Server):
        self.folder, self.primary, self.replica = folder, primary, replica

    def primary_url(self, dbname: str = "postgres") -> str:
        return self.primary.url(dbname)

    def replica_url(self, dbname: str = "postgres") -> str:
        return self.replica.url(dbname)

    def create_database(self, name: str, seconds: float = 30) -> None:
        """A new empty database on the primary; returns once the standby lets us connect to it."""
        self.primary.create_database(name)
        self._wait(lambda: self._replica_has(name), seconds, f"database {name} on the standby")

    def drop_database(self, name: str) -> None:
        self.primary.drop_database(name)

    def wait_replayed(self, seconds: float = 30) -> None:
        """Wait until the standby has replayed everything the primary had written when called."""
        with closing(self.primary.connect(autocommit=True)) as conn:
            (target,) = conn.execute("SELECT pg_current_wal_lsn()").fetchone()

        def replayed() -> bool:
            with closing(self.replica.connect(autocommit=True)) as conn:
                query = "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn"
                return bool(conn.execute(query, (str(target),)).fetchone()[0])

        self._wait(replayed, seconds, f"the standby's replay of {target}")

    def stop_replica(self) -> None:
        """Stop the standby (a fast shutdown: its sessions are ended, new ones refused)."""
        _run("pg_ctl", "-D", self.replica.folder / "data", "-m", "fast", "-w", "stop")

    def start_replica(self) -> None:
        """Start the standby again, on the same port; it resumes streaming where it stopped."""
        _launch(self.replica.folder)

    def pause_replay(self) -> None:
        """The standby keeps receiving WAL but applies none of it until ``resume_replay``."""
        self._on_replica("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self._on_replica("SELECT pg_wal_replay_resume()")

    @contextmanager
    def replay_delayed(self, milliseconds: int) -> Iterator[None]:
        """For the block, the standby applies each commit ``milliseconds`` after the primary
        made it (recovery_min_apply_delay): a standby behind, as one under load is."""
        self._on_replica(f"ALTER SYSTEM SET recovery_min_apply_delay = '{int(milliseconds)}ms'")
        self._on_replica("SELECT pg_reload_conf()")
        try:
            yield
        finally:
            self._on_replica("ALTER SYSTEM RESET recovery_min_apply_delay")
            self._on_replica("SELECT pg_reload_conf()")

    def _on_replica(self, statement: str) -> None:
        with closing(self.replica.connect(autocommit=True)) as conn:
            conn.execute(statement)

    def _replica_has(self, name: str) -> bool:
        try:
            with closing(self.replica.connect(name)):
                return True
        except psycopg.OperationalError:  # not replayed yet
            return False

    @staticmethod
    def _wait(done, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {seconds}s for {what}")
            time.sleep(0.01)


@contextmanager
def running_cluster(primary_settings: dict | None = None, replica_settings: dict | None = None) -> Iterator[Cluster]:
    """A new primary and standby for the block, with these settings over the tests' own (an
    ``include`` of a file, say); RuntimeError with a log's tail if one does not start."""
    folder = Path(tempfile.mkdtemp(prefix="postgres-cluster-"))
    stop = _stopper(folder)
    atexit.register(stop)  # also when the interpreter exits without leaving the block
    try:
        _own(folder)
        primary = _start_primary(folder / "primary", primary_settings or {})
        yield Cluster(folder, primary, _start_replica(folder / "replica", primary, replica_settings or {}))
    finally:
        stop()
        atexit.unregister(stop)


def _start_primary(folder: Path, settings: dict) -> Server:
    folder.mkdir()
    server = _start(folder, {**PRIMARY, **settings})
    with open(folder / "data" / "pg_hba.conf", "a", encoding="utf-8") as hba:
        hba.write(REPLICATION_HBA)
    _run("pg_ctl", "-D", folder / "data", "reload")
    return server


def _start_replica(folder: Path, primary: Server, settings: dict) -> Server:
    """A standby of ``primary``: its base backup (with standby.signal and primary_conninfo), started."""
    folder.mkdir()
    _own(folder)
    data = folder / "data"
    _run(
        "pg_basebackup", "-D", data, "-h", "127.0.0.1", "-p", primary.port, "-U", "postgres",
        "-R", "-X", "stream", "-c", "fast", "--no-sync",
    )  # fmt: skip
    port = _free_port()
    _configure(data, settings, folder, port)  # over the primary's, copied with its conf (port, socket folder)
    _launch(folder)
    replica = Server(folder, port)
    with closing(replica.connect(autocommit=True)) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0], "the copy is not a standby"
    return replica


def _stopper(folder: Path):
    def stop() -> None:
        for server in ("replica", "primary"):
            if (folder / server / "data" / "postmaster.pid").exists():
                _run("pg_ctl", "-D", folder / server / "data", "-m", "immediate", "stop", check=False)
        shutil.rmtree(folder, ignore_errors=True)

    return stop


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """One throwaway primary and standby for the test session."""
    with running_cluster() as cluster:
        yield cluster


def database_name(seed: str) -> str:
    """A database name for a test (a node id, say): short, lower-case, safe to quote or not."""
    return "s_" + hashlib.sha1(seed.encode()).hexdigest()[:20]
