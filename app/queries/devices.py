"""Devices, read side, from read tables only:

- GET /devices: ``[{id, name, kind, status, last_seen_at, reading_count}]`` by name, then id;
  ``?kind=`` and ``?status=``; paginated.
- GET /devices/<id>: the device and its statistics per metric; one primary-key read of the
  device and one of its statistics rows, however many readings it has.
- GET /devices/<id>/telemetry?metric=&from=&to=: one metric's raw readings in time order,
  paginated. ``metric`` is required (a time series is one metric; GET /devices/<id> lists them).
- GET /telemetry/stats?metric=: fleet-wide statistics per metric over ACTIVE devices.
"""

import json

from flask import Blueprint
from marshmallow import ValidationError, fields, validate

from app.contract import Reply, operation
from app.db import Tx, transaction
from app.errors import NotFound
from app.http import document_response
from app.messages.devices import (
    BAD_METRIC,
    KINDS,
    METRIC,
    STATUSES,
    DeviceDetailsSchema,
    DeviceRowSchema,
    FleetStatsSchema,
    ReadingSchema,
)
from app.pagination import Page, PageArgs
from app.times import parse_time

routes = Blueprint("devices", __name__)

_DEVICE_COLUMNS = "id, name, kind, status, registered_at, decommissioned_at, last_seen_at, reading_count"

BOILER_ID = "5d0c6a9e-1f2b-4c3d-8e4f-5a6b7c8d9e01"
BOILER = {
    "id": BOILER_ID,
    "name": "Boiler room 1",
    "kind": "sensor",
    "status": "active",
    "last_seen_at": "2026-11-23T09:01:00.000000Z",
    "reading_count": 2,
}
TEMPERATURE = {"count": 2, "min": 21.5, "max": 21.75, "mean": 21.625}
_METRIC = {"description": "1 to 50 of a-z, 0-9, '_' and '.'", "example": "temperature"}
_TIME = {"description": "ISO 8601 with a timezone", "example": "2026-11-23T00:00:00Z"}


class Time(fields.String):
    """ISO 8601 with a timezone, as the service's UTC text."""

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        try:
            return parse_time(super()._deserialize(value, attr, data, **kwargs))
        except ValueError as error:
            raise ValidationError(str(error)) from None


class _Metric(validate.Regexp):
    """METRIC, matched whole (Regexp's $ would also let a trailing newline through)."""

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


_A_METRIC = _Metric(f"^{METRIC.pattern}$", error=BAD_METRIC)


class DeviceListArgs(PageArgs):
    kind = fields.String(validate=validate.OneOf(KINDS), metadata={"description": "Only devices of this kind."})
    status = fields.String(validate=validate.OneOf(STATUSES), metadata={"description": "Only devices in this status."})


class SeriesArgs(PageArgs):
    metric = fields.String(required=True, validate=_A_METRIC, metadata=_METRIC)
    from_ = Time(data_key="from", metadata={**_TIME, "description": "From this time on (inclusive)."})
    to = Time(metadata={**_TIME, "description": "Before this time (exclusive)."})


class FleetArgs(PageArgs):
    metric = fields.String(validate=_A_METRIC, metadata={**_METRIC, "description": "Only this metric."})


@routes.get("/devices")
@operation(
    "List devices by name",
    query=DeviceListArgs,
    reply=Reply(
        "One page of devices, by name then id",
        {"type": "array", "items": DeviceRowSchema},
        example=[BOILER],
        headers=("Link",),
    ),
    errors=(400,),
)
def index(args: dict):
    """``[{id, name, kind, status, last_seen_at, reading_count}]`` by name, then id; 400 for an
    unknown ``kind`` or ``status``, a bad ``limit`` or ``cursor``."""
    page = Page.of(args, key=(str, str))
    conditions, params = [], {"n": page.fetch}
    for name in ("kind", "status"):
        if name in args:
            conditions.append(f"{name} = :{name}")
            params[name] = args[name]
    if page.after is not None:
        conditions.append("(name, id) > (:name, :id)")
        params["name"], params["id"] = page.after
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    with transaction("query") as tx:
        rows = tx.all(
            "SELECT id, name, kind, status, last_seen_at, reading_count FROM device_list_view"
            f" {where} ORDER BY name, id LIMIT :n",
            **params,
        )
    return page.response([row._asdict() for row in rows], key=lambda device: (device["name"], device["id"]))


def _metrics(tx: Tx, device_id: str) -> dict:
    rows = tx.all(
        "SELECT metric, count, sum, min, max, last_value, last_recorded_at FROM telemetry_stats_view"
        " WHERE device_id = :id ORDER BY metric",
        id=device_id,
    )
    return {
        row.metric: {
            "count": row.count,
            "min": row.min,
            "max": row.max,
            "mean": row.sum / row.count,
            "last_value": row.last_value,
            "last_recorded_at": row.last_recorded_at,
        }
        for row in rows
    }


