"""The writer queue and the background checkpoint, on a real WAL file with real threads."""

import sqlite3
import threading
import time

import pytest
from sqlalchemy.exc import DBAPIError

from app import writers
from app.writers import Checkpointer, checkpoint_in_background, writer_queue


def _wal_database(path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")  # as the app's connections: no fsync per commit
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


def test_once_the_wal_stops_growing_no_more_turns_are_taken(tmp_path):
    path = str(tmp_path / "w.db")
    writers = writer_queue(path, 0.1)
    conn = _wal_database(path)
    for _ in range(150):
        conn.execute("INSERT INTO notes VALUES (randomblob(3000))")
    checkpointer = Checkpointer(path, writers, restart_frames=100)
    assert checkpointer.checkpoint() >= 100  # grown past the mark: this pass took its turn
    writers.acquire()  # held: a pass that asked for a turn now would fail with "database is locked"
    try:
        assert checkpointer.checkpoint() >= 100  # the same WAL, no commit since: no turn
    finally:
        writers.release()


def _wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_one_thread_checkpoints_at_a_time_and_another_takes_over_when_it_stops(tmp_path, monkeypatch):
    """Two threads stand for two gunicorn workers: the lock is per open file, as between processes."""
    leaders: list[threading.Thread] = []

    class Recording:
        def __init__(self, *_args):
            leaders.append(threading.current_thread())

        def checkpoint(self) -> int:
            return 0

    monkeypatch.setattr(writers, "Checkpointer", Recording)
    path = str(tmp_path / "w.db")
    stops = {}
    for _ in range(2):
        stop = threading.Event()
        stops[checkpoint_in_background(path, 1.0, every_seconds=0.01, stop=stop)] = stop
    _wait_for(lambda: len(leaders) == 1)
    time.sleep(0.2)
    assert len(leaders) == 1  # the other thread waits for the lead
    stops[leaders[0]].set()
    _wait_for(lambda: len(leaders) == 2)
    assert leaders[1] is not leaders[0]
    stops[leaders[1]].set()


def test_a_failing_pass_is_logged_once_and_the_next_passes_go_on(tmp_path, monkeypatch, caplog):
    passes = []

    class Flaky:
        def __init__(self, *_args):
            pass

        def checkpoint(self) -> int:
            passes.append(1)
            if len(passes) <= 3:
                raise OSError(5, "Input/output error")
            return 0

    monkeypatch.setattr(writers, "Checkpointer", Flaky)
    stop = threading.Event()
    checkpoint_in_background(str(tmp_path / "w.db"), 1.0, every_seconds=0.01, stop=stop)
    try:
        _wait_for(lambda: len(passes) >= 6)
    finally:
        stop.set()
    failures = [r for r in caplog.records if r.name == "app.writers" and "checkpoint failed" in r.getMessage()]
    assert len(failures) == 1  # the same error three times: logged once
    assert "Input/output error" in failures[0].exc_text


def test_a_lock_file_the_checkpointer_cannot_open_is_logged_once_and_tried_again(tmp_path, caplog):
    path = tmp_path / "w.db"
    blocked = tmp_path / "w.db-checkpointer"
    blocked.mkdir()  # no process opens a folder for writing, root included
    stop = threading.Event()
    thread = checkpoint_in_background(str(path), 1.0, every_seconds=0.01, stop=stop)
    try:
        time.sleep(0.1)
        assert thread.is_alive()
        blocked.rmdir()
        _wait_for(lambda: blocked.is_file())  # opened, on a later try
    finally:
        stop.set()
    failures = [r for r in caplog.records if r.name == "app.writers" and str(blocked) in r.getMessage()]
    assert len(failures) == 1
