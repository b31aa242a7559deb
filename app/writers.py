"""How the processes sharing one SQLite file write: they take turns for the write lock in a
queue of their own, and the WAL is checkpointed off the requests' path."""

import fcntl
import logging
import os
import sqlite3
import threading
import time

from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)


class WriterQueue:
    """Where the writers of every process wait their turn for SQLite's write lock.

    SQLite's own busy wait sleeps between tries (1, 2, 5, ... up to 100 ms), so under load
    the lock sits free while every writer sleeps, and writes crawl. Writers wait here
    instead, before BEGIN IMMEDIATE: on an advisory lock of a file beside the database
    (flock), tried every fraction of a millisecond, until busy_timeout. SQLite's wait is
    left for writers from outside this code (the sqlite3 shell, another program).
    """

    def __init__(self, database_path: str, timeout_s: float):
        self.path, self.timeout = f"{database_path}-writers", timeout_s
        self.mutex = threading.Lock()  # flock excludes open files (processes), not threads
        self.fd, self.pid = -1, None

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        if not self.mutex.acquire(timeout=self.timeout):
            raise _locked()
        try:
            if self.pid != os.getpid():  # a forked worker opens its own: the parent's would share its lock
                self.fd, self.pid = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600), os.getpid()
            pause = 0.0002
            while True:
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise _locked() from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.002)
        except BaseException:
            self.mutex.release()
            raise

    def release(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.mutex.release()


def _locked() -> DBAPIError:
    """The error SQLite gives when its lock stays taken past busy_timeout (a 503 for clients)."""
    return DBAPIError.instance("BEGIN IMMEDIATE", (), sqlite3.OperationalError("database is locked"), sqlite3.Error)


def checkpoint_in_background(database_path: str, every_seconds: float = 1.0) -> threading.Thread:
    """Checkpoint the WAL from a daemon thread of this process, so that no request's commit
    pays for it (gunicorn.conf.py starts one per worker). PASSIVE: it never waits for, or
    holds up, readers and writers; a checkpoint already running elsewhere is simply skipped."""

    def run() -> None:
        conn = sqlite3.connect(database_path, isolation_level=None, check_same_thread=False)
        while True:
            time.sleep(every_seconds)
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as error:
                log.warning("background checkpoint failed: %s", error)

    thread = threading.Thread(target=run, name="wal-checkpoint", daemon=True)
    thread.start()
    return thread
