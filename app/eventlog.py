"""The event log: immutable facts, appended in order, readable by global position.

Events are frozen dataclasses registered under a stable type name and schema
version (never a Python module path), so moving a class never breaks old events.
Stored events are never rewritten: when a class changes, its version goes up and an
upcaster turns the payloads of the version before into the new one's, so every reader
(projections, rebuilds, process managers, histories) only ever sees current classes.
A renamed class keeps its old type names readable as aliases.

Personal data is declared, not guessed: an event class names its personal fields and what
each reads as once the person is erased. Those fields are stored encrypted under a key of
their stream's own (app/personal_data.py); reading the log decrypts them while the key
exists and gives the placeholders once it is destroyed ("crypto-shredding"), so every
reader sees the same either way and nothing else of the log ever changes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Set
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar, TypeVar

from app import personal_data
from app.ids import new_id
from app.sql_lists import in_list, named
from app.times import utc_now

if TYPE_CHECKING:  # the registry must import without the database layer
    from app.db import Tx


class Event:
    """Base of all domain events; subclasses are frozen dataclasses made with @event."""

    type_name: ClassVar[str]
    schema_version: ClassVar[int]
    aliases: ClassVar[tuple[str, ...]]
    #: Personal field -> what it reads as once the person is erased (empty: none is personal).
    personal: ClassVar[Mapping[str, object]] = MappingProxyType({})
    #: Whether recording it destroys its stream's key: the person's data is gone from then on.
    erases: ClassVar[bool] = False


#: What an erased person's text fields read as, everywhere the service shows them.
ERASED = "(erased)"

_registry: dict[str, type[Event]] = {}  # every stored type name (current or alias) -> its class
_upcasters: dict[tuple[type[Event], int], Callable[[dict], dict]] = {}
_personal: dict[tuple[type[Event], int], Mapping[str, object]] = {}  # of every schema version that has any
_personal_types: set[str] = set()  # the stored type names (aliases too) whose events may carry personal fields
_erasing_types: set[str] = set()  # the stored type names (aliases too) of the events that destroy their stream's key
E = TypeVar("E", bound=type[Event])


def event(
    type_name: str,
    version: int = 1,
    aliases: Iterable[str] = (),
    personal: Mapping[str, object] | None = None,
    erases: bool = False,
):
    """Register a frozen dataclass as the event stored as ``type_name``, at schema ``version``;
    events stored under an older name (``aliases``) are read as this class too.

    ``personal``: its fields that hold personal data, each with its placeholder once the
    person is erased (stored encrypted under the stream's key). ``erases``: recording it
    destroys the stream's key (the handler does, in the same transaction)."""
    names = (type_name, *aliases)

    def register(cls: E) -> E:
        for name in names:
            if _registry.get(name, cls) is not cls:
                raise ValueError(f"event type {name!r} is already registered")
        _check_fields(cls, personal or {})
        cls.type_name, cls.schema_version, cls.aliases = type_name, version, tuple(aliases)
        cls.personal, cls.erases = MappingProxyType(dict(personal or {})), erases
        if personal:
            _personal[(cls, version)] = cls.personal
            _personal_types.update(names)
        if erases:
            _erasing_types.update(names)
        _registry.update(dict.fromkeys(names, cls))
        return cls

    return register


def _check_fields(cls: type, personal: Mapping[str, object]) -> None:
    unknown = set(personal) - {field.name for field in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"{cls.__name__} has no fields {sorted(unknown)} to mark personal")


def upcaster(cls: type[Event], from_version: int, personal: Mapping[str, object] | None = None):
    """Register a function that turns a payload of ``cls`` at ``from_version`` into one at the
    next version (a dict in, a new dict out): a stored event is read through the chain of
    them up to the class's current version. ``personal``: the personal fields of a payload
    at ``from_version``, as ``event`` takes them for the current one."""

    def register(function: Callable[[dict], dict]) -> Callable[[dict], dict]:
        if not 1 <= from_version < cls.schema_version:
            raise ValueError(f"{cls.type_name} is at version {cls.schema_version}: no upcaster from {from_version}")
        if _upcasters.setdefault((cls, from_version), function) is not function:
            raise ValueError(f"{cls.type_name} already has an upcaster from version {from_version}")
        if personal:
            _personal[(cls, from_version)] = MappingProxyType(dict(personal))
            _personal_types.update(names_of(cls))
        return function

    return register


def personal_fields(type_name: str, schema_version: int) -> Mapping[str, object]:
    """The personal fields of a payload stored as ``type_name`` at ``schema_version``, with
    their placeholders (empty for a type this code does not know)."""
    cls = _registry.get(type_name)
    return _personal.get((cls, schema_version), MappingProxyType({})) if cls is not None else MappingProxyType({})


def erased(type_name: str, schema_version: int, payload: dict) -> dict:
    """The payload as it reads once its person is erased: each personal field (and any value
    still sealed) replaced by its placeholder. Rebuilds and the live read model agree on it."""
    personal = personal_fields(type_name, schema_version)
    return {
        name: personal.get(name, ERASED) if name in personal or personal_data.is_sealed(value) else value
        for name, value in payload.items()
    }


def has_personal_data(type_name: str) -> bool:
    """Whether events stored as ``type_name`` may carry personal fields (at any schema version)."""
    return type_name in _personal_types


def erasing_types() -> Set[str]:
    """The type names (aliases too) of the events that destroy their stream's key: kept as
    classes register, since every command's commit asks (app/erasure.py)."""
    return _erasing_types


class UnreadableEvent(LookupError):
    """The log holds an event this code cannot read."""


class UnknownEventType(UnreadableEvent):
    """No registered class describes the event's type (written by newer code, or by another service)."""


class UnknownSchemaVersion(UnreadableEvent):
    """The event's class is known, but not its schema version (newer than the class, or no upcaster)."""


def class_of(type_name: str) -> type[Event]:
    """The class that reads events stored as ``type_name`` (its name now, or an alias)."""
    try:
        return _registry[type_name]
    except KeyError:
        raise UnknownEventType(type_name) from None


def current_payload(type_name: str, schema_version: int, payload: dict) -> dict:
    """A stored payload as its class reads it today: upcast from ``schema_version``, step by step."""
    cls = class_of(type_name)
    version = schema_version
    while version < cls.schema_version:
        step = _upcasters.get((cls, version))
        if step is None:
            raise UnknownSchemaVersion(f"{type_name} has no upcaster from version {version}")
        payload, version = step(payload), version + 1
    if version != cls.schema_version:
        raise UnknownSchemaVersion(f"{type_name} version {version} is newer than this code's {cls.schema_version}")
    return payload


def check_readable(type_name: str, schema_version: int) -> None:
    """UnreadableEvent unless this code can read events of this type and version."""
    cls = class_of(type_name)
    if schema_version != cls.schema_version and (
        schema_version > cls.schema_version
        or any((cls, version) not in _upcasters for version in range(schema_version, cls.schema_version))
    ):
        raise UnknownSchemaVersion(f"{type_name} version {schema_version} (this code reads up to {cls.schema_version})")


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
        """The event as its class is today (UnreadableEvent if this code cannot read it)."""
        cls = class_of(self.type)
        payload = json.loads(self.payload)
        if self.schema_version != cls.schema_version:
            payload = current_payload(self.type, self.schema_version, payload)
        return cls(**payload)

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
    payload = vars(data)  # its fields, shallow: asdict() deep-copies every list first
    fields = {
        "event_id": new_id(),
        "stream_type": stream_type,
        "stream_id": stream_id,
        "version": version,
        "type": data.type_name,
        "schema_version": data.schema_version,
        "payload": encode(payload),
        "occurred_at": utc_now(),
        "correlation_id": correlation_id,
        "causation_id": causation_id,
    }
    if data.personal:
        stored = personal_data.seal(tx, stream_type, stream_id, payload, data.personal, encode)
        position = tx.scalar(_APPEND, **{**fields, "payload": encode(stored)})
    else:
        position = tx.scalar(_APPEND, **fields)
    # The plaintext: the projections applied in this transaction read it without reading back.
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
_PAYLOAD = _FIELDS.index("payload")


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
    rows = tx.execute(sql, **params).tuples()
    if any(personal_data.SEALED in row[_PAYLOAD] for row in rows):  # else nothing to pay for
        rows = reveal(tx, rows)
    return [Recorded.from_row(row) for row in rows]


def reveal(tx: Tx, rows: list[tuple]) -> list[tuple]:
    """Rows of ``_COLUMNS`` with their sealed personal fields opened under their streams' keys
    (read in ``tx``, one query for the batch), or their placeholders where a key is destroyed."""
    payloads = {}
    for index, row in enumerate(rows):
        if personal_data.SEALED in row[_PAYLOAD]:
            payload = json.loads(row[_PAYLOAD])
            if any(map(personal_data.is_sealed, payload.values())):  # not an item named "$enc"
                payloads[index] = payload
    if not payloads:
        return rows
    ciphers = personal_data.ciphers_of(tx, {(rows[index][2], rows[index][3]) for index in payloads})
    opened = list(rows)
    for index, payload in payloads.items():
        row = rows[index]
        cipher = ciphers.get((row[2], row[3]))
        if cipher is None:
            payload = erased(row[5], row[6], payload)
        else:
            payload = personal_data.open_fields(cipher, row[2], row[3], payload)
        opened[index] = (*row[:_PAYLOAD], encode(payload), *row[_PAYLOAD + 1 :])
    return opened


def head(tx: Tx) -> int:
    """The position of the newest event, 0 for an empty log."""
    return tx.scalar("SELECT coalesce(max(position), 0) FROM events")


def registered_types() -> Iterable[str]:
    """Every type name this code reads, aliases included."""
    return _registry.keys()


def names_of(cls: type[Event]) -> tuple[str, ...]:
    """The type names events of ``cls`` are stored under: its own, then its aliases."""
    return (cls.type_name, *cls.aliases)
