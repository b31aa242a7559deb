"""event_history keeps event_history_view: the log as the read side may see it.

It serves the event feed (GET /events), each stream's history, and reads "as of" a
past moment, without the query side ever touching the write side's event log.
"""

from app.db import Tx
from app.eventlog import Recorded
from app.projector import Projection


def on_every_event(tx: Tx, e: Recorded) -> None:
    tx.execute(
        "INSERT INTO event_history_view (position, event_id, stream_type, stream_id, version, type,"
        " schema_version, payload, occurred_at, correlation_id, causation_id)"
        " VALUES (:position, :event_id, :stream_type, :stream_id, :version, :type,"
        " :schema_version, :payload, :occurred_at, :correlation_id, :causation_id)",
        position=e.position,
        event_id=e.event_id,
        stream_type=e.stream_type,
        stream_id=e.stream_id,
        version=e.version,
        type=e.type,
        schema_version=e.schema_version,
        payload=e.payload,
        occurred_at=e.occurred_at,
        correlation_id=e.correlation_id,
        causation_id=e.causation_id,
    )


projection = Projection("event_history", tables=["event_history_view"], every_event=on_every_event)
