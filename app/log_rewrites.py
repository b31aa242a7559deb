"""The one sanctioned rewrite of the log: sealing the personal fields that events recorded
before keys existed still hold in plaintext (``flask --app wsgi events encrypt-personal-data``).

Every database has some (the seed employee's EmployeeHired, every user and employee of code
from before issue 24). In one write transaction, the append-only trigger on updates is
lifted, each such field is sealed in place under its stream's key (made if missing), the
trigger is restored, and a PersonalDataEncrypted event records it all; a failure anywhere
rolls the whole back, trigger included. A stream already erased (a user deleted before, say)
has no key to seal under: its fields are sealed under a key made for the moment and never
kept, which reads as the placeholders, and its event_history_view rows are rewritten as an
erasure rewrites them. Only what was plaintext changes: the stored envelope, positions and
the other fields stay, and a second run finds nothing to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app import personal_data
from app.eventlog import Event, encode, erasing_types, event, has_personal_data, personal_fields, registered_types
from app.ids import new_id
from app.sql_lists import in_list, named

if TYPE_CHECKING:
    from app.sql import Tx

STREAM = "log"  # the log's own stream type: its operations on itself


@event("PersonalDataEncrypted")
@dataclass(frozen=True)
class PersonalDataEncrypted(Event):
    """An operator sealed the personal fields the log held in plaintext, in place."""

    events: int  # how many events had a field sealed
    streams: int  # of how many streams
    erased_streams: list  # [[stream_type, stream_id]] already erased: read as placeholders from now
    by: str  # the operator, as the command ran


def plaintext_events(tx: Tx) -> list[tuple]:
    """(position, stream_type, stream_id, payload) of the events whose personal fields are in plaintext, sealed."""
    types = named(sorted(name for name in registered_types() if has_personal_data(name)), "t")
    rows = tx.all(
        "SELECT position, stream_type, stream_id, type, schema_version, payload FROM events"
        f" WHERE type IN ({in_list(types)}) ORDER BY position",
        **types,
    )
    found = []
    for row in rows:
        payload = json.loads(row.payload)
        plain = [name for name in personal_fields(row.type, row.schema_version) if _is_plain(payload, name)]
        if plain:
            found.append((row.position, row.stream_type, row.stream_id, payload, plain))
    return found


def encrypt_personal_data(uow, by: str) -> PersonalDataEncrypted | None:
    """Seal every plaintext personal field of the log in ``uow`` (a UnitOfWork), and record
    PersonalDataEncrypted; None (and nothing changed) when there is none."""
    found = plaintext_events(uow)
    if not found:
        return None
    erased = _erased_streams(uow, {(stream_type, stream_id) for _, stream_type, stream_id, _, _ in found})
    keys: dict[tuple[str, str], bytes] = {}
    updates = []
    for position, stream_type, stream_id, payload, plain in found:
        stream = (stream_type, stream_id)
        if stream not in keys:
            keys[stream] = (
                AESGCM.generate_key(bit_length=256)  # kept nowhere: it reads as the placeholders
                if stream in erased
                else personal_data.key_for(uow, stream_type, stream_id)
            )
        sealed = {
            name: personal_data.seal_value(keys[stream], stream_type, stream_id, name, encode(value))
            if name in plain
            else value
            for name, value in payload.items()
        }
        updates.append({"position": position, "payload": encode(sealed)})
    for stream_type, stream_id in sorted(erased):
        personal_data.erase(uow, stream_type, stream_id)  # on record, if it was not
    with uow.engine.append_only_lifted(uow):
        uow.execute_many("UPDATE events SET payload = :payload WHERE position = :position", updates)
    done = PersonalDataEncrypted(len(updates), len(keys), [list(stream) for stream in sorted(erased)], by)
    uow.record(STREAM, new_id(), 1, done)
    return done


def _is_plain(payload: dict, name: str) -> bool:
    return name in payload and not personal_data.is_sealed(payload[name])


def _erased_streams(tx: Tx, streams: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Those of ``streams`` that are erased: an event of theirs destroyed their key, or the key is."""
    ids = named(sorted({stream_id for _, stream_id in streams}), "id")
    erasing = named(sorted(erasing_types()), "e")
    by_event = tx.all(
        f"SELECT stream_type, stream_id FROM events WHERE stream_id IN ({in_list(ids)})"
        f" AND type IN ({in_list(erasing)})",
        **ids,
        **erasing,
    )
    by_key = tx.all(
        f"SELECT stream_type, stream_id FROM personal_data_keys WHERE stream_id IN ({in_list(ids)})"
        " AND erased_at IS NOT NULL",
        **ids,
    )
    return {(row[0], row[1]) for row in (*by_event, *by_key)} & streams
