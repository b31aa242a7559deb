"""telemetry_stats keeps the telemetry statistics: telemetry_stats_view, running count, sum,
min, max and last value per device and metric, and telemetry_fleet_stats_view, count and
sum per metric over the ACTIVE devices.

A batch costs one UPSERT per metric in it for each table, however many readings it holds,
and one UPDATE per metric that changes a row only when the batch moves its min or max.
A decommissioned device's own count and sum are subtracted from the fleet's, and its rows
leave the partial min/max indexes (``active = 0``): the fleet's minimum and maximum are read
from those at query time, since subtraction cannot undo a minimum. Both tables live in one
projection because the fleet is adjusted from the device rows: they must move together.
"""

import math
from operator import itemgetter

from app.db import Tx
from app.eventlog import Recorded
from app.messages.devices import DeviceDecommissioned, TelemetryRecorded
from app.projector import Projection

# Neumaier's compensated addition of excluded.sum: the lost low-order part goes to sum_error
# (every right-hand side sees the row as it was). Without it, subtracting a decommissioned
# device's large sum would wipe out the small sums of the devices that remain. The row's own
# columns are named through its alias f: PostgreSQL finds a bare name ambiguous with excluded's.
_ADD_TO_FLEET = """
ON CONFLICT (metric) DO UPDATE SET
    devices = f.devices + excluded.devices,
    count = f.count + excluded.count,
    sum = f.sum + excluded.sum,
    sum_error = f.sum_error + CASE WHEN abs(f.sum) >= abs(excluded.sum)
                                   THEN (f.sum - (f.sum + excluded.sum)) + excluded.sum
                                   ELSE (excluded.sum - (f.sum + excluded.sum)) + f.sum END
"""

# devices: 1 for a device new to the metric, as an integer (PostgreSQL stores no boolean there).
_FLEET_ADDS_BATCH = (
    "INSERT INTO telemetry_fleet_stats_view AS f (metric, devices, count, sum, sum_error)"
    " VALUES (:metric, CASE WHEN EXISTS (SELECT 1 FROM telemetry_stats_view"
    " WHERE device_id = :device_id AND metric = :metric) THEN 0 ELSE 1 END, :count, :sum, 0)" + _ADD_TO_FLEET
)

_FLEET_LOSES_DEVICE = (
    "INSERT INTO telemetry_fleet_stats_view AS f (metric, devices, count, sum, sum_error)"
    " SELECT metric, -1, -count, -sum, 0 FROM telemetry_stats_view WHERE device_id = :id AND active = 1" + _ADD_TO_FLEET
)

# Ties on recorded_at go to the later arrival: a later batch, or later in the same batch.
# min and max are left to _DEVICE_WIDENS_RANGE: an UPDATE that sets them deletes and reinserts
# the row's entries in both partial min/max indexes even when the values stay the same
# (SQLite does not compare), which cost more than the rest of the batch's statistics.
# The CASEs are SQLite's two-argument max() and min(), which PostgreSQL lacks: NULL if either
# side is, and on a tie max() keeps its first argument, min() its second.
_DEVICE_ADDS_BATCH = """
INSERT INTO telemetry_stats_view AS s
    (device_id, metric, active, count, sum, min, max, last_value, last_recorded_at)
VALUES (:device_id, :metric, 1, :count, :sum, :min, :max, :last_value, :last_recorded_at)
ON CONFLICT (device_id, metric) DO UPDATE SET
    count = s.count + excluded.count,
    sum = s.sum + excluded.sum,
    last_value = CASE WHEN excluded.last_recorded_at >= s.last_recorded_at THEN excluded.last_value
                      ELSE s.last_value END,
    last_recorded_at = CASE WHEN s.last_recorded_at >= excluded.last_recorded_at THEN s.last_recorded_at
                            WHEN s.last_recorded_at < excluded.last_recorded_at THEN excluded.last_recorded_at END
"""

# Only a batch that moves the min or max touches the row (and its index entries); most move neither.
_DEVICE_WIDENS_RANGE = (
    "UPDATE telemetry_stats_view SET min = CASE WHEN min < :min THEN min WHEN min >= :min THEN :min END,"
    " max = CASE WHEN max >= :max THEN max WHEN max < :max THEN :max END"
    " WHERE device_id = :device_id AND metric = :metric AND (:min < min OR :max > max)"
)


def summarize(device_id: str, readings: list[tuple[str, float, str]]) -> list[dict]:
    """Per metric of one batch: count, sum, min, max, and the last value by recorded_at."""
    by_metric: dict[str, list[tuple[str, float, str]]] = {}
    for reading in readings:
        by_metric.setdefault(reading[0], []).append(reading)
    summaries = []
    for metric, batch in by_metric.items():
        values = [value for _metric, value, _recorded_at in batch]
        _, last_value, last_recorded_at = max(reversed(batch), key=itemgetter(2))  # of equal times, the later arrival
        summaries.append(
            {
                "device_id": device_id,
                "metric": metric,
                "count": len(values),
                "sum": math.fsum(values),
                "min": min(values),
                "max": max(values),
                "last_value": last_value,
                "last_recorded_at": last_recorded_at,
            }
        )
    return summaries


def on_telemetry_recorded(tx: Tx, e: Recorded) -> None:
    summaries = summarize(e.stream_id, e.data.readings)
    tx.execute_many(_FLEET_ADDS_BATCH, summaries)  # first: it asks whether the device row is new
    tx.execute_many(_DEVICE_ADDS_BATCH, summaries)
    tx.execute_many(_DEVICE_WIDENS_RANGE, summaries)


def on_device_decommissioned(tx: Tx, e: Recorded) -> None:
    tx.execute(_FLEET_LOSES_DEVICE, id=e.stream_id)
    tx.execute(
        "DELETE FROM telemetry_fleet_stats_view WHERE devices = 0"
        " AND metric IN (SELECT metric FROM telemetry_stats_view WHERE device_id = :id)",
        id=e.stream_id,
    )
    tx.execute("UPDATE telemetry_stats_view SET active = 0 WHERE device_id = :id", id=e.stream_id)


projection = Projection(
    "telemetry_stats",
    tables=["telemetry_stats_view", "telemetry_fleet_stats_view"],
    handlers={TelemetryRecorded: on_telemetry_recorded, DeviceDecommissioned: on_device_decommissioned},
)
