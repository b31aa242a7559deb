"""Rebuilding read models: replay the whole log into fresh copies, then swap them in.

The copies fill in a scratch SQLite file attached beside the database, in
transactions that only read the main file: queries keep answering from the live
tables and commands keep committing meanwhile. The last events, the copy into
the live tables and the checkpoint then commit in one transaction holding the
write lock: readers see the old read model or the new one, never a mix. A handler
that raises fails the rebuild and leaves the live read model as it was.
"""

import os
import re
import time

from flask import current_app

from app import eventlog
from app.db import Tx, connection, transaction, transaction_on
from app.eventlog import Recorded, utc_now
from app.projector import SAVE_CHECKPOINT, HandlerFailed, Progress, Projection, Projector, apply_events

REBUILD_CACHE_KIB = 256 * 1024  # page cache of a rebuild's scratch file, at most
BATCH = 5000  # events per scratch transaction, at least: each costs a commit


class RebuildFailed(RuntimeError):
    """A handler raised while rebuilding; the live read model was left as it was."""


def rebuild(projector: Projector, projections: list[Projection], progress: Progress | None = None) -> int:
    """Rebuild ``projector``'s ``projections`` from the whole log, in one pass for all; returns the events read.

    RebuildFailed if a handler raises (the live read model is then unchanged).
    """
    scratch = f"{current_app.config['DATABASE_PATH']}.rebuild-{os.getpid()}"
    _remove(scratch)
    try:
        with connection("projector") as raw:
            raw.execute("ATTACH DATABASE ? AS shadow", (scratch,))
            try:
                raw.execute("PRAGMA shadow.journal_mode = MEMORY")  # a scratch file: no fsyncs
                raw.execute("PRAGMA shadow.synchronous = OFF")
                # Rows arrive in event order, not key order: keep the copies' pages in memory.
                raw.execute(f"PRAGMA shadow.cache_size = {-REBUILD_CACHE_KIB}")
                return _fill_and_swap(raw, projections, max(BATCH, projector.batch_size), progress)
            finally:
                raw.execute("DETACH DATABASE shadow")
    finally:
        _remove(scratch)
        with transaction("projector") as tx:
            tx.execute_many("DELETE FROM projection_rebuilds WHERE name = :name", [{"name": p.name} for p in projections])


def _fill_and_swap(raw, projections: list[Projection], batch: int, progress: Progress | None) -> int:
    tables = [table for projection in projections for table in projection.tables]
    shadow = _Renamed(raw, {table: f"shadow.{table}" for table in tables})
    with transaction_on(raw, immediate=False) as tx:
        head = eventlog.head(tx)
        for table in tables:
            ddl = tx.scalar("SELECT sql FROM main.sqlite_schema WHERE type = 'table' AND name = :n", n=table)
            tx.execute(re.sub(rf"\b{re.escape(table)}\b", f"shadow.{table}", ddl, count=1))
    _record_rebuild(projections, 0, head)
    types = _handled(projections)  # replay only what they handle: the rest would change nothing
    position, done, reported = 0, 0, time.monotonic()
    while True:
        with transaction_on(raw, immediate=False) as tx:  # reads main, writes only the scratch file
            events = eventlog.read_after(tx, position, batch, types)
            _apply_all(shadow, projections, events)
        if events:
            position, done = events[-1].position, done + len(events)
        if progress:
            progress(position if len(events) == batch else head, max(head, position))
        if time.monotonic() - reported > 1:
            reported = time.monotonic()
            _record_rebuild(projections, position, head)
        if len(events) < batch:
            break
    with transaction_on(raw, immediate=True) as tx:  # no new events from here to the commit
        while events := eventlog.read_after(tx, position, batch, types):
            _apply_all(shadow, projections, events)
            position, done = events[-1].position, done + len(events)
        position = max(position, eventlog.head(tx))  # every later event is of a type they ignore
        for table in tables:
            _replace_with_shadow(tx, table)
        now = utc_now()
        tx.execute_many(SAVE_CHECKPOINT, [{"name": p.name, "position": position, "now": now} for p in projections])
    if progress:
        progress(done, done)
    return done


def _handled(projections: list[Projection]) -> frozenset[str] | None:
    """The event types any of them handles; None when one handles every event."""
    types = [projection.event_types() for projection in projections]
    return None if None in types else frozenset().union(*types)


def _apply_all(tx: Tx, projections: list[Projection], events: list[Recorded]) -> None:
    """Each projection applies the batch in turn, as a catch-up does (each keeps its own tables)."""
    present = {event.type for event in events}
    for projection in projections:
        types = projection.event_types()
        if types is not None and types.isdisjoint(present):
            continue
        try:
            apply_events(tx, projection, events)
        except HandlerFailed as failure:
            raise RebuildFailed(
                f"{projection.name}: event {failure.event.position} ({failure.event.type}) failed:"
                f" {failure.__cause__!r}; the live read model is unchanged"
            ) from failure.__cause__


def _record_rebuild(projections: list[Projection], position: int, head: int) -> None:
    with transaction("projector") as tx:
        tx.execute_many(
            "INSERT INTO projection_rebuilds (name, position, head, started_at) VALUES (:name, :position, :head, :now)"
            " ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            [{"name": p.name, "position": position, "head": head, "now": utc_now()} for p in projections],
        )


class _Renamed(Tx):
    """A Tx whose SQL addresses other tables (the shadow copies) instead of the live ones."""

    __slots__ = ("_pattern", "_renames", "_renamed")

    def __init__(self, raw, renames: dict[str, str]):
        super().__init__(raw)
        self._renames = renames
        self._pattern = re.compile(r"\b(" + "|".join(map(re.escape, renames)) + r")\b")
        self._renamed: dict[str, str] = {}  # handlers repeat the same few statements

    def execute_with(self, sql: str, params):
        if (renamed := self._renamed.get(sql)) is None:
            renamed = self._renamed[sql] = self._pattern.sub(lambda m: self._renames[m.group(1)], sql)
        return super().execute_with(renamed, params)


def _replace_with_shadow(tx: Tx, table: str) -> None:
    """Swap the live table's rows for the shadow's: recreate it, copy, then build its indexes."""
    schema = tx.all("SELECT type, sql FROM main.sqlite_schema WHERE tbl_name = :n AND sql IS NOT NULL", n=table)
    tx.execute(f"DROP TABLE main.{table}")
    tx.execute(next(sql for kind, sql in schema if kind == "table"))
    tx.execute(f"INSERT INTO main.{table} SELECT * FROM shadow.{table}")
    for kind, sql in schema:
        if kind == "index":
            tx.execute(sql)


def _remove(path: str) -> None:
    for name in (path, f"{path}-journal"):
        if os.path.exists(name):
            os.remove(name)
