"""Rebuilding read models: replay the whole log into fresh copies, then swap them in.

One pass over the log serves every chosen projection: each batch of events is read
once and applied by each projection in turn, as a catch-up applies it. The copies
fill where the engine keeps them (app/engines/: a scratch file attached beside an SQLite
database, a schema of their own on PostgreSQL), in transactions that take no write lock:
queries keep answering from the live tables and commands keep committing meanwhile. The
last events, the copy into the live tables and the checkpoints then commit in one
transaction holding the writers' lock: readers see the old read model or the new one,
never a mix. A handler that raises fails the rebuild and leaves the live read model as it was.

One rebuild runs at a time, holding the engine's rebuild lock: a rebuild killed partway
holds it no more, so it is not reported as running, and the next rebuild (or the
next start) removes what it left: its copies and its rows in projection_rebuilds.
"""

import gc
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from operator import itemgetter

from sqlalchemy.exc import DBAPIError

from app.db import Tx, connection, engine, transaction, transaction_on
from app.engines import RebuildRunning
from app.eventlog import Recorded
from app.projector import HandlerFailed, Progress, Projection, Projector, apply_events, save_checkpoints
from app.times import utc_now

log = logging.getLogger(__name__)

BATCH = 5000  # events read at a time
SCRATCH_TRANSACTION_SECONDS = 20.0  # how long a scratch transaction goes on, and the snapshot of main it reads


LOCK_WAIT_SECONDS = 2.0  # a look at the lock (a status) holds it for an instant: tried this long before refusing
START_LOCK_WAIT_SECONDS = 600.0  # a start waits this long for another's rebuild (it may be the one it needs)


class RebuildFailed(RuntimeError):
    """A handler raised while rebuilding, or another rebuild was running; the live read model was left as it was."""


def rebuild(
    projector: Projector,
    projections: list[Projection],
    progress: Progress | None = None,
    wait_seconds: float = LOCK_WAIT_SECONDS,
    outdated_only: bool = False,
) -> int:
    """Rebuild ``projector``'s ``projections`` from the whole log, in one pass for all; returns the events read.

    The tables of a projection whose rows another version of it made (or none) are made anew,
    as the baseline makes them. ``outdated_only``: rebuild only those (if any).
    RebuildFailed if a handler raises or another rebuild is running (the live read model is then unchanged).
    """
    shadow = engine().shadow()
    with _the_only_rebuild(wait_seconds):
        _remove_leftovers(shadow)
        outdated = _outdated(projections)
        if outdated_only:
            projections = outdated
            if not projections:
                return 0
        anew = frozenset(table for projection in outdated for table in projection.tables)
        try:
            with connection("projector") as raw, shadow.attached(raw), _no_cycle_collection():
                batch = max(BATCH, projector.batch_size)
                return _fill_and_swap(raw, shadow, projector.source, projections, batch, progress, anew)
        finally:
            with transaction("projector") as tx:
                names = [{"name": projection.name} for projection in projections]
                tx.execute_many("DELETE FROM projection_rebuilds WHERE name = :name", names)


def rebuild_outdated(projector: Projector) -> list[str]:
    """At start: rebuild each projection whose rows another version of it made (its version
    went up: what it writes changed), and make the tables of one new to this database; queries
    keep reading the old read model meanwhile. A projection new to a database the baseline
    made (its tables are there) is only recorded at its version. Returns the names rebuilt."""
    projections = projector.projections
    stored = _versions()
    if any(p.name not in stored for p in projections):
        with transaction("projector") as tx:
            made = [p for p in projections if p.name not in stored and _tables_exist(tx, p)]
            tx.execute_many(
                "INSERT INTO projection_checkpoints (name, position, version) VALUES (:name, 0, :version)"
                " ON CONFLICT (name) DO NOTHING",
                [{"name": p.name, "version": p.version} for p in made],
            )
        stored = _versions()
    if all(stored.get(p.name) == p.version for p in projections):
        return []
    try:
        rebuild(projector, projections, wait_seconds=START_LOCK_WAIT_SECONDS, outdated_only=True)
    except Exception:  # the start goes on: the next start tries again, an operator can rebuild
        log.exception("rebuilding the projections another version made failed")
        return []
    return [p.name for p in projections if stored.get(p.name) != p.version]


def _outdated(projections: list[Projection]) -> list[Projection]:
    """Those whose rows another version of them made, or that have none on record."""
    stored = _versions()
    return [p for p in projections if stored.get(p.name) != p.version]


def _versions() -> dict[str, int]:
    """The version of each projection on record: of the code that made its rows."""
    with transaction("projector", read_only=True) as tx:
        return dict(tx.execute("SELECT name, version FROM projection_checkpoints").tuples())


