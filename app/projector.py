"""Projections keep the read tables up to date from the event log.

Applying a projection always means: read the events after its checkpoint in
position order, hand each to the projection's handler for that type, and write
the read rows and the new checkpoint in the same transaction. So a projection
that missed events (a crash after a command committed, a handler that raised)
catches up in order and exactly once at the next dispatch or start, and a
failure never leaves a read model half-applied. Projector transactions hold the
write lock, so events from every gunicorn worker are applied one batch at a time,
in position order.
"""

import logging
from collections.abc import Callable, Iterable, Mapping

from app import eventlog
from app.db import Tx, transaction
from app.eventlog import Event, Recorded, utc_now

log = logging.getLogger(__name__)

Handler = Callable[[Tx, Recorded], None]


class Projection:
    """A named read model: the tables it owns and a handler per event type it reacts to."""

    def __init__(self, name: str, tables: Iterable[str], handlers: Mapping[type[Event], Handler]):
        self.name = name
        self.tables = tuple(tables)
        self.handlers = {cls.type_name: handler for cls, handler in handlers.items()}

    def __repr__(self) -> str:
        return f"Projection({self.name!r})"


class HandlerFailed(Exception):
    def __init__(self, event: Recorded):
        super().__init__(event.position)
        self.event = event


class RebuildFailed(RuntimeError):
    """A handler raised while rebuilding; the live read model was left as it was."""


_SAVE_CHECKPOINT = """
INSERT INTO projection_checkpoints (name, position, updated_at) VALUES (:name, :position, :now)
ON CONFLICT (name) DO UPDATE SET
    position = excluded.position, updated_at = excluded.updated_at,
    error_type = NULL, error_message = NULL, error_position = NULL, error_count = 0, failed_at = NULL
"""

_SAVE_FAILURE = """
INSERT INTO projection_checkpoints (name, error_type, error_message, error_position, error_count, failed_at)
VALUES (:name, :type, :message, :position, 1, :now)
ON CONFLICT (name) DO UPDATE SET
    error_count = CASE WHEN error_position = excluded.error_position THEN error_count + 1 ELSE 1 END,
    error_type = excluded.error_type, error_message = excluded.error_message,
    error_position = excluded.error_position, failed_at = excluded.failed_at
"""


class Projector:
    """Applies the event log to every projection; listens to the bus's events_committed."""

    def __init__(self, projections: Iterable[Projection], batch_size: int = 500):
        self.projections = list(projections)
        self.batch_size = batch_size
        names = [p.name for p in self.projections]
        if len(set(names)) != len(names):
            raise ValueError(f"projection names must be unique: {names}")

    def by_name(self, names: Iterable[str] | None) -> list[Projection]:
        """The named projections (all when ``names`` is empty); KeyError names an unknown one."""
        known = {p.name: p for p in self.projections}
        return [known[name] for name in names] if names else list(self.projections)

    def on_events_committed(self, _sender, events: list[Recorded]) -> None:
        """Blinker receiver: bring the read model up to date before the response leaves."""
        self.catch_up_or_log(f"events up to {events[-1].position} committed")

    def catch_up_or_log(self, reason: str) -> None:
        """Catch up, never raising: the commands are already committed, and whatever
        failed here is retried by the next dispatch or at the next start."""
        try:
            self.catch_up()
        except Exception:
            log.exception("projection catch-up (%s) failed; it will be retried", reason)

    def catch_up(self) -> int:
        """Apply all pending events to every projection, batch by batch; returns events read."""
        failed: set[str] = set()
        total = 0
        while True:
            with transaction("projector") as tx:
                read = self._apply_batch(tx, self.projections, failed)
            total += read
            if read < self.batch_size:
                return total

    def rebuild(self, names: Iterable[str] | None = None) -> int:
        """Throw the chosen read models away and replay the whole log into them.

        It runs in one transaction: queries keep reading the old rows until the
        rebuilt ones replace them at commit; a failing handler rolls it all back.
        """
        chosen = self.by_name(names)
        failed: set[str] = set()
        total = 0
        with transaction("projector") as tx:
            for projection in chosen:
                for table in projection.tables:
                    tx.execute(f"DELETE FROM {table}")  # noqa: S608 -- names come from code
                tx.execute(
                    "INSERT OR REPLACE INTO projection_checkpoints (name, position) VALUES (:name, 0)",
                    name=projection.name,
                )
            while (read := self._apply_batch(tx, chosen, failed)) and not failed:
                total += read
            if failed:
                raise RebuildFailed(f"rebuild stopped: {sorted(failed)} failed; see projection_checkpoints")
        return total

    def _apply_batch(self, tx: Tx, projections: list[Projection], failed: set[str]) -> int:
        """Apply the next batch of events to each projection not yet failed; returns events read."""
        saved = dict(tx.all("SELECT name, position FROM projection_checkpoints"))
        checkpoints = {p.name: saved.get(p.name, 0) for p in projections if p.name not in failed}
        if not checkpoints:
            return 0
        events = eventlog.read_after(tx, min(checkpoints.values()), self.batch_size)
        for projection in projections:
            if projection.name not in checkpoints:
                continue
            pending = [e for e in events if e.position > checkpoints[projection.name]]
            if pending and not self._advance(tx, projection, pending):
                failed.add(projection.name)
        return len(events)

    def _advance(self, tx: Tx, projection: Projection, events: list[Recorded]) -> bool:
        """Apply events and move the checkpoint, all or nothing; on failure keep the good prefix."""
        try:
            with tx.connection.begin_nested():
                _apply(tx, projection, events)
            return True
        except HandlerFailed as failure:
            bad = failure.event
            cause = failure.__cause__
        log.error(
            "projection %s failed on event %s (%s)", projection.name, bad.position, bad.type, exc_info=cause
        )
        before = [e for e in events if e.position < bad.position]
        if before:
            with tx.connection.begin_nested():
                _apply(tx, projection, before)
        tx.execute(
            _SAVE_FAILURE,
            name=projection.name,
            type=type(cause).__name__,
            message=str(cause)[:500],
            position=bad.position,
            now=utc_now(),
        )
        return False


def _apply(tx: Tx, projection: Projection, events: list[Recorded]) -> None:
    for event in events:
        handler = projection.handlers.get(event.type)
        if handler is not None:
            try:
                handler(tx, event)
            except Exception as exc:
                raise HandlerFailed(event) from exc
    tx.execute(_SAVE_CHECKPOINT, name=projection.name, position=events[-1].position, now=utc_now())
