"""telemetry_readings keeps telemetry_readings_view: every accepted reading, clustered by
(device, metric, recorded_at) for GET /devices/<id>/telemetry. A batch is one executemany."""

from app.db import Tx
from app.eventlog import Recorded
from app.messages.devices import TelemetryRecorded
from app.projector import Projection

_INSERT = (
    "INSERT INTO telemetry_readings_view (device_id, metric, recorded_at, position, seq, value)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


def on_telemetry_recorded(tx: Tx, e: Recorded) -> None:
    device_id, position = e.stream_id, e.position
    tx.execute_many(
        _INSERT,
        [
            (device_id, metric, recorded_at, position, seq, value)
            for seq, (metric, value, recorded_at) in enumerate(e.data.readings)
        ],
    )


projection = Projection(
    "telemetry_readings",
    tables=["telemetry_readings_view"],
    handlers={TelemetryRecorded: on_telemetry_recorded},
)
