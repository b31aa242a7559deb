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

from flask import Blueprint, request

from app.db import Tx, transaction
from app.errors import NotFound, invalid
from app.http import document_response
from app.messages.devices import BAD_METRIC, KINDS, METRIC, MISSING_FIELD, STATUSES, parse_time
from app.pagination import Page

routes = Blueprint("devices", __name__)

_DEVICE_COLUMNS = "id, name, kind, status, registered_at, decommissioned_at, last_seen_at, reading_count"


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    """``?name=``: one of ``allowed``, or None when absent; 400 otherwise."""
    value = request.args.get(name)
    if value is not None and value not in allowed:
        raise invalid({name: [f"Must be one of: {', '.join(allowed)}."]})
    return value


@routes.get("/devices")
def index():
    """``[{id, name, kind, status, last_seen_at, reading_count}]`` by name, then id; 400 for an
    unknown ``kind`` or ``status``, a bad ``limit`` or ``cursor``."""
    page = Page.from_request(key_arity=2)
    conditions, params = [], {"n": page.fetch}
    for name, allowed in (("kind", KINDS), ("status", STATUSES)):
        value = _choice(name, allowed)
        if value is not None:
            conditions.append(f"{name} = :{name}")
            params[name] = value
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


def _series_conditions() -> tuple[list[str], dict]:
    """SQL conditions and parameters for ``metric`` (required), ``from`` (inclusive) and ``to``
    (exclusive), times with a timezone; 400 naming each bad one."""
    errors, conditions, params = {}, ["metric = :metric"], {}
    metric = request.args.get("metric")
    if metric is None or not METRIC.fullmatch(metric):
        errors["metric"] = [MISSING_FIELD if metric is None else BAD_METRIC]
    params["metric"] = metric
    for name, condition in (("from", "recorded_at >= :from"), ("to", "recorded_at < :to")):
        if name in request.args:
            try:
                params[name] = parse_time(request.args[name])
            except ValueError as error:
                errors[name] = [str(error)]
            conditions.append(condition)
    if errors:
        raise invalid(errors)
    return conditions, params


@routes.get("/devices/<uuid:device_id>/telemetry")
def series(device_id: str):
    """``[{metric, value, recorded_at}]`` of one metric, oldest first, within ``[from, to)``;
    404 if the device is unknown, 400 for a missing or bad ``metric``, a bad ``from`` or ``to``."""
    page = Page.from_request(key_arity=3)
    conditions, params = _series_conditions()
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
def fleet():
    """``[{metric, devices, count, min, max, mean}]`` over active devices, by metric;
    ``?metric=`` keeps one. Count and sum are kept per metric; min and max are one index
    seek each over the active devices' statistics rows."""
    page = Page.from_request(key_arity=1)
    conditions, params = [], {"n": page.fetch}
    metric = request.args.get("metric")
    if metric is not None:
        if not METRIC.fullmatch(metric):
            raise invalid({"metric": [BAD_METRIC]})
        conditions.append("f.metric = :metric")
        params["metric"] = metric
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
            " (f.sum + f.sum_error) / f.count AS mean"
            f" FROM telemetry_fleet_stats_view f {where} ORDER BY f.metric LIMIT :n",
            **params,
        )
    return page.response([row._asdict() for row in rows], key=lambda stats: (stats["metric"],))
