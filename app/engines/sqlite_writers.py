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

# The files beside the database: SQLite's own, and this module's locks (app.rebuild keeps
# its scratch files apart). A start checks each one it finds (app.db.check_files).
REBUILD_LOCK = "-rebuild"  # held while app.rebuild runs
LEADS = ("-process-managers", "-follower")  # held by the lead process of each purpose (SQLite.lead)
TRUNCATE_WANTED = "-truncate"  # made after an erasure the WAL could not be truncated for at once
SIDE_FILES = ("-wal", "-shm", "-journal", "-writers", "-checkpointer", REBUILD_LOCK, TRUNCATE_WANTED, *LEADS)


def open_beside(database_path: str, suffix: str) -> int:
    """Open, making it if missing, a lock file beside the database. Made by root beside a
    database of another user, it is given to that user, as SQLite does with its -wal and
    -shm: otherwise a later start as that user could not open it."""
    fd = os.open(f"{database_path}{suffix}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if os.geteuid() == 0 and os.fstat(fd).st_uid == 0:
            owner = os.stat(database_path)
            if owner.st_uid != 0:
                os.fchown(fd, owner.st_uid, owner.st_gid)
    except FileNotFoundError:
        pass  # no database yet: whoever makes it owns both
    except BaseException:
        os.close(fd)
        raise
    return fd


def held(database_path: str, suffix: str) -> bool:
    """Whether some process holds the flock of a lock file beside the database right now. A
    process's flocks go when it ends, killed or not: a lock held is work still going on."""
    try:
        fd = os.open(f"{database_path}{suffix}", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: as it was (a start names a file it cannot open)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # and the shared lock with it
    return False


class WriterQueue:
    """Where the writers of every process wait their turn for SQLite's write lock.

    SQLite's own busy wait sleeps longer and longer between tries, so under load
    the lock sits free while every writer sleeps, and writes crawl. Writers wait here
    instead, before BEGIN IMMEDIATE: on an advisory lock of a file beside the database
    (flock), tried every fraction of a millisecond, until busy_timeout. SQLite's wait is
    left for writers from outside this code (the sqlite3 shell, another program).
    """

    def __init__(self, database_path: str, timeout_s: float):
        self.database_path, self.timeout = database_path, timeout_s
        self.mutex = threading.Lock()  # flock excludes open files (processes), not threads
        self.fd, self.pid = -1, None

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        if not self.mutex.acquire(timeout=self.timeout):
            raise _locked()
        try:
            if self.pid != os.getpid():  # a forked worker opens its own: the parent's would share its lock
                self.fd, self.pid = open_beside(self.database_path, "-writers"), os.getpid()
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


_queues: dict[str, WriterQueue] = {}


def writer_queue(database_path: str, timeout_s: float) -> WriterQueue:
    """This process's writer queue for a database file: one per file, shared by its threads
    (the first caller's timeout stands: the app's busy timeout, set as it starts)."""
    return _queues.setdefault(database_path, WriterQueue(database_path, timeout_s))


class Checkpointer:
    """Copies the WAL into the database file beside the writers, and keeps the WAL short.

    SQLite starts the WAL over, instead of appending to it, when a writer finds every frame
    already copied. A checkpoint running beside a steady stream of commits never gets that
    far, so the WAL grew until a commit checkpointed it (wal_autocheckpoint): thousands of
    frames and the fsyncs, while that writer's turn held up every other writer (see
    bench/README.md). Here each pass copies what it can (PASSIVE, no lock
    taken from anyone); once the WAL passes ``restart_frames`` and has grown since the last
    pass, the database file is flushed, and one turn in the writer queue copies the last
    few frames, so the next writer starts the WAL over. That turn lasts a few milliseconds.

    There is no close(): its descriptor of the database file stays open while the process
    lives, since closing any descriptor of the file would drop the locks SQLite holds on it
    in this process (POSIX record locks belong to the process, not to the descriptor).
    """

    def __init__(self, database_path: str, writers: WriterQueue, restart_frames: int = 4000):
        self.writers, self.restart_frames = writers, restart_frames
        self.conn = sqlite3.connect(database_path, isolation_level=None, check_same_thread=False)
        self.database_fd = os.open(database_path, os.O_RDONLY | os.O_CLOEXEC)
        self.last_size = 0
        self.truncate_wanted = f"{database_path}{TRUNCATE_WANTED}"

    def checkpoint(self) -> int:
        """One pass. Returns the WAL's size in frames (copied or not) as SQLite reports it."""
        if os.path.exists(self.truncate_wanted) and truncate(self.conn, self.writers, busy_ms=0):
            os.remove(self.truncate_wanted)
        busy, frames, _copied = self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        # busy: a checkpoint from elsewhere is running. A WAL the size it was at the last pass
        # has had no commit since (nothing to make the next writer's restart wait for), or a
        # reader holds its frames (a turn would not help).
        grown, self.last_size = frames != self.last_size, frames
        if busy or frames < self.restart_frames or not grown:
            return frames
        os.fdatasync(self.database_fd)  # flushed here, the turn's own flush has little left
        self.writers.acquire()
        try:
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            self.writers.release()
        return frames


def truncate(conn: sqlite3.Connection, writers: WriterQueue, busy_ms: int) -> bool:
    """Copy the whole WAL into the database file and truncate it to nothing, in a turn of the
    writer queue (no commit adds frames meanwhile), waiting at most ``busy_ms`` for readers of
    older snapshots; whether it was done (after an erasure: no earlier version of a page is
    left in the WAL)."""
    writers.acquire()
    try:
        kept = conn.execute("PRAGMA busy_timeout").fetchone()[0]
        conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
        try:
            busy, _frames, _copied = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.execute(f"PRAGMA busy_timeout = {kept}")
    finally:
        writers.release()
    return not busy


def checkpoint_in_background(
    database_path: str, timeout_s: float, every_seconds: float = 0.1, stop: threading.Event | None = None
) -> threading.Thread:
    """Checkpoint the WAL from a daemon thread, so that no request's commit pays for it
    (gunicorn.conf.py starts one in each worker). One process at a time does the work: the
    others' threads wait on a lock of a file beside the database, and the next takes over
    when that process exits (or its thread is told to ``stop``). A failing pass, or a lock
    file it cannot open, is logged (once until it fails differently) and tried again."""
    stop = stop or threading.Event()

    def run() -> None:
        leader = _open_or_retry(database_path, "-checkpointer", every_seconds, stop)
        if leader is None:
            return
        try:
            fcntl.flock(leader, fcntl.LOCK_EX)
            checkpointer, failing = None, None
            while not stop.wait(every_seconds):
                try:
                    checkpointer = checkpointer or Checkpointer(database_path, writer_queue(database_path, timeout_s))
                    checkpointer.checkpoint()
                except Exception as error:  # anything: a dead thread would keep the lead and checkpoint no more
                    if repr(error) != failing:
                        log.exception("background checkpoint failed; trying again every %s s", every_seconds)
                    failing = repr(error)
                else:
                    failing = None
        finally:
            os.close(leader)  # the lead passes to a thread waiting in another process

    thread = threading.Thread(target=run, name="wal-checkpoint", daemon=True)
    thread.start()
    return thread


def _open_or_retry(database_path: str, suffix: str, every: float, stop: threading.Event) -> int | None:
    """open_beside, tried again until it opens (a failure logged once) or ``stop`` is set (None)."""
    failing = None
    while True:
        try:
            return open_beside(database_path, suffix)
        except OSError as error:
            if repr(error) != failing:
                log.error("background checkpoint cannot open its lock file: %s; trying again every %s s", error, every)
            failing = repr(error)
        if stop.wait(every):
            return None
