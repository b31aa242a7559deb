"""Projections keep the read tables up to date from the event log.

Applying a projection always means: read the events after its checkpoint in
position order, hand each to the projection's handler for that type, and write
the read rows and the new checkpoint in the same transaction. So a projection
that missed events (a crash after a command committed, a handler that raised)
catches up in order and exactly once at the next dispatch or start, and a
failure never leaves a read model half-applied. Projector transactions hold the
write lock, so events from every gunicorn worker are applied one batch at a time,
in position order.

A projection whose handler raises stops at the event before (a poison event),
records the error, and is retried with exponential backoff; the others go on.
An operator can fix the code and catch up, or skip the event on record.
"""

import functools
import logging
from collections.abc import Callable, Iterable, Mapping

from app import eventlog
from app.db import Tx, engine, transaction
from app.event_sources import Feed, LocalLog
from app.eventlog import Event, Recorded, UnreadableEvent
from app.feed import announce
from app.failures import last_error, record_failure
from app.sql_lists import named
from app.times import utc_now

log = logging.getLogger(__name__)

Handler = Callable[[Tx, Recorded], None]
Progress = Callable[[int, int], None]  # (events applied so far, events to apply in all)


class Projection:
    """A named read model: the tables it owns and a handler per event type it reacts to
    (or ``every_event``, called for events of every type).

    ``version`` goes up whenever what the handlers write changes (a column, a document's
    shape, a rule): the next start rebuilds the read model with its tables made anew from
    the baseline (app/rebuild.py), while queries keep reading the old one."""

    def __init__(
        self,
        name: str,
        tables: Iterable[str],
        handlers: Mapping[type[Event], Handler] | None = None,
        every_event: Handler | None = None,
        version: int = 1,
    ):
        self.name = name
        self.version = version
        self.tables = tuple(tables)
        self.handlers = {
            stored: handler for cls, handler in (handlers or {}).items() for stored in eventlog.names_of(cls)
        }
        self.every_event = every_event

    def handler_for(self, event_type: str) -> Handler | None:
        return self.every_event or self.handlers.get(event_type)

    def event_types(self) -> frozenset[str] | None:
        """The event types it reacts to; None when it reacts to every event."""
        return None if self.every_event else frozenset(self.handlers)

    def __repr__(self) -> str:
        return f"Projection({self.name!r})"


class HandlerFailed(Exception):
    def __init__(self, event: Recorded):
        super().__init__(event.position)
        self.event = event


class SkipRefused(ValueError):
    """Only the event a projection is stuck on can be skipped."""


# One statement for any number of projections: executemany would bind and step once per name.
_SAVE_CHECKPOINTS = """
INSERT INTO projection_checkpoints (name, position, updated_at) VALUES {rows}
ON CONFLICT (name) DO UPDATE SET
    position = excluded.position, updated_at = excluded.updated_at, error_type = NULL,
    error_message = NULL, error_position = NULL, error_count = 0, failed_at = NULL, retry_at = NULL
"""


@functools.lru_cache(maxsize=64)
def _save_checkpoints_sql(count: int) -> str:
    return _SAVE_CHECKPOINTS.format(rows=", ".join(f"(:name{n}, :position, :now)" for n in range(count)))


def save_checkpoints(tx: Tx, names: Iterable[str], position: int) -> None:
    """Move these projections' checkpoints to ``position``, clearing any failure on record."""
    params = named(names, "name")
    if params:
        tx.execute(_save_checkpoints_sql(len(params)), **params, position=position, now=utc_now())