def _tables_exist(tx: Tx, projection: Projection) -> bool:
    try:
        with tx.savepoint():
            for table in projection.tables:
                tx.execute(f"SELECT 1 FROM {table} LIMIT 0")
        return True
    except DBAPIError:
        return False


def remove_leftovers() -> None:
    """Remove what rebuilds killed partway left (scratch files, rows in projection_rebuilds),
    unless a rebuild is running now; a start calls this."""
    shadow = engine().shadow()
    with transaction("projector", read_only=True) as tx:
        rows = tx.scalar("SELECT count(*) FROM projection_rebuilds")
    if not rows and not shadow.leftovers():
        return
    try:
        with _the_only_rebuild(wait_seconds=0):
            _remove_leftovers(shadow)
    except RebuildFailed:
        pass  # a rebuild is running (or a status looked at the lock): the next start or rebuild cleans up


@contextmanager
def _the_only_rebuild(wait_seconds: float) -> Iterator[None]:
    """The engine's rebuild lock held for the block. RebuildFailed if another rebuild holds it."""
    try:
        with engine().rebuild_lock(wait_seconds):
            yield
    except RebuildRunning as running:
        raise RebuildFailed(str(running)) from None


def _remove_leftovers(shadow) -> None:
    """Every rebuild's copies and rows: only while holding the rebuild lock (none is running)."""
    shadow.remove_leftovers()
    with transaction("projector") as tx:
        tx.execute("DELETE FROM projection_rebuilds")


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """The cyclic garbage collector off for the block. A replay makes millions of objects and
    no cycles; with each batch alive, the collector's passes over it cost a tenth of a
    rebuild. Reference counting still frees everything at once."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _fill_and_swap(
    raw, shadow, source, projections: list[Projection], batch: int, progress: Progress | None, anew: frozenset[str]
) -> int:
    tables = [table for projection in projections for table in projection.tables]
    with transaction_on(raw, immediate=False) as tx:
        head = source.head(tx)
        shadow.create_tables(tx, tables, anew)
    copies = _Shadow(raw, {table: f"{shadow.prefix}{table}" for table in tables})
    replay = _Replay(copies, source, projections, batch, head, progress)
    _fill(raw, replay)
    with transaction_on(raw, immediate=False) as tx:  # the indexes too, while commands go on
        shadow.create_indexes(tx, tables, anew)
    with transaction_on(raw, immediate=True) as tx:  # no new events from here to the commit
        while replay.next_batch(tx):
            pass
        position = max(replay.position, source.head(tx))  # every later event is of a type they ignore
        for table in tables:
            shadow.swap(tx, table, table in anew)
        save_checkpoints(tx, [p.name for p in projections], position)
        tx.execute_many(  # the rows are this version's now
            "UPDATE projection_checkpoints SET version = :version WHERE name = :name",
            [{"name": p.name, "version": p.version} for p in projections],
        )
    if progress:
        progress(replay.done, replay.done)
    return replay.done


def _fill(raw, replay: "_Replay") -> None:
    """Replay the log into the scratch file, in transactions that read main and write only the
    scratch file. Each commit writes every page changed since the last, and rows land all over
    the copies' keys: so a transaction goes on for a while, not for a batch."""
    _record_rebuild(replay.projections, 0, replay.head)
    more, reported = True, time.monotonic()
    while more:
        with transaction_on(raw, immediate=False) as tx:
            ends = time.monotonic() + SCRATCH_TRANSACTION_SECONDS
            while more:
                more = replay.next_batch(tx)
                if time.monotonic() - reported > 1:
                    reported = time.monotonic()
                    _record_rebuild(replay.projections, replay.position, replay.head)
                if time.monotonic() > ends:
                    break


class _Replay:
    """How far a rebuild has read the log, and how it applies the next batch."""

    def __init__(self, shadow: "_Shadow", source, projections: list[Projection], batch: int, head: int, progress):
        self.shadow, self.source, self.projections = shadow, source, projections
        self.batch, self.head, self.progress = batch, head, progress
        self.types = _handled(projections)  # replay only what they handle: the rest would change nothing
        self.position = self.done = 0

    def next_batch(self, tx: Tx) -> bool:
        """Read and apply the next batch of events; False once the log is read to its end."""
        events = self.source.read_after(tx, self.position, self.batch, self.types)
        _apply_all(self.shadow, self.projections, events)
        if events:
            self.position, self.done = events[-1].position, self.done + len(events)
        more = len(events) == self.batch
        if self.progress:
            self.progress(self.position if more else self.head, max(self.head, self.position))
        return more


