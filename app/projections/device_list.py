"""device_list keeps device_list_view: one row per device, for GET /devices (by name, with
``?kind=`` and ``?status=``) and for the device part of GET /devices/<id>."""

from app.db import Tx
from app.eventlog import Recorded
from app.messages.devices import DeviceDecommissioned, DeviceRegistered, TelemetryRecorded
from app.projector import Projection


def on_device_registered(tx: Tx, e: Recorded) -> None:
    tx.execute(
        "INSERT INTO device_list_view (id, name, kind, status, registered_at, reading_count, version)"
        " VALUES (:id, :name, :kind, 'active', :registered_at, 0, :version)",
        id=e.stream_id,
        name=e.data.name,
        kind=e.data.kind,
        registered_at=e.data.registered_at,
        version=e.version,
    )


def on_telemetry_recorded(tx: Tx, e: Recorded) -> None:
    readings = e.data.readings
    # A CASE, not SQLite's two-argument max(), which PostgreSQL lacks; NULL: none seen yet.
    tx.execute(
        "UPDATE device_list_view SET reading_count = reading_count + :n, version = :version,"
        " last_seen_at = CASE WHEN last_seen_at >= :latest THEN last_seen_at ELSE :latest END WHERE id = :id",
        id=e.stream_id,
        n=len(readings),
        latest=max(recorded_at for _metric, _value, recorded_at in readings),
        version=e.version,
    )


def on_device_decommissioned(tx: Tx, e: Recorded) -> None:
    tx.execute(
        "UPDATE device_list_view SET status = 'decommissioned', decommissioned_at = :at, version = :version"
        " WHERE id = :id",
        id=e.stream_id,
        at=e.data.decommissioned_at,
        version=e.version,
    )


projection = Projection(
    "device_list",
    tables=["device_list_view"],
    handlers={
        DeviceRegistered: on_device_registered,
        TelemetryRecorded: on_telemetry_recorded,
        DeviceDecommissioned: on_device_decommissioned,
    },
)
