"""The event log: immutable facts, appended in order, readable by global position.

Events are frozen dataclasses registered under a stable type name and schema
version (never a Python module path), so moving a class never breaks old events.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Iterable
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar, TypeVar

from app.ids import new_id
from app.sql_lists import in_list, named
from app.times import utc_now

if TYPE_CHECKING:  # the registry must import without the database layer
    from app.db import Tx


class Event:
    """Base of all domain events; subclasses are frozen dataclasses made with @event."""

    type_name: ClassVar[str]
    schema_version: ClassVar[int]


_registry: dict[str, type[Event]] = {}
E = TypeVar("E", bound=type[Event])


def event(type_name: str, version: int = 1):
    """Register a frozen dataclass as the event stored as ``type_name``."""

    def register(cls: E) -> E:
        if _registry.get(type_name, cls) is not cls:
            raise ValueError(f"event type {type_name!r} is already registered")
        cls.type_name, cls.schema_version = type_name, version
        _registry[type_name] = cls
        return cls

    return register


class UnknownEventType(LookupError):
    """The log holds an event type that no registered class describes."""


@dataclasses.dataclass(frozen=True)
class Recorded:
    """An event as stored in the log: its envelope, and its payload decoded on first use."""

    position: int
    event_id: str
    stream_type: str
    stream_id: str
    version: int
    type: str
    schema_version: int
    payload: str
    occurred_at: str
    correlation_id: str | None
    causation_id: str | None = None
    fetched: bool = False  # read from another service's feed: this database's log does not hold it

    @cached_property
    def data(self) -> Event:
        try:
            cls = _registry[self.type]
        except KeyError:
            raise UnknownEventType(self.type) from None
        return cls(**json.loads(self.payload))

    @classmethod
    def from_row(cls, row: tuple) -> Recorded:
        """A Recorded from a row of ``_COLUMNS``, without the frozen dataclass's per-field
        ``object.__setattr__`` (it is built for every event a projection reads)."""
        recorded = object.__new__(cls)
        recorded.__dict__.update(zip(_FIELDS, row))
        return recorded


_APPEND = """
INSERT INTO events (event_id, stream_type, stream_id, version, type, schema_version,
                    payload, occurred_at, correlation_id, causation_id)
VALUES (:event_id, :stream_type, :stream_id, :version, :type, :schema_version,
        :payload, :occurred_at, :correlation_id, :causation_id)
RETURNING position
"""


def append(
    tx: Tx,
    stream_type: str,
    stream_id: str,
    version: int,
    data: Event,
    correlation_id: str | None,
    causation_id: str | None = None,
) -> Recorded:
    """Append one event at ``version`` of its stream; a duplicate version fails the transaction.

    ``correlation_id`` is the request's id; ``causation_id`` the event that caused this one, if any.
    """
    fields = {
        "event_id": new_id(),
        "stream_type": stream_type,
        "stream_id": stream_id,
        "version": version,
        "type": data.type_name,
        "schema_version": data.schema_version,
        "payload": encode(vars(data)),  # its fields, shallow: asdict() deep-copies every list first
        "occurred_at": utc_now(),
        "correlation_id": correlation_id,
        "causation_id": causation_id,
    }
    position = tx.scalar(_APPEND, **fields)
    return Recorded(position=position, **fields)


def _nested(value):
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


#: A payload as stored: compact JSON, as written.
encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_nested).encode


_COLUMNS = (
    "position, event_id, stream_type, stream_id, version, type, schema_version,"
    " payload, occurred_at, correlation_id, causation_id"
)


_FIELDS = tuple(name.strip() for name in _COLUMNS.split(","))  # Recorded's fields, as read_after selects them


def read_after(tx: Tx, position: int, limit: int, types: Collection[str] | None = None) -> list[Recorded]:
    """Up to ``limit`` events after ``position``, in position order; only of ``types``, if given.

    Filtering by type in SQL skips the other events for the cost of SQLite stepping over
    a row, not of building a Recorded for each in Python.
    """
    if types is None:
        sql = f"SELECT {_COLUMNS} FROM events WHERE position > :position ORDER BY position LIMIT :limit"
        params = {"position": position, "limit": limit}
    else:
        names = named(sorted(types), "t")
        sql = (
            f"SELECT {_COLUMNS} FROM events WHERE position > :position AND type IN ({in_list(names)})"
            " ORDER BY position LIMIT :limit"
        )
        params = {"position": position, "limit": limit, **names}
    return [Recorded.from_row(row) for row in tx.execute(sql, **params)]


def head(tx: Tx) -> int:
    """The position of the newest event, 0 for an empty log."""
    return tx.scalar("SELECT coalesce(max(position), 0) FROM events")


def registered_types() -> Iterable[str]:
    return _registry.keys()


def is_known(type_name: str) -> bool:
    """Whether a registered class describes events of this type."""
    return type_name in _registry
