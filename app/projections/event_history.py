"""event_history keeps event_history_view: the log as the read side may see it.

It serves the event feed (GET /events), each stream's history, and reads "as of" a
past moment, without the query side ever touching the write side's event log.
"""

from app.db import Tx
from app.eventlog import Recorded
from app.projector import Projection

_COLUMNS = (
    "position, event_id, stream_type, stream_id, version, type,"
    " schema_version, payload, occurred_at, correlation_id, causation_id"
)


_NAMES = tuple(column.strip() for column in _COLUMNS.split(","))
_VALUES = ", ".join(f":{name}" for name in _NAMES)


def on_every_event(tx: Tx, e: Recorded) -> None:
    if e.fetched:  # a following service's: its own log does not hold the event
        tx.execute(f"INSERT INTO event_history_view ({_COLUMNS}) VALUES ({_VALUES})", **_row(e))
        return
    # The database copies the row itself: binding its eleven columns from Python cost more than the insert.
    tx.execute(
        f"INSERT INTO event_history_view ({_COLUMNS}) SELECT {_COLUMNS} FROM events WHERE position = :position",
        position=e.position,
    )


def _row(e: Recorded) -> dict:
    return {name: getattr(e, name) for name in _NAMES}


projection = Projection("event_history", tables=["event_history_view"], every_event=on_every_event)
