"""Personal data in the log, forgettable: a key per person, fields sealed under it, erasure by
destroying it ("crypto-shredding").

Each stream that records personal fields (a user, an employee) gets a random 256-bit key in
``personal_data_keys``, a write table outside the log, made in the transaction of its first
such event. Each personal field's JSON value is stored as ``{"$enc": "<base64 of nonce +
AES-GCM ciphertext>"}``, its associated data naming the stream and the field, so a sealed
value cannot be moved to another stream or field unnoticed. Erasing a person sets their
key to NULL (the row stays as the record that the stream is erased): from then on their
sealed fields read as placeholders everywhere, and the log itself was never rewritten.

The command role keeps the keys; the projector role reads them (it decrypts what it
applies); the query role never sees them.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.sql_lists import in_list, named
from app.times import utc_now

if TYPE_CHECKING:
    from app.sql import Tx

#: The member that marks a sealed value, and its text as a stored payload shows it (a cheap
#: test before parsing anything).
MARK = "$enc"
SEALED = f'"{MARK}"'
_NONCE_BYTES = 12


class StreamErased(RuntimeError):
    """A personal event for a stream whose key was destroyed: its person is erased."""


def is_sealed(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and MARK in value


def _aad(stream_type: str, stream_id: str, field: str) -> bytes:
    return f"{stream_type}/{stream_id}/{field}".encode()


def seal_value(key: bytes | AESGCM, stream_type: str, stream_id: str, field: str, text: str) -> dict:
    """``text`` (a JSON value's text) sealed for this stream and field."""
    cipher = key if isinstance(key, AESGCM) else AESGCM(key)
    nonce = os.urandom(_NONCE_BYTES)
    sealed = cipher.encrypt(nonce, text.encode(), _aad(stream_type, stream_id, field))
    return {MARK: base64.b64encode(nonce + sealed).decode("ascii")}


def open_value(key: bytes | AESGCM, stream_type: str, stream_id: str, field: str, value: dict):
    """The JSON value a sealed one holds; cryptography's InvalidTag if it was sealed for
    another key, stream or field, or altered."""
    cipher = key if isinstance(key, AESGCM) else AESGCM(key)
    raw = base64.b64decode(value[MARK])
    text = cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(stream_type, stream_id, field))
    return json.loads(text)


def seal(
    tx: Tx, stream_type: str, stream_id: str, payload: dict, personal: Iterable[str], encode: Callable[[object], str]
) -> dict:
    """A copy of ``payload`` with its ``personal`` fields sealed under the stream's key (made
    now if it has none yet); StreamErased if the stream's key was destroyed."""
    cipher = AESGCM(key_for(tx, stream_type, stream_id))
    return {
        name: seal_value(cipher, stream_type, stream_id, name, encode(value)) if name in personal else value
        for name, value in payload.items()
    }


def open_fields(cipher: AESGCM, stream_type: str, stream_id: str, payload: dict) -> dict:
    """A copy of ``payload`` with every sealed field opened (``cipher``: the stream's key's)."""
    return {
        name: open_value(cipher, stream_type, stream_id, name, value) if is_sealed(value) else value
        for name, value in payload.items()
    }


def key_for(tx: Tx, stream_type: str, stream_id: str) -> bytes:
    """The stream's key, made (in ``tx``) if it has none yet; StreamErased if it was destroyed."""
    row = tx.first(
        "SELECT key FROM personal_data_keys WHERE stream_type = :stream_type AND stream_id = :stream_id",
        stream_type=stream_type,
        stream_id=stream_id,
    )
    if row is not None:
        if row.key is None:
            raise StreamErased(f"{stream_type} {stream_id} is erased: no personal data can be recorded for it")
        return bytes(row.key)
    key = AESGCM.generate_key(bit_length=256)
    tx.execute(
        "INSERT INTO personal_data_keys (stream_type, stream_id, key, created_at)"
        " VALUES (:stream_type, :stream_id, :key, :now)",
        stream_type=stream_type,
        stream_id=stream_id,
        key=key,
        now=utc_now(),
    )
    return key


def ciphers_of(tx: Tx, streams: Iterable[tuple[str, str]]) -> dict[tuple[str, str], AESGCM]:
    """The ciphers of the keys of those of ``streams`` that have one (destroyed keys and
    streams without a key are absent), in a query per ``_CHUNK`` streams."""
    streams = set(streams)
    ordered = sorted(streams)
    ciphers = {}
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        types = named(sorted({stream_type for stream_type, _id in chunk}), "type")
        ids = named([stream_id for _type, stream_id in chunk], "id")
        rows = tx.execute(  # both lists: the primary key serves them
            f"SELECT stream_type, stream_id, key FROM personal_data_keys WHERE stream_type IN ({in_list(types)})"
            f" AND stream_id IN ({in_list(ids)}) AND key IS NOT NULL",
            **types,
            **ids,
        ).tuples()
        ciphers.update({(row[0], row[1]): AESGCM(bytes(row[2])) for row in rows})
    return {stream: cipher for stream, cipher in ciphers.items() if stream in streams}


# Streams per key query: a longer IN list costs SQLite more per value than the statements it saves.
_CHUNK = 100


def erase(tx: Tx, stream_type: str, stream_id: str) -> None:
    """Destroy the stream's key (in ``tx``), keeping the row as the record of the erasure (a
    stream without a key, whose events predate keys, gets the record all the same), and
    delete the idempotency records whose stored responses carry the person's data."""
    tx.execute(
        "DELETE FROM idempotency_keys WHERE person_id = :stream_id AND person_type = :stream_type",
        stream_type=stream_type,
        stream_id=stream_id,
    )
    now = utc_now()
    tx.execute(
        "INSERT INTO personal_data_keys (stream_type, stream_id, key, created_at, erased_at)"
        " VALUES (:stream_type, :stream_id, NULL, :now, :now)"
        " ON CONFLICT (stream_type, stream_id) DO UPDATE SET key = NULL,"
        " erased_at = coalesce(personal_data_keys.erased_at, excluded.erased_at)",
        stream_type=stream_type,
        stream_id=stream_id,
        now=now,
    )


def is_erased(tx: Tx, stream_type: str, stream_id: str) -> bool:
    return (
        tx.scalar(
            "SELECT erased_at FROM personal_data_keys WHERE stream_type = :stream_type AND stream_id = :stream_id",
            stream_type=stream_type,
            stream_id=stream_id,
        )
        is not None
    )


# What PostgreSQL's error details quote of a row: the values of a key, or of a whole row.
_QUOTED_VALUES = re.compile(r"(DETAIL:\s+(?:Key \([^)\n]*\)=|Failing row contains ))[^\n]*")


def redacted(text: str) -> str:
    """``text`` (an error's message, a traceback) without the values a database error quotes:
    they may be a person's (PostgreSQL's "Key (email_key)=(ada@example.com) already exists")."""
    return _QUOTED_VALUES.sub(r"\1(…)", text) if "DETAIL:" in text else text
