"""The writer queue and the background checkpoint, on a real WAL file with real threads."""

import os
import sqlite3
import threading
import time

import pytest
from sqlalchemy.exc import DBAPIError

from app.engines import sqlite_writers as writers
from app.engines.sqlite_writers import Checkpointer, checkpoint_in_background, writer_queue

# SQLite's own machinery: the writer queue's flock and the WAL beside the database file.
pytestmark = pytest.mark.sqlite


def _wal_database(path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")  # as the app's connections: no fsync per commit
    conn.execute("PRAGMA wal_autocheckpoint = 0")  # only the Checkpointer copies the WAL here
    conn.execute("CREATE TABLE IF NOT EXISTS notes (body BLOB)")
    return conn


# At most this many WAL frames a commit of one row here: its leaf, the pages above it, and
# those a split adds. A bound of the b-tree's shape, not of the machine's speed.
FRAMES_PER_COMMIT = 10


class _Writer(threading.Thread):
    """Commits one row after another, each in its turn, as the app's writers do; counts them."""

    def __init__(self, conn: sqlite3.Connection, writers):
        super().__init__()
        self.conn, self.writers, self.commits, self.stop = conn, writers, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.writers.acquire()
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                self.conn.execute("INSERT INTO notes VALUES (randomblob(3000))")
                self.conn.execute("COMMIT")
            finally:
                self.writers.release()
            self.commits += 1


def test_the_wal_starts_over_under_a_steady_stream_of_commits(tmp_path):
    """A checkpoint beside steady writers never finds the whole WAL copied, so without its
    turn in the writer queue the WAL would only grow. A pass that finds the WAL past the mark,
    and grown, copies all of it in its turn: the next commit starts the WAL over, so the next
    pass sees no more than what was committed since the first began (or the same WAL, if
    nothing was). However slow the machine, only how often the passes come changes."""
    path = str(tmp_path / "w.db")
    mark = 200
    checkpointer = Checkpointer(path, writer_queue(path, 5.0), restart_frames=mark)
    writer = _Writer(_wal_database(path), writer_queue(path, 5.0))
    writer.start()
    passes = []  # (commits before the pass, frames it saw, commits after it)
    try:
        turns, deadline = 0, time.monotonic() + 120  # the deadline only ends a test whose WAL never starts over
        while turns < 10 and time.monotonic() < deadline:
            before = writer.commits
            frames = checkpointer.checkpoint()
            passes.append((before, frames, writer.commits))
            turns += len(passes) > 1 and frames >= mark and frames != passes[-2][1]
            time.sleep(0.005)
    finally:
        writer.stop.set()
        writer.join()
    assert turns == 10, passes
    for (_, last, _), (before, frames, _), (_, next_frames, after) in zip(passes, passes[1:], passes[2:]):
        took_a_turn = frames >= mark and frames != last
        if took_a_turn and next_frames != frames:  # the same WAL: no commit since, nothing started over
            # The commit counted last may still be on its way: one more than counted.
            assert next_frames <= FRAMES_PER_COMMIT * (after - before + 1), passes


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


def _wait_for(condition, seconds: float = 60.0) -> None:
    """Until ``condition`` holds; the deadline only ends a test that would wait for ever."""
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
    failures = [r for r in caplog.records if r.name == "app.engines.sqlite_writers" and "checkpoint failed" in r.getMessage()]
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
    failures = [r for r in caplog.records if r.name == "app.engines.sqlite_writers" and str(blocked) in r.getMessage()]
    assert len(failures) == 1


def test_a_truncation_readers_hold_up_is_left_to_the_background_checkpoint(tmp_path):
    """After an erasure (SQLite.forget_old_versions): a reader of an older snapshot keeps the WAL
    whole for a moment, so the writers do not wait on it; the checkpointer truncates the WAL once
    the reader is gone, as the file beside the database asks."""
    path = str(tmp_path / "cqrs.db")
    conn = _wal_database(path)
    queue = writer_queue(path, 5.0)
    reader = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO notes VALUES (x'00')")
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM notes").fetchone()  # its snapshot holds the WAL's frames
    conn.execute("INSERT INTO notes VALUES (x'01')")

    assert not writers.truncate(conn, queue, busy_ms=0)
    open(path + writers.TRUNCATE_WANTED, "w").close()
    checkpointer = Checkpointer(path, queue)
    checkpointer.checkpoint()
    assert os.path.exists(path + writers.TRUNCATE_WANTED)  # the reader is still there

    reader.execute("COMMIT")
    checkpointer.checkpoint()
    assert not os.path.exists(path + writers.TRUNCATE_WANTED)
    assert os.path.getsize(path + "-wal") == 0
