"""Devices and their telemetry: commands, events, the device's JSON shape, and the readings' rules.

A telemetry body is one reading ``{metric, value, recorded_at?}`` or a batch
``{readings: [...]}`` of up to 1,000. Batches are checked by a tight loop rather than
nested marshmallow schemas (which cost more than the rest of the request), yet fail the
same way: a ``ValidationError`` whose keys name the field, ``readings.<index>.<field>``
inside a batch.
"""

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from marshmallow import Schema, ValidationError, fields, validate

from app.eventlog import Event, event
from app.messages.fields import Trimmed
from app.times import iso, parse_time

KINDS = ("sensor", "meter", "gateway")
STATUSES = ("active", "decommissioned")
MAX_READINGS = 1000
MAX_FUTURE = timedelta(minutes=5)
METRIC = re.compile(r"[a-z0-9_.]{1,50}")

# ---------------------------------------------------------------- commands


@dataclass(frozen=True)
class RegisterDevice:
    device_id: str
    name: str
    kind: str


@dataclass(frozen=True)
class RecordTelemetry:
    device_id: str
    readings: list[tuple[str, float, str]]  # (metric, value, recorded_at in UTC), from load_readings


@dataclass(frozen=True)
class DecommissionDevice:
    device_id: str
    expected_version: int | None = None  # from If-Match; None accepts any


# ---------------------------------------------------------------- events (stream type "device")


@event("DeviceRegistered")
@dataclass(frozen=True)
class DeviceRegistered(Event):
    name: str
    kind: str
    registered_at: str


@event("TelemetryRecorded")
@dataclass(frozen=True)
class TelemetryRecorded(Event):
    """One accepted batch, in the order it arrived: ``[[metric, value, recorded_at], ...]``
    (value a number, recorded_at ISO 8601 UTC text); rows, not objects, keep a batch compact."""

    readings: list[tuple[str, float, str]]


@event("DeviceDecommissioned")
@dataclass(frozen=True)
class DeviceDecommissioned(Event):
    decommissioned_at: str


# ---------------------------------------------------------------- JSON