class Projector:
    """Applies the event log to every projection; listens to the bus's events_committed."""

    def __init__(
        self,
        projections: Iterable[Projection],
        batch_size: int = 500,
        retry_seconds: float = 1.0,
        source: LocalLog | Feed | None = None,
    ):
        self.projections = list(projections)
        self.batch_size = batch_size
        self.retry_seconds = retry_seconds
        self.source = source or LocalLog()  # where the events come from (app/event_sources.py)
        names = [p.name for p in self.projections]
        if len(set(names)) != len(names):
            raise ValueError(f"projection names must be unique: {names}")

    def by_name(self, names: Iterable[str] | None) -> list[Projection]:
        """The named projections (all when ``names`` is empty); KeyError names an unknown one."""
        known = {p.name: p for p in self.projections}
        names = list(names or [])
        return [known[name] for name in names] if names else list(self.projections)

    def on_events_recorded(self, _sender, uow) -> None:
        """Blinker receiver, inside a command's transaction (which holds the write lock) just
        before it commits: apply the pending events there, so that the read model commits
        with the command, in one commit instead of two. Never raises: whatever fails here
        is undone, the command commits all the same, and the catch-up after it takes over."""
        try:
            with uow.savepoint(), uow.acting_as("projector") as tx:
                read = self._apply_batch(tx, self.projections, set(), force=False, recent=uow.recorded)
        except Exception:
            log.exception("projecting events up to %s with their command failed", uow.recorded[-1].position)
            return
        uow.projected = read < self.batch_size  # else a backlog is left for the catch-up

    def on_events_committed(self, _sender, events: list[Recorded], projected: bool = False) -> None:
        """Blinker receiver: bring the read model up to date before the response leaves."""
        if not projected:
            self.catch_up_or_log(f"events up to {events[-1].position} committed")

    def catch_up_or_log(self, reason: str, force: bool = False) -> None:
        """Catch up, never raising: the commands are already committed, and whatever
        failed here is retried by the next dispatch or at the next start."""
        try:
            self.catch_up(force=force)
        except Exception:
            log.exception("projection catch-up (%s) failed; it will be retried", reason)

    def catch_up(self, force: bool = False) -> int:
        """Apply all pending events to every projection, batch by batch; returns events read.

        A failing projection is passed over until its next retry is due, unless ``force``.
        """
        failed: set[str] = set()
        total = 0
        while True:
            with transaction("projector") as tx:
                read = self._apply_batch(tx, self.projections, failed, force)
            total += read
            if read < self.batch_size:
                return total

    def follow(self, wait: float) -> int:
        """A following query service's step: the source's next page after the checkpoints,
        waiting up to ``wait`` seconds for one, then applied in one transaction (the page is
        read outside it: no lock is held while the source is slow). Returns events applied;
        SourceError if the source could not be read."""
        with transaction("projector", read_only=True) as tx:
            checkpoints = self._checkpoints(tx, self.projections, set(), force=False)
        if not checkpoints:
            return 0
        after = min(checkpoints.values())
        events = self.source.read_after(None, after, self.batch_size, wait=wait)
        erasing = eventlog.erasing_types()
        with transaction("projector") as tx:
            self.source.contacted(tx)
            read = self._apply_batch(tx, self.projections, set(), False, fetched=(after, events)) if events else 0
            if read:
                announce(tx, events[-1].position)  # to those waiting on this service's own feed
        if read and not erasing.isdisjoint(event.type for event in events):
            _forget_old_versions()  # as the source did: no page of the erased person left in the WAL
        return read

    def _checkpoints(self, tx: Tx, projections: list[Projection], failed: set[str], force: bool) -> dict[str, int]:
        """The checkpoint of each projection not failed here nor waiting for its retry."""
        now = utc_now()
        saved = {row.name: row for row in tx.all("SELECT name, position, retry_at FROM projection_checkpoints")}
        waiting = {name for name, row in saved.items() if not force and row.retry_at and row.retry_at > now}
        return {
            p.name: saved[p.name].position if p.name in saved else 0
            for p in projections
            if p.name not in failed | waiting
        }

    def _apply_batch(
        self,
        tx: Tx,
        projections: list[Projection],
        failed: set[str],
        force: bool,
        recent: list[Recorded] = (),
        fetched: tuple[int, list[Recorded]] | None = None,
    ) -> int:
        """Apply the next batch of events to each projection not failed or waiting; returns events read.

        ``recent``: the newest events of the log, appended in this transaction; when they are
        exactly the batch to apply, they are not read back. ``fetched``: (after, the events
        after it) read from the source already; applied only if the checkpoints still start
        there (else another process has moved them: nothing is applied)."""
        checkpoints = self._checkpoints(tx, projections, failed, force)
        if not checkpoints:
            return 0
        after = min(checkpoints.values())
        if fetched is not None:
            if fetched[0] != after:
                return 0
            events = fetched[1]
        elif recent and recent[0].position == after + 1 and len(recent) <= self.batch_size:
            events = recent
        else:
            events = self.source.read_after(tx, after, self.batch_size)
        due = [
            (p, [e for e in events if e.position > checkpoints[p.name]]) for p in projections if p.name in checkpoints
        ]
        due = [(projection, pending) for projection, pending in due if pending]
        if due and not self._advance_all(tx, due, events[-1].position):
            for projection, pending in due:
                if not self._advance(tx, projection, pending):
                    failed.add(projection.name)
        return len(events)

    def _advance_all(self, tx: Tx, due: list[tuple[Projection, list[Recorded]]], position: int) -> bool:
        """The usual case in one savepoint: every projection applies its events, and every
        checkpoint moves to ``position`` (the batch's last event) in one statement. If any
        handler raises, nothing is kept and it returns False, so that ``_advance`` can
        isolate the failure projection by projection."""
        try:
            with tx.savepoint():
                for projection, pending in due:
                    apply_events(tx, projection, pending)
                save_checkpoints(tx, [projection.name for projection, _ in due], position)
            return True
        except HandlerFailed:
            return False

    def _advance(self, tx: Tx, projection: Projection, events: list[Recorded]) -> bool:
        """Apply events and move the checkpoint, all or nothing; on failure keep the good prefix."""
        try:
            with tx.savepoint():
                apply_events(tx, projection, events)
                save_checkpoints(tx, [projection.name], events[-1].position)
            return True
        except HandlerFailed as failure:
            bad, cause = failure.event, failure.__cause__
        log.error("projection %s failed on event %s (%s)", projection.name, bad.position, bad.type, exc_info=cause)
        before = [e for e in events if e.position < bad.position]
        if before:
            with tx.savepoint():
                apply_events(tx, projection, before)
                save_checkpoints(tx, [projection.name], before[-1].position)
        record_failure(tx, "projection_checkpoints", projection.name, bad.position, cause, self.retry_seconds)
        return False

    def skip(self, name: str, position: int, reason: str, skipped_by: str) -> None:
        """Pass over the event a failing projection is stuck on, on record; then catch up."""
        (projection,) = self.by_name([name])
        with transaction("projector") as tx:
            stuck = tx.scalar(
                "SELECT error_position FROM projection_checkpoints WHERE name = :name", name=projection.name
            )
            if stuck != position:
                raise SkipRefused(f"{name} is stuck on {stuck or 'no event'}, not on {position}")
            tx.execute(
                "INSERT INTO projection_skips (name, position, reason, skipped_by, skipped_at)"
                " VALUES (:name, :position, :reason, :by, :now)",
                name=name,
                position=position,
                reason=reason,
                by=skipped_by,
                now=utc_now(),
            )
            save_checkpoints(tx, [name], position)
        self.catch_up(force=True)

    def rebuild(self, names: Iterable[str] | None = None, progress: Progress | None = None) -> int:
        """Replay the whole log into fresh copies of the chosen read models, then swap them
        in (see app/rebuild.py); returns the events replayed."""
        from app.rebuild import rebuild  # it builds on this module

        return rebuild(self, self.by_name(names), progress)

    def source_problem(self) -> str | None:
        """Why a following query service is not following its source now (None when it is,
        and always for a service that projects its own log)."""
        if isinstance(self.source, LocalLog):
            return None
        with transaction("projector", read_only=True) as tx:
            return self.source.problem(tx)

    def status(self) -> list[dict]:
        """Each projection's checkpoint, lag behind the log's head, state and last error.

        A query-only process (on a standby, say) cannot read the log: its head is the most
        advanced checkpoint, and a rebuild on record is taken as running (the lock that would
        tell is the primary's)."""
        query_only = engine().query_only
        with transaction("query" if query_only else "projector", read_only=True) as tx:
            rows = {row.name: row for row in tx.all("SELECT * FROM projection_checkpoints")}
            furthest = max((row.position for row in rows.values()), default=0)
            head = furthest if query_only else max(furthest, self.source.head(tx))
            rebuilds = {row.name: row for row in tx.all("SELECT * FROM projection_rebuilds")}
            skips = {row.name: row for row in tx.all("SELECT * FROM projection_skips ORDER BY skipped_at")}
        if rebuilds and not query_only and not engine().rebuild_running():
            rebuilds = {}  # left by a rebuild killed partway (app.rebuild): none is running
        return [
            _status_of(p.name, head, rows.get(p.name), rebuilds.get(p.name), skips.get(p.name))
            for p in self.projections
        ]


