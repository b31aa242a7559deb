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


class RebuildFailed(RuntimeError):
    """A handler raised while rebuilding; the live read model was left as it was."""


def rebuild(projector: Projector, projections: list[Projection], progress: Progress | None = None) -> int:
    """Rebuild ``projections`` from the whole log; returns the events replayed."""
    return sum(_rebuild(projector, projection, progress) for projection in projections)


def _rebuild(projector: Projector, projection: Projection, progress: Progress | None) -> int:
    scratch = f"{current_app.config['DATABASE_PATH']}.rebuild-{projection.name}"
    _remove(scratch)
    try:
        with connection("projector") as raw:
            raw.execute("ATTACH DATABASE ? AS shadow", (scratch,))
            try:
                raw.execute("PRAGMA shadow.journal_mode = MEMORY")  # a scratch file: no fsyncs
                raw.execute("PRAGMA shadow.synchronous = OFF")
                # Rows arrive in event order, not key order: keep the copies' pages in memory.
                raw.execute(f"PRAGMA shadow.cache_size = {-REBUILD_CACHE_KIB}")
                return _fill_and_swap(raw, projector.batch_size, projection, progress)
            finally:
                raw.execute("DETACH DATABASE shadow")
    finally:
        _remove(scratch)
        with transaction("projector") as tx:
            tx.execute("DELETE FROM projection_rebuilds WHERE name = :name", name=projection.name)


def _fill_and_swap(raw, batch_size: int, projection: Projection, progress: Progress | None) -> int:
    shadow = _Renamed(raw, {table: f"shadow.{table}" for table in projection.tables})
    with transaction_on(raw, immediate=False) as tx:
        head = eventlog.head(tx)
        for table in projection.tables:
            ddl = tx.scalar("SELECT sql FROM main.sqlite_schema WHERE type = 'table' AND name = :n", n=table)
            tx.execute(re.sub(rf"\b{re.escape(table)}\b", f"shadow.{table}", ddl, count=1))
    _record_rebuild(projection, 0, head)
    types = projection.event_types()  # replay only what it handles: the rest would change nothing
    position, done, reported = 0, 0, 0.0
    while True:
        with transaction_on(raw, immediate=False) as tx:  # reads main, writes only the scratch file
            events = eventlog.read_after(tx, position, batch_size, types)
            _apply_or_fail(shadow, projection, events)
        if events:
            position, done = events[-1].position, done + len(events)
        if progress:
            progress(position if len(events) == batch_size else head, max(head, position))
        if time.monotonic() - reported > 1:
            reported = time.monotonic()
            _record_rebuild(projection, position, head)
        if len(events) < batch_size:
            break
    with transaction_on(raw, immediate=True) as tx:  # no new events from here to the commit
        while events := eventlog.read_after(tx, position, batch_size, types):
            _apply_or_fail(shadow, projection, events)
            position, done = events[-1].position, done + len(events)
        position = max(position, eventlog.head(tx))  # every later event is of a type it ignores
        for table in projection.tables:
            _replace_with_shadow(tx, table)
        tx.execute(SAVE_CHECKPOINT, name=projection.name, position=position, now=utc_now())
    if progress:
        progress(done, done)
    return done


def _record_rebuild(projection: Projection, position: int, head: int) -> None:
    with transaction("projector") as tx:
        tx.execute(
            "INSERT INTO projection_rebuilds (name, position, head, started_at) VALUES (:name, :position, :head, :now)"
            " ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            name=projection.name,
            position=position,
            head=head,
            now=utc_now(),
        )


class _Renamed(Tx):
    """A Tx whose SQL addresses other tables (the shadow copies) instead of the live ones."""

    __slots__ = ("_pattern", "_renames")

    def __init__(self, raw, renames: dict[str, str]):
        super().__init__(raw)
        self._renames = renames
        self._pattern = re.compile(r"\b(" + "|".join(map(re.escape, renames)) + r")\b")

    def execute_with(self, sql: str, params):
        return super().execute_with(_renamed(self._pattern, self._renames, sql), params)


_RENAMED: dict[tuple, str] = {}


def _renamed(pattern: re.Pattern, renames: dict[str, str], sql: str) -> str:
    """``sql`` with the tables renamed; remembered, since handlers repeat the same few statements."""
    key = (pattern.pattern, sql)
    if (renamed := _RENAMED.get(key)) is None:
        if len(_RENAMED) > 4096:
            _RENAMED.clear()
        renamed = _RENAMED[key] = pattern.sub(lambda m: renames[m.group(1)], sql)
    return renamed


def _apply_or_fail(tx: Tx, projection: Projection, events: list[Recorded]) -> None:
    try:
        apply_events(tx, projection, events)
    except HandlerFailed as failure:
        raise RebuildFailed(
            f"{projection.name}: event {failure.event.position} ({failure.event.type}) failed:"
            f" {failure.__cause__!r}; the live read model is unchanged"
        ) from failure.__cause__


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
