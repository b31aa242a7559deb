"""Process managers react to events by executing commands: followers of the log, like
projections, but on the command side of the wall.

A process manager is a name and a reaction per event type; a reaction gets the bus's unit
of work and the event, and executes commands (``app.bus.execute``), which append their
events as any command does. The runner keeps each manager's checkpoint in a write table
(``process_checkpoints``) and, for each event the manager reacts to, in ONE transaction:
opens a unit of work whose causation id is that event's id, reads the checkpoint, runs the
reaction, and moves the checkpoint past the event. Hence:

- a crash anywhere before that commit keeps neither the commands' effects nor the moved
  checkpoint: the next run (the next command, or the next start) reacts to the event again;
- once it has committed, the checkpoint is past the event: a replay never reacts twice;
- two workers racing for one event queue on the write lock; the second finds the
  checkpoint moved and looks again.

The events a manager does not react to are found without the write lock (a read of the
log after the checkpoint, filtered by type); the checkpoint moves over them only now and
then (PASS_OVER_EVERY events, or at start). A process skips even that read after a commit
whose events no manager reacts to, unless its last run left a failure to retry or
PASS_OVER_EVERY events went by: most commands cost the managers nothing.

A reaction that raises is rolled back, logged and recorded (error, position, retries) and
retried with exponential backoff at later commands and at every start; it never fails the
command whose events triggered it, which has committed already.
"""

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar

from flask import Flask, current_app

from app.bus import UnitOfWork, bus
from app.db import Tx, engine, transaction
from app.eventlog import Event, Recorded, head, names_of, read_after
from app.failures import last_error, record_failure
from app.sql_lists import in_list, named
from app.times import utc_now

log = logging.getLogger(__name__)

Reaction = Callable[[UnitOfWork, Recorded], None]
PASS_OVER_EVERY = 100  # events without a reaction that may pile up before the checkpoint moves over them


class ProcessManager:
    """A named reaction to events: for each event type, a function that executes commands."""

    def __init__(self, name: str, reactions: Mapping[type[Event], Reaction]):
        self.name = name
        self.reactions = {stored: reaction for cls, reaction in reactions.items() for stored in names_of(cls)}

    def __repr__(self) -> str:
        return f"ProcessManager({self.name!r})"


_SAVE_CHECKPOINT = """
INSERT INTO process_checkpoints (name, position, updated_at) VALUES (:name, :position, :now)
ON CONFLICT (name) DO UPDATE SET
    position = excluded.position, updated_at = excluded.updated_at, error_type = NULL,
    error_message = NULL, error_position = NULL, error_count = 0, failed_at = NULL, retry_at = NULL
"""

# The events a manager reacts to among the next PENDING_COUNTED_WITHIN after its checkpoint:
# the log has no index by type, and a manager stuck for long must not make each scrape of
# the status scan all that came after it.
PENDING_COUNTED_WITHIN = 100_000
_COUNT_PENDING = """
SELECT count(*) FROM (SELECT type FROM events WHERE position > :position ORDER BY position LIMIT :within) AS recent
WHERE type IN ({types})
"""

# Set while this context runs the managers: the commands a reaction executes publish their
# events too, and the run in progress goes on to those itself instead of starting another.
_running: ContextVar[bool] = ContextVar("process_managers_running", default=False)


