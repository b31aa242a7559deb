"""SQL inside one transaction, on either engine: statement text and named parameters in, rows out.

Statements go straight to the engine's DB-API connection: SQLAlchemy's per-statement compile
and result layers cost more than the database's own work on these short statements. The
engine (app/engines/) runs each statement, so the same text serves SQLite and PostgreSQL.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.engines import Engine


@functools.lru_cache(maxsize=1024)
def _row_class(names: tuple[str, ...]) -> type:
    """A named tuple for rows with these columns (any column name, even ``count(*)``)."""
    base = collections.namedtuple("Row", names, rename=True)

    def as_dict(row) -> dict:
        return dict(zip(names, row))

    return type("Row", (base,), {"__slots__": (), "_asdict": as_dict, "_mapping": property(as_dict)})


class Rows:
    """What a statement answered: iterate the rows, or take the first row or value.

    Rows are named tuples: ``row[0]``, ``row.name``, ``row._asdict()``, unpacking.
    """

    __slots__ = ("_cursor",)

    def __init__(self, cursor):
        self._cursor = cursor

    @property
    def _make(self):
        """Makes a named tuple of a row (looked up only when rows are read by name)."""
        names = tuple(column[0] for column in self._cursor.description or ())
        return _row_class(names)._make if names else tuple

    def __iter__(self) -> Iterator[tuple]:
        return map(self._make, self._cursor)

    def all(self) -> list[tuple]:
        return list(map(self._make, self._cursor.fetchall()))

    def tuples(self) -> list[tuple]:
        """The rows as plain tuples (no names: the cheapest way out)."""
        return self._cursor.fetchall()

    def first(self) -> tuple | None:
        row = self._cursor.fetchone()
        make = None if row is None else self._make  # the column names go with the cursor
        self._cursor.close()
        return None if row is None else make(row)

    def scalar(self):
        row = self._cursor.fetchone()
        self._cursor.close()
        return None if row is None else row[0]

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount


class Tx:
    """SQL inside one transaction of one role, on one engine's connection."""

    __slots__ = ("raw", "engine", "begin")

    def __init__(self, raw, engine: Engine, begin: bool | None = None):
        self.raw, self.engine = raw, engine
        # A transaction that begins at its first statement: whether it writes (None: begun).
        self.begin = begin

    def execute(self, sql: str, **params) -> Rows:
        return self.execute_with(sql, params)

    def first(self, sql: str, **params) -> tuple | None:
        return self.execute(sql, **params).first()

    def scalar(self, sql: str, **params):
        return self.execute(sql, **params).scalar()

    def all(self, sql: str, **params) -> list[tuple]:
        return self.execute(sql, **params).all()

    def execute_many(self, sql: str, rows: list[dict]) -> None:
        """One statement for many parameter sets (the driver's executemany)."""
        if rows:
            self.execute_with(sql, rows)

    def execute_with(self, sql: str, params) -> Rows:
        engine = self.engine
        if self.begin is not None and not engine.in_transaction(self.raw):
            engine.begin(self.raw, self.begin)
        return Rows(engine.run(self.raw, sql, params))

    @contextmanager
    def acting_as(self, role: str) -> Iterator[Tx]:
        """This transaction with ``role``'s rights instead (the projector's, inside a command's
        transaction, so that both commit at once); the engine makes the database enforce them."""
        if self.begin is not None and not self.engine.in_transaction(self.raw):
            self.engine.begin(self.raw, self.begin)
        with self.engine.acting_as(self, role) as tx:
            yield tx

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A savepoint: the block's changes are kept if it ends, undone if it raises."""
        self.execute_with("SAVEPOINT tx_savepoint", ())
        try:
            yield
        except BaseException:
            self.engine.run(self.raw, "ROLLBACK TO SAVEPOINT tx_savepoint", ())
            self.engine.run(self.raw, "RELEASE SAVEPOINT tx_savepoint", ())
            raise
        self.engine.run(self.raw, "RELEASE SAVEPOINT tx_savepoint", ())
