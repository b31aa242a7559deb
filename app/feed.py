"""Waiting for the event feed: ``GET /events?wait=`` returns once events after its position exist.

A commit is announced two ways, both only hints: on PostgreSQL the command's transaction
sends ``NOTIFY cqrs_events`` (delivered at commit, to every process listening), and in the
process that committed, ``events_committed`` wakes its own waiters at once. A waiting
request re-reads the feed in a fresh query transaction each time it wakes, so a hint lost,
doubled or early changes nothing but when it answers.

Each process has one waiter per app. On PostgreSQL it starts a listener thread with the
first wait, on a connection of its own (LISTEN cannot share the pooled connections); while
it listens, waits sleep until a hint comes. Where it cannot listen (a standby refuses LISTEN
during recovery; a lost connection, until it is back) and on SQLite, waits poll, 20 ms after
the first read and then twice as long each time, up to 100 ms (a read of the feed costs
less than the lag a longer sleep would add to a follower at the start of a burst).
"""

import logging
import threading
import time
from collections.abc import Callable

import psycopg
from flask import Flask, current_app

from app.bus import events_committed, events_recorded
from app.engines.postgresql import libpq_url

log = logging.getLogger(__name__)

CHANNEL = "cqrs_events"
FIRST_POLL, LAST_POLL = 0.02, 0.1
#: While listening, a read even without a hint: events the projector catches up later
#: (after a failure inside a command's transaction, or a rebuild) are announced by no NOTIFY.
RECHECK = 5.0
#: The longest a waiting request sleeps at once: it then checks for a stop and calls the heartbeat.
TICK = 1.0
RELISTEN_FIRST, RELISTEN_LAST = 1.0, 60.0

_stopping = False


def init_app(app: Flask) -> None:
    """Give the app its waiter, and announce each command's events on PostgreSQL at commit.
    After db.init_app: the waiter asks which engine the app runs on."""
    app.extensions["feed"] = Waiter(app)
    events_recorded.connect(_notify, sender=app)  # weak: goes with its app
    events_committed.connect(_hint, sender=app)


def stop_waiting() -> None:
    """The process is stopping: every wait ends at its next tick (within TICK), with what it has.
    Only sets a flag, so a signal handler may call it."""
    global _stopping
    _stopping = True


def wait(read: Callable[[], list], seconds: float) -> list:
    """``read()`` again until it returns rows, ``seconds`` pass or the process stops; its last rows."""
    return current_app.extensions["feed"].wait(read, seconds)


def _notify(app: Flask, uow) -> None:
    """Inside the command's transaction: PostgreSQL sends it to the listeners when it commits."""
    announce(uow, uow.recorded[-1].position)


def announce(tx, position: int) -> None:
    """Inside a transaction that makes events up to ``position`` readable in the feed (a
    command's, or a following service's page): on PostgreSQL, wake the listeners at commit."""
    if tx.engine.name == "postgresql":
        tx.execute("SELECT pg_notify(:channel, :position)", channel=CHANNEL, position=str(position))


def _hint(app: Flask, events, projected: bool) -> None:
    app.extensions["feed"].hint()


class Waiter:
    """One process's waits for one app: a condition that hints wake, and on PostgreSQL a listener."""

    def __init__(self, app: Flask):
        config = app.config
        on_postgresql = app.extensions["engine"].name == "postgresql"
        # None on SQLite, which has no LISTEN: waits poll.
        self.url = libpq_url(config["QUERY_DATABASE_URL"] or config["DATABASE_URL"]) if on_postgresql else None
        self.condition = threading.Condition()
        self.hints = 0  # bumped by every hint; a wait that sees it move reads again
        self.listening = False
        self.waiting = 0
        self.heartbeat: Callable[[], None] | None = None  # a sync gunicorn worker's notify
        self._listener: threading.Thread | None = None
        self._closed = threading.Event()

    def hint(self, listening: bool | None = None) -> None:
        """Events may have been committed: wake every wait to read again."""
        with self.condition:
            self.hints += 1
            if listening is not None:
                self.listening = listening
            self.condition.notify_all()

    def wait(self, read: Callable[[], list], seconds: float) -> list:
        """See ``wait``; reads at least once."""
        deadline, poll = time.monotonic() + seconds, FIRST_POLL
        with self.condition:
            self.waiting += 1
        try:
            while True:
                with self.condition:
                    seen, listening = self.hints, self.listening
                rows = read()  # after taking ``seen``: a commit hinted after it is read again
                if rows or _stopping or time.monotonic() >= deadline:
                    return rows
                self._start_listening()
                until = min(deadline, time.monotonic() + (RECHECK if listening else poll))
                self._sleep(seen, listening, until)
                poll = FIRST_POLL if listening else min(2 * poll, LAST_POLL)
        finally:
            with self.condition:
                self.waiting -= 1

    def _sleep(self, seen: int, listening: bool, until: float) -> None:
        """Until a hint after ``seen``, a change of ``listening``, ``until``, or a stop."""
        while not _stopping:
            with self.condition:
                now = time.monotonic()
                if self.hints != seen or self.listening != listening or now >= until:
                    return
                self.condition.wait(min(until - now, TICK))
            if self.heartbeat is not None:
                self.heartbeat()

    def close(self) -> None:
        """Stop the listener (its connection closes within a second)."""
        self._closed.set()
        if self._listener is not None:
            self._listener.join()

    def _start_listening(self) -> None:
        if self.url is None or (self._listener is not None and self._listener.is_alive()):
            return
        with self.condition:
            if self._listener is None or not self._listener.is_alive():  # none yet, or not in this fork
                self._listener = threading.Thread(target=self._listen, name="feed-listener", daemon=True)
                self._listener.start()

    def _listen(self) -> None:
        """LISTEN, and hint each notification; when LISTEN is refused or the connection is
        lost, let waits poll and try again after 1 s, then twice as long each time, up to a minute."""
        retry = RELISTEN_FIRST
        while not self._closed.is_set():
            try:
                # TCP keepalives: a connection cut without a word is found out within a minute.
                keepalives = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
                with psycopg.connect(self.url, autocommit=True, application_name="cqrs-feed", **keepalives) as conn:
                    # The query role's rights and no more, as the pooled query connections have.
                    conn.execute("SET ROLE cqrs_query; SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.hint(listening=True)  # what committed before LISTEN is read again
                    log.info("The feed listens for commits")
                    retry = RELISTEN_FIRST
                    while not self._closed.is_set():
                        for _ in conn.notifies(timeout=TICK):
                            self.hint()
            except psycopg.Error as error:
                if self._closed.is_set():
                    break
                if self.listening or retry == RELISTEN_FIRST:
                    log.warning("The feed polls: cannot LISTEN (%s)", str(error).strip().splitlines()[0])
            self.hint(listening=False)
            self._closed.wait(retry)
            retry = min(2 * retry, RELISTEN_LAST)