class ProcessManagers:
    """Runs every process manager after each commit and at start; listens to the bus's events_committed."""

    def __init__(self, managers: Iterable[ProcessManager], retry_seconds: float = 1.0):
        self.managers = list(managers)
        self.retry_seconds = retry_seconds
        names = [m.name for m in self.managers]
        if len(set(names)) != len(names):
            raise ValueError(f"process manager names must be unique: {names}")
        self.reaction_types = frozenset(t for manager in self.managers for t in manager.reactions)
        self._unseen = 0  # events committed in this process since the managers last ran here
        self._settled = False  # whether that run left nothing to retry
        self.reactions_run = 0  # by this process, since it started

    def on_events_committed(self, _sender, events: list[Recorded], **_) -> None:
        """Blinker receiver: react to the new events before the response leaves (when a run can find any)."""
        self._unseen += len(events)
        if self._settled and self._unseen < PASS_OVER_EVERY and self.reaction_types.isdisjoint(e.type for e in events):
            return
        self.run_or_log(f"events up to {events[-1].position} committed")

    def run_or_log(self, reason: str, force: bool = False) -> None:
        """Run every manager, never raising (the triggering commands have committed already);
        a process serving only queries executes no commands, so it runs none."""
        if current_app.config["APP_ROLE"] == "query":
            return
        try:
            self.run(force=force)
        except Exception:
            self._settled = False
            log.exception("process managers (%s) failed; they will be retried", reason)

    def run(self, force: bool = False) -> int:
        """React to every pending event, manager by manager; returns the reactions run
        (0 when called from within a run, which goes on to the new events itself).

        A failing manager is passed over until its next retry is due, unless ``force``.
        """
        if _running.get():
            return 0
        token = _running.set(True)
        try:
            self._unseen, self._settled = 0, True
            return sum(self._follow(manager, force) for manager in self.managers)
        finally:
            _running.reset(token)

    def _follow(self, manager: ProcessManager, force: bool) -> int:
        reactions = 0
        while True:
            with transaction("command", read_only=True) as tx:
                position, waiting = self._checkpoint(tx, manager.name)
                if waiting and not force:
                    self._settled = False
                    return reactions
                event = self._next_reaction(tx, manager, position)
                newest = head(tx)
            if event is None:
                if newest - position >= (1 if force else PASS_OVER_EVERY):
                    self._pass_over(manager, position, newest)
                return reactions
            try:
                reacted = self._react(manager, event, position)
                reactions += reacted
                self.reactions_run += reacted
            except Exception as exc:
                log.exception("process manager %s failed on event %s (%s)", manager.name, event.position, event.type)
                self._record_failure(manager, event, exc)
                self._settled = False
                return reactions

    def _checkpoint(self, tx: Tx, name: str) -> tuple[int, bool]:
        """The manager's position, and whether it is waiting to retry a failure."""
        row = tx.first("SELECT position, retry_at FROM process_checkpoints WHERE name = :name", name=name)
        if row is None:
            return 0, False
        return row.position, bool(row.retry_at and row.retry_at > utc_now())

    def _next_reaction(self, tx: Tx, manager: ProcessManager, position: int) -> Recorded | None:
        """The first event after ``position`` that the manager reacts to."""
        found = read_after(tx, position, 1, types=manager.reactions)
        return found[0] if found else None

    def _react(self, manager: ProcessManager, event: Recorded, seen_at: int) -> int:
        """React to ``event`` and move the checkpoint to it, in one unit of work; 0 (and no
        change) if another process moved the checkpoint since ``seen_at``."""
        with bus().unit_of_work(causation_id=event.event_id) as uow:
            # The events it appends belong to the request that appended their cause.
            uow.correlation_id = event.correlation_id
            position, _ = self._checkpoint(uow, manager.name)
            if position != seen_at:
                return 0
            manager.reactions[event.type](uow, event)
            uow.execute(_SAVE_CHECKPOINT, name=manager.name, position=event.position, now=utc_now())
        return 1

    def _pass_over(self, manager: ProcessManager, seen_at: int, newest: int) -> None:
        """Move the checkpoint over events the manager does not react to (up to ``newest``)."""
        with transaction("command") as tx:
            position, _ = self._checkpoint(tx, manager.name)
            if position == seen_at:
                tx.execute(_SAVE_CHECKPOINT, name=manager.name, position=newest, now=utc_now())

    def _record_failure(self, manager: ProcessManager, event: Recorded, exc: Exception) -> None:
        """Note the failure at ``event`` and when to retry it: the backoff doubles per failure there."""
        with transaction("command") as tx:
            record_failure(tx, "process_checkpoints", manager.name, event.position, exc, self.retry_seconds)

    def status(self) -> list[dict]:
        """Each manager's checkpoint, the events it has yet to react to, and its last error."""
        with transaction("command", read_only=True) as tx:
            newest = head(tx)
            rows = {row.name: row for row in tx.all("SELECT * FROM process_checkpoints")}
            return [self._status_of(tx, manager, rows.get(manager.name), newest) for manager in self.managers]

    def _status_of(self, tx: Tx, manager: ProcessManager, row, newest: int) -> dict:
        checkpoint = row.position if row else 0
        types = named(manager.reactions, "t")
        sql = _COUNT_PENDING.format(types=in_list(types))
        pending = tx.scalar(sql, position=checkpoint, within=PENDING_COUNTED_WITHIN, **types)
        error = last_error(row)
        caught_up = pending == 0 and newest - checkpoint <= PENDING_COUNTED_WITHIN
        return {
            "name": manager.name,
            "state": "failing" if error else "live" if caught_up else "catching_up",
            "checkpoint": checkpoint,
            "head": newest,
            "pending": pending,
            "last_error": error,
        }


def sweep_in_background(app: Flask, every_seconds: float, stop: threading.Event | None = None) -> threading.Thread:
    """Run the process managers every ``every_seconds`` from a thread of this process while it
    holds their lead (one process of all command hosts: Engine.lead; another takes it over
    when it dies), until ``stop`` is set. The runs after each commit react at once; the sweep
    takes up what a process that died between its commit and its run left, and the retries
    of failed reactions, even when no command comes. Exactly once all the same: a reaction
    moves its manager's checkpoint in its own transaction."""
    stop = stop or threading.Event()

    def sweep() -> None:
        with app.app_context():
            lead, trouble = engine().lead("process-managers"), False
            while not stop.wait(every_seconds):
                try:
                    if lead.held():
                        app.extensions["process_managers"].run_or_log("sweep")
                    trouble = False
                except Exception:  # the database away: try again at the next sweep, saying so once
                    if not trouble:
                        log.warning("the process managers' sweep cannot reach the database", exc_info=True)
                    trouble = True
            lead.release()

    thread = threading.Thread(target=sweep, name="process-manager-sweep", daemon=True)
    thread.start()
    return thread