@routes.get("/devices/<uuid:device_id>")
@operation(
    "Read a device and its statistics per metric",
    reply=Reply(
        "The device; `mean` is sum / count, `last_value` the reading with the latest `recorded_at`",
        DeviceDetailsSchema,
        example={
            **BOILER,
            "registered_at": "2026-11-23T08:00:00.000000Z",
            "decommissioned_at": None,
            "metrics": {
                "temperature": {**TEMPERATURE, "last_value": 21.75, "last_recorded_at": "2026-11-23T09:01:00.000000Z"}
            },
        },
        headers=("ETag",),
    ),
    if_none_match=True,
    errors=(404,),
)
def show(device_id: str):
    """The device with ``metrics: {<metric>: {count, min, max, mean, last_value, last_recorded_at}}``;
    ETag: its version. 404 if unknown."""
    with transaction("query") as tx:
        row = tx.first(f"SELECT {_DEVICE_COLUMNS}, version FROM device_list_view WHERE id = :id", id=device_id)
        if row is None:
            raise NotFound("device", device_id)
        document = {**row._asdict(), "metrics": _metrics(tx, device_id)}
    version = document.pop("version")
    return document_response(json.dumps(document, ensure_ascii=False, separators=(",", ":")), version)


@routes.get("/devices/<uuid:device_id>/telemetry")
@operation(
    "Read one metric's readings in time order",
    query=SeriesArgs,
    reply=Reply(
        "One page of readings, oldest first (equal times in arrival order)",
        {"type": "array", "items": ReadingSchema},
        example=[{"metric": "temperature", "value": 21.5, "recorded_at": "2026-11-23T09:00:00.000000Z"}],
        headers=("Link",),
    ),
    errors=(400, 404),
)
def series(device_id: str, args: dict):
    """``[{metric, value, recorded_at}]`` of one metric, oldest first, within ``[from, to)``;
    404 if the device is unknown, 400 for a missing or bad ``metric``, a bad ``from`` or ``to``."""
    page = Page.of(args, key=(str, int, int))
    conditions, params = ["metric = :metric"], {"metric": args["metric"]}
    for name, condition in (("from_", "recorded_at >= :from_"), ("to", "recorded_at < :to")):
        if name in args:
            conditions.append(condition)
            params[name] = args[name]
    if page.after is not None:
        conditions.append("(recorded_at, position, seq) > (:after_at, :after_position, :after_seq)")
        params["after_at"], params["after_position"], params["after_seq"] = page.after
    with transaction("query") as tx:
        if tx.first("SELECT 1 FROM device_list_view WHERE id = :id", id=device_id) is None:
            raise NotFound("device", device_id)
        rows = tx.all(
            "SELECT metric, value, recorded_at, position, seq FROM telemetry_readings_view"
            f" WHERE device_id = :id AND {' AND '.join(conditions)} ORDER BY recorded_at, position, seq LIMIT :n",
            **params,
            id=device_id,
            n=page.fetch,
        )
    readings = [{"metric": row.metric, "value": row.value, "recorded_at": row.recorded_at} for row in rows]
    # The cursor holds the full sort key; the reply shows only the reading.
    sort_keys = {id(reading): (row.recorded_at, row.position, row.seq) for reading, row in zip(readings, rows)}
    return page.response(readings, key=lambda reading: sort_keys[id(reading)])


@routes.get("/telemetry/stats")
@operation(
    "Fleet statistics per metric over the active devices",
    tag="devices",
    query=FleetArgs,
    reply=Reply(
        "One page of metrics, by name",
        {"type": "array", "items": FleetStatsSchema},
        example=[{"metric": "temperature", "devices": 1, **TEMPERATURE}],
        headers=("Link",),
    ),
    errors=(400,),
)
def fleet(args: dict):
    """``[{metric, devices, count, min, max, mean}]`` over active devices, by metric;
    ``?metric=`` keeps one. Count and sum are kept per metric; min and max are one index
    seek each over the active devices' statistics rows."""
    page = Page.of(args, key=(str,))
    conditions, params = [], {"n": page.fetch}
    if "metric" in args:
        conditions.append("f.metric = :metric")
        params["metric"] = args["metric"]
    if page.after is not None:
        conditions.append("f.metric > :after")
        (params["after"],) = page.after
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    with transaction("query") as tx:
        rows = tx.all(
            "SELECT f.metric, f.devices, f.count,"
            " (SELECT s.min FROM telemetry_stats_view s WHERE s.metric = f.metric AND s.active = 1"
            "  ORDER BY s.min LIMIT 1) AS min,"
            " (SELECT s.max FROM telemetry_stats_view s WHERE s.metric = f.metric AND s.active = 1"
            "  ORDER BY s.max DESC LIMIT 1) AS max,"
            " (f.sum + f.sum_error) / NULLIF(f.count, 0) AS mean"  # NULL, as SQLite answers x / 0, not an error
            f" FROM telemetry_fleet_stats_view f {where} ORDER BY f.metric LIMIT :n",
            **params,
        )
    return page.response([row._asdict() for row in rows], key=lambda stats: (stats["metric"],))
