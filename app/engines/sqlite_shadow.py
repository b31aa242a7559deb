"""Where an SQLite rebuild fills its copies: a scratch file attached beside the database.

The copies fill in transactions that only read the main file, so commands keep
committing meanwhile; the swap then copies each table back in one transaction.
"""

import glob
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

from app.schema import definition
from app.sql import Tx

REBUILD_CACHE_KIB = 256 * 1024  # page cache of the scratch file, at most


class ScratchFile:
    """The rebuild's shadow tables, as ``shadow.<table>`` in a file of their own."""

    prefix = "shadow."

    def __init__(self, database_path: str):
        self.database = database_path
        self.scratch = f"{database_path}.rebuild-{os.getpid()}"

    @contextmanager
    def attached(self, raw) -> Iterator[None]:
        """The scratch file attached as ``shadow`` for the block, and removed after it."""
        try:
            raw.execute("ATTACH DATABASE ? AS shadow", (self.scratch,))
            try:
                raw.execute("PRAGMA shadow.journal_mode = OFF")  # a scratch file, thrown away if anything fails
                raw.execute("PRAGMA shadow.synchronous = OFF")
                # Rows arrive in event order, not key order: keep the copies' pages in memory.
                raw.execute(f"PRAGMA shadow.cache_size = {-REBUILD_CACHE_KIB}")
                yield
            finally:
                raw.execute("DETACH DATABASE shadow")
        finally:
            _remove(self.scratch)

    def create_tables(self, tx: Tx, tables: list[str], anew: frozenset[str] = frozenset()) -> None:
        """Empty copies of the tables, as they are in main or, those ``anew``, as the baseline
        makes them (their indexes come later)."""
        for table in tables:
            for name, sql in _made(tx, table, table in anew, "table"):
                tx.execute(_renamed(sql, name))

    def create_indexes(self, tx: Tx, tables: list[str], anew: frozenset[str] = frozenset()) -> None:
        """The copies' indexes, built once they are filled (faster than kept up row by row)."""
        for table in tables:
            for name, sql in _made(tx, table, table in anew, "index"):
                tx.execute(_renamed(sql, name))

    def swap(self, tx: Tx, table: str, anew: bool = False) -> None:
        """Swap the live table for the copy: recreate it empty with its indexes (as the copy was
        made), then copy. The two have the same schema, so SQLite copies each b-tree as it is,
        in order, without building the indexes again (its "transfer optimization")."""
        made = _made(tx, table, anew, "table") + _made(tx, table, anew, "index")
        tx.execute(f"DROP TABLE IF EXISTS main.{table}")  # a new projection's may not be made yet
        for _name, sql in made:
            tx.execute(sql)
        tx.execute(f"INSERT INTO main.{table} SELECT * FROM shadow.{table}")

    def leftovers(self) -> bool:
        """Whether a rebuild killed partway left its scratch file."""
        return bool(glob.glob(f"{glob.escape(self.database)}.rebuild-*"))

    def remove_leftovers(self) -> None:
        """Every rebuild's scratch file: only while holding the rebuild lock (none is running)."""
        for scratch in glob.glob(f"{glob.escape(self.database)}.rebuild-*"):
            os.remove(scratch)


def _made(tx: Tx, table: str, anew: bool, kind: str) -> list[tuple[str, str]]:
    """(name, SQL) of the table itself or of its indexes: as main has them, or as the baseline
    makes them (``anew``)."""
    if anew:
        statements = definition("sqlite", table)
        chosen = statements[:1] if kind == "table" else statements[1:]
        return [(re.match(r"CREATE (?:UNIQUE )?\w+ (\w+)", sql)[1], sql) for sql in chosen]
    return tx.execute(
        "SELECT name, sql FROM main.sqlite_schema WHERE type = :kind AND tbl_name = :table AND sql IS NOT NULL",
        kind=kind,
        table=table,
    ).tuples()


def _renamed(sql: str, name: str) -> str:
    return re.sub(rf"\b{re.escape(name)}\b", f"shadow.{name}", sql, count=1)


def _remove(path: str) -> None:
    for name in (path, f"{path}-journal"):
        if os.path.exists(name):
            os.remove(name)