def _handled(projections: list[Projection]) -> frozenset[str] | None:
    """The event types any of them handles; None when one handles every event."""
    types = [projection.event_types() for projection in projections]
    return None if None in types else frozenset().union(*types)


def _apply_all(shadow: "_Shadow", projections: list[Projection], events: list[Recorded]) -> None:
    """Each projection applies the batch in turn, as a catch-up does (each keeps its own tables)."""
    present = {event.type for event in events}
    for projection in projections:
        types = projection.event_types()
        if types is not None and types.isdisjoint(present):
            continue
        try:
            apply_events(shadow, projection, events)
            shadow.flush()
        except HandlerFailed as failure:
            raise RebuildFailed(
                f"{projection.name}: event {failure.event.position} ({failure.event.type}) failed:"
                f" {failure.__cause__!r}; the live read model is unchanged"
            ) from failure.__cause__
        except Exception as error:  # a queued write, reaching SQLite after its handler returned
            raise RebuildFailed(
                f"{projection.name}: a write for events up to {events[-1].position} failed:"
                f" {error!r}; the live read model is unchanged"
            ) from error


def _record_rebuild(projections: list[Projection], position: int, head: int) -> None:
    with transaction("projector") as tx:
        tx.execute_many(
            "INSERT INTO projection_rebuilds (name, position, head, started_at) VALUES (:name, :position, :head, :now)"
            " ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            [{"name": p.name, "position": position, "head": head, "now": utc_now()} for p in projections],
        )


_Statement = tuple[str, str, Callable[[dict], tuple] | None]  # renamed SQL; if queued, its SQL and its values


class _Shadow(Tx):
    """The Tx the handlers write the shadow copies with. Their SQL is renamed to address the
    copies, and their writes are queued: a run of one statement goes to SQLite as one
    executemany, since a statement per event costs more in Python than in SQLite. Statements
    still reach SQLite in the order the handlers ran them (any other statement, or
    ``flush``, sends the queue first), so the rows are the same; a queued write that fails
    fails at the next statement or flush, so an error may name a later event of the batch."""

    __slots__ = ("_pattern", "_renames", "_statements", "_queued_sql", "_queued")

    def __init__(self, raw, renames: dict[str, str]):
        super().__init__(raw, engine())
        self._renames = renames
        self._pattern = re.compile(r"\b(" + "|".join(map(re.escape, renames)) + r")\b")
        self._statements: dict[str, _Statement] = {}  # handlers repeat the same few statements
        self._queued_sql, self._queued = "", []

    def execute_with(self, sql: str, params):
        if (statement := self._statements.get(sql)) is None:
            statement = self._statements[sql] = self._prepare(sql)
        renamed, queued_sql, values = statement
        if values is not None and isinstance(params, dict):
            if queued_sql is not self._queued_sql:
                self.flush()
                self._queued_sql = queued_sql
            self._queued.append(values(params))
            return _QUEUED
        self.flush()
        return super().execute_with(renamed, params)

    def flush(self) -> None:
        """Send the queued writes to SQLite."""
        if self._queued:
            queued, self._queued = self._queued, []
            super().execute_with(self._queued_sql, queued)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A savepoint around the block's writes: sent before it ends, or dropped if it raises."""
        self.flush()
        try:
            with super().savepoint():
                yield
                self.flush()
        except BaseException:
            self._queued = []  # the block's own: undone with it
            raise

    def _prepare(self, sql: str) -> _Statement:
        """``sql`` renamed; and if it may be queued (a write whose result nobody reads), the
        same with ``?`` for each ``:name`` and what takes their values from the parameters
        in that order (sqlite3 binds a tuple for less than it looks names up in a dict)."""
        renamed = self._pattern.sub(lambda m: self._renames[m.group(1)], sql)
        write = re.match(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", sql, re.IGNORECASE)
        if not write or re.search(r"\bRETURNING\b|--|/\*", sql, re.IGNORECASE):
            return renamed, renamed, None
        names: list[str] = []

        def placeholder(match: re.Match) -> str:
            if match.group(1) is None:
                return match.group(0)  # a quoted string or name: left as it is
            names.append(match.group(1))
            return "?"

        positional = _PLACEHOLDERS.sub(placeholder, renamed)
        if len(names) > 1:
            return renamed, positional, itemgetter(*names)
        return renamed, positional, lambda params: tuple(params[name] for name in names)  # itemgetter's: no tuple


_PLACEHOLDERS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|:(\w+)")


class _Queued:
    """What a queued write answers: no rows, no count (it has not run yet)."""

    def __getattr__(self, name: str):
        raise TypeError(f"a write queued by a rebuild has no {name} yet")

    def __iter__(self):
        raise TypeError("a write queued by a rebuild has no rows yet")


_QUEUED = _Queued()