def name_key(name: str) -> str:
    """The form in which names are compared: case, Unicode composition and runs of spaces aside
    (canonical caseless matching: composed, case-folded, composed again)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", " ".join(name.split())).casefold())


_UUID = {"format": "uuid"}
_UTC = {"format": "date-time", "description": "ISO 8601 in UTC with microseconds, e.g. 2026-11-23T08:00:00.000000Z"}


class DeviceSchema(Schema):
    """``{id, name, kind, registered_at}``, the reply to POST /devices, whose body is ``{name, kind}``."""

    id = fields.String(dump_only=True, metadata=_UUID)
    name = Trimmed(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "Trimmed; unique among active devices, ignoring case and runs of spaces."},
    )
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    registered_at = fields.String(dump_only=True, metadata=_UTC)


DEVICE = DeviceSchema()

# The shapes below describe replies for the API description; the query side writes them itself.


class DecommissionedDeviceSchema(DeviceSchema):
    """The reply to POST /devices/<id>/decommission."""

    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    decommissioned_at = fields.String(required=True, metadata=_UTC)


class DeviceRowSchema(Schema):
    """A row of GET /devices."""

    id = fields.String(required=True, metadata=_UUID)
    name = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    last_seen_at = fields.String(
        required=True, allow_none=True, metadata={**_UTC, "description": "The latest recorded_at of its readings."}
    )
    reading_count = fields.Integer(required=True)


class MetricStatsSchema(Schema):
    """One metric of one device; ``last_value`` is the reading with the latest ``recorded_at``."""

    count = fields.Integer(required=True)
    min = fields.Float(required=True)
    max = fields.Float(required=True)
    mean = fields.Float(required=True)
    last_value = fields.Float(required=True)
    last_recorded_at = fields.String(required=True, metadata=_UTC)


class DeviceDetailsSchema(DeviceRowSchema):
    """The reply to GET /devices/<id>: the device and its statistics per metric."""

    registered_at = fields.String(required=True, metadata=_UTC)
    decommissioned_at = fields.String(required=True, allow_none=True, metadata=_UTC)
    metrics = fields.Dict(keys=fields.String(), values=fields.Nested(MetricStatsSchema), required=True)


class ReadingSchema(Schema):
    """One reading: as sent (``recorded_at`` optional, any timezone) and as listed (UTC)."""

    metric = fields.String(
        required=True, validate=validate.Regexp(f"^{METRIC.pattern}$"), metadata={"example": "temperature"}
    )
    value = fields.Float(required=True, metadata={"description": "A finite number."})
    recorded_at = fields.String(
        metadata={
            "format": "date-time",
            "description": "ISO 8601 with a timezone, at most 5 minutes ahead; the time it arrived when absent.",
        }
    )


class TelemetrySchema(Schema):
    """The body of POST /devices/<id>/telemetry: ``{readings: [...]}``, or one reading on its own."""

    readings = fields.List(
        fields.Nested(ReadingSchema), required=True, validate=validate.Length(min=1, max=MAX_READINGS)
    )


class AcceptedSchema(Schema):
    accepted = fields.Integer(required=True, metadata={"description": "How many readings were recorded."})


class FleetStatsSchema(Schema):
    """A row of GET /telemetry/stats: one metric over the active devices that reported it."""

    metric = fields.String(required=True)
    devices = fields.Integer(required=True)
    count = fields.Integer(required=True)
    min = fields.Float(required=True)
    max = fields.Float(required=True)
    mean = fields.Float(required=True)


# ---------------------------------------------------------------- readings

MISSING_FIELD = "Missing data for required field."
NULL = "Field may not be null."
UNKNOWN = "Unknown field."
BAD_METRIC = "Must be 1 to 50 characters of a-z, 0-9, '_' and '.'."
NOT_A_NUMBER = "Not a valid number."
NOT_FINITE = "Must be a finite number."
IN_THE_FUTURE = "Must not be more than 5 minutes in the future."
NOT_A_READING = "Must be an object with metric, value and recorded_at."
BATCH_SIZE = f"Must hold 1 to {MAX_READINGS} readings."
FIELDS = frozenset(("metric", "value", "recorded_at"))


_NUMBERS = (int, float, Decimal)  # exact types: a JSON true is a bool, not a number


def load_readings(body: dict, now: datetime) -> list[tuple[str, float, str]]:
    """The readings of a telemetry body as ``(metric, value, recorded_at)``: value a float,
    recorded_at UTC text (``now`` when absent). ValidationError naming every bad field (400)."""
    if "readings" not in body:
        return _check([body], now, lambda field, _index: field)
    errors = {field: [UNKNOWN] for field in body if field != "readings"}
    batch = body["readings"]
    if type(batch) is not list:
        errors["readings"] = ["Not a valid list."]
    elif not 1 <= len(batch) <= MAX_READINGS:
        errors["readings"] = [BATCH_SIZE]
    if errors:
        raise ValidationError(errors)
    return _check(batch, now, lambda field, index: f"readings.{index}.{field}" if field else f"readings.{index}")


def _check(batch: list, now: datetime, key) -> list[tuple[str, float, str]]:
    """Every reading of ``batch`` checked; ``key(field, index)`` names a field in the errors.

    A tight loop over the usual case (a good reading); the messages are worked out only
    for the readings that fail it.
    """
    default_at, latest = iso(now), iso(now + MAX_FUTURE)
    good_metrics: set[str] = set()
    readings, errors = [], {}
    for index, raw in enumerate(batch):
        reading = _reading(raw, default_at, latest, good_metrics)
        if reading is not None:
            readings.append(reading)
        else:
            errors.update((key(field, index), [message]) for field, message in _problems(raw, latest))
    if errors:
        raise ValidationError(errors)
    return readings


def _reading(raw, default_at: str, latest: str, good_metrics: set[str]) -> tuple[str, float, str] | None:
    """The reading as ``(metric, value, recorded_at)``, or None if anything is wrong with it."""
    if type(raw) is not dict or not raw.keys() <= FIELDS:
        return None
    metric = raw.get("metric")
    if type(metric) is not str or (metric not in good_metrics and not METRIC.fullmatch(metric)):
        return None
    good_metrics.add(metric)
    value = raw.get("value")
    if type(value) not in _NUMBERS:
        return None
    try:
        value = float(value)
        recorded_at = parse_time(raw["recorded_at"]) if "recorded_at" in raw else default_at
    except (OverflowError, ValueError):  # an integer beyond float's range; a bad time
        return None
    if not math.isfinite(value) or recorded_at > latest:
        return None
    return metric, value, recorded_at


def _problems(raw, latest: str) -> list[tuple[str, str]]:
    """(field, message) for everything wrong with a reading that ``_reading`` refused."""
    if type(raw) is not dict:
        return [(None, NOT_A_READING)]
    problems = [(field, UNKNOWN) for field in sorted(raw.keys() - FIELDS)]
    for field, check in (("metric", _metric_problem), ("value", _value_problem), ("recorded_at", _time_problem)):
        if field in raw:
            message = NULL if raw[field] is None else check(raw[field], latest)
        else:
            message = None if field == "recorded_at" else MISSING_FIELD
        if message:
            problems.append((field, message))
    return problems


def _metric_problem(metric, _latest: str) -> str | None:
    return None if type(metric) is str and METRIC.fullmatch(metric) else BAD_METRIC


def _value_problem(value, _latest: str) -> str | None:
    if type(value) not in _NUMBERS:
        return NOT_A_NUMBER
    try:
        return None if math.isfinite(float(value)) else NOT_FINITE
    except (OverflowError, ValueError):  # an integer beyond float's range; a signaling NaN
        return NOT_FINITE


def _time_problem(recorded_at, latest: str) -> str | None:
    try:
        return None if parse_time(recorded_at) <= latest else IN_THE_FUTURE
    except ValueError as error:
        return str(error)