def _status_of(name: str, head: int, row, rebuild, skip) -> dict:
    checkpoint = row.position if row else 0
    if rebuild:
        state = "rebuilding"
    elif row and row.error_count:
        state = "failing"
    else:
        state = "live" if checkpoint >= head else "catching_up"
    return {
        "name": name,
        "state": state,
        "checkpoint": checkpoint,
        "head": head,
        "lag": head - checkpoint,
        "last_advanced_at": row.updated_at if row else None,
        "last_error": last_error(row),
        "rebuild": {"position": rebuild.position, "head": rebuild.head, "started_at": rebuild.started_at}
        if rebuild
        else None,
        "last_skip": {"position": skip.position, "reason": skip.reason, "by": skip.skipped_by, "at": skip.skipped_at}
        if skip
        else None,
    }


def _forget_old_versions() -> None:
    try:
        engine().forget_old_versions()
    except Exception:  # applied and committed: the next checkpoint does the same, later
        log.exception("could not checkpoint the WAL after an erasure")


def apply_events(tx: Tx, projection: Projection, events: list[Recorded]) -> None:
    """Hand each event to the projection's handler for its type, in order (live and rebuild
    alike); HandlerFailed names the event whose handler raised."""
    handlers, every_event = projection.handlers, projection.every_event
    for event in events:
        try:  # written by newer code, or another service's: never passed over unseen
            eventlog.check_readable(event.type, event.schema_version)
        except UnreadableEvent as unreadable:
            raise HandlerFailed(event) from unreadable
        handler = every_event or handlers.get(event.type)
        if handler is not None:
            try:
                handler(tx, event)
            except Exception as exc:
                raise HandlerFailed(event) from exc
