"""The writer queue and the background checkpoint, on a real WAL file with real threads."""

import sqlite3
import threading
import time

import pytest
from sqlalchemy.exc import DBAPIError

from app.writers import Checkpointer, writer_queue


def _wal_database(path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")  # only the Checkpointer copies the WAL here
    conn.execute("CREATE TABLE IF NOT EXISTS notes (body BLOB)")
    return conn


def _write_until(stop: threading.Event, conn: sqlite3.Connection, writers) -> None:
    """Commit after commit, each in its turn, as the app's writers do."""
    while not stop.is_set():
        writers.acquire()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO notes VALUES (randomblob(3000))")
            conn.execute("COMMIT")
        finally:
            writers.release()


def test_the_wal_starts_over_under_a_steady_stream_of_commits(tmp_path):
    """A checkpoint beside steady writers never finds the whole WAL copied, so without its
    turn in the writer queue the WAL would only grow."""
    path = str(tmp_path / "w.db")
    writers = writer_queue(path, 5.0)
    conn = _wal_database(path)
    checkpointer = Checkpointer(path, writers, restart_frames=200)
    stop = threading.Event()
    writer = threading.Thread(target=_write_until, args=(stop, conn, writers))
    writer.start()
    seen = []
    try:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            seen.append(checkpointer.checkpoint())
            time.sleep(0.005)
    finally:
        stop.set()
        writer.join()
    commits = conn.execute("SELECT count(*) FROM notes").fetchone()[0]
    restarts = sum(1 for before, after in zip(seen, seen[1:]) if after < before)
    assert commits > 500  # the writer kept on writing all along
    assert restarts >= 3, seen
    assert max(seen) < 2_000, seen  # ~2 frames a commit: far fewer than the commits made


def test_a_pass_below_the_threshold_takes_no_turn(tmp_path):
    path = str(tmp_path / "w.db")
    writers = writer_queue(path, 0.1)
    conn = _wal_database(path)
    conn.execute("INSERT INTO notes VALUES (randomblob(3000))")
    writers.acquire()  # held: a pass that asked for a turn would fail with "database is locked"
    try:
        assert 0 < Checkpointer(path, writers, restart_frames=1_000).checkpoint() < 1_000
        with pytest.raises(DBAPIError, match="database is locked"):
            Checkpointer(path, writers, restart_frames=1).checkpoint()
    finally:
        writers.release()
