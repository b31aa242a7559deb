"""event_history keeps event_history_view: the log as the read side may see it.

It serves the event feed (GET /events), each stream's history, and reads "as of" a
past moment, without the query side ever touching the write side's event log.

Events with personal fields are kept as the log reads them (app/personal_data.py): their
fields opened while the person's key exists. When an event destroys a stream's key (a
user deleted or erased, an employee erased), that stream's rows are rewritten with the
placeholders, exactly as a rebuild reads them from then on; and so are those of the streams
erased before their fields were sealed, when an operator seals them (app/log_rewrites.py).
"""

import json

import app.messages  # noqa: F401 (every event class registered: which ones erase is asked below)
from app.db import Tx
from app.eventlog import Recorded, encode, erased, erasing_types, has_personal_data
from app.log_rewrites import PersonalDataEncrypted
from app.projector import Projection

_COLUMNS = (
    "position, event_id, stream_type, stream_id, version, type,"
    " schema_version, payload, occurred_at, correlation_id, causation_id"
)


_NAMES = tuple(column.strip() for column in _COLUMNS.split(","))
_VALUES = ", ".join(f":{name}" for name in _NAMES)


def on_every_event(tx: Tx, e: Recorded) -> None:
    if e.fetched or has_personal_data(e.type):  # as read: opened, or another service's
        tx.execute(f"INSERT INTO event_history_view ({_COLUMNS}) VALUES ({_VALUES})", **_row(e))
    else:
        # The database copies the row itself: binding its eleven columns from Python cost more than the insert.
        tx.execute(
            f"INSERT INTO event_history_view ({_COLUMNS}) SELECT {_COLUMNS} FROM events WHERE position = :position",
            position=e.position,
        )
    if e.type in _ERASING:
        _erase_stream(tx, e.stream_type, e.stream_id)
    elif e.type == PersonalDataEncrypted.type_name:  # streams erased before their fields were sealed
        for stream_type, stream_id in e.data.erased_streams:
            _erase_stream(tx, stream_type, stream_id)


def _erase_stream(tx: Tx, stream_type: str, stream_id: str) -> None:
    """Rewrite the stream's rows that hold personal fields with their placeholders."""
    rows = tx.all(
        "SELECT position, type, schema_version, payload FROM event_history_view"
        " WHERE stream_type = :stream_type AND stream_id = :stream_id",
        stream_type=stream_type,
        stream_id=stream_id,
    )
    changed = []
    for row in rows:
        if has_personal_data(row.type):
            payload = encode(erased(row.type, row.schema_version, json.loads(row.payload)))
            if payload != row.payload:
                changed.append({"position": row.position, "payload": payload})
    tx.execute_many("UPDATE event_history_view SET payload = :payload WHERE position = :position", changed)


def _row(e: Recorded) -> dict:
    return {name: getattr(e, name) for name in _NAMES}


_ERASING = erasing_types()

# Version 2: the rows of a stream whose key an event destroyed read as placeholders (a start
# rebuilds the read model of a database made before, so users deleted then are forgotten too).
projection = Projection("event_history", tables=["event_history_view"], every_event=on_every_event, version=2)
