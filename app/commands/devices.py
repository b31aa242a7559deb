"""Devices: the write table, the rules, the command handlers and the command routes.

POST /devices, POST /devices/<id>/telemetry, POST /devices/<id>/decommission. A name
belongs to at most one ACTIVE device (compared by ``name_key``): the partial UNIQUE
index on ``devices.name_key`` decides, so two workers racing cannot both win. Telemetry
writes no row per reading here: the device row's version moves by one per batch, and
the readings travel in the batch's one TelemetryRecorded event.
"""

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from flask import Blueprint
from sqlalchemy.exc import IntegrityError

from app.bus import UnitOfWork, execute, expect_version
from app.contract import Reply, operation
from app.errors import NotFound, Problem
from app.http import created, etag, if_match, json_body
from app.ids import new_id
from app.messages.devices import (
    DEVICE,
    AcceptedSchema,
    DecommissionDevice,
    DecommissionedDeviceSchema,
    DeviceDecommissioned,
    DeviceRegistered,
    RecordTelemetry,
    RegisterDevice,
    TelemetryRecorded,
    TelemetrySchema,
    load_readings,
    name_key,
)
from app.times import utc_now

STREAM = "device"
# What a duplicate active name_key's error names: SQLite the column, PostgreSQL the index.
_NAME_KEY_INDEX = ("devices.name_key", "devices_by_active_name_key")


@dataclass(frozen=True)
class Device:
    """A row of the ``devices`` write table (its ``name_key`` is derived from ``name``)."""

    id: str
    name: str
    kind: str
    status: str
    registered_at: str
    version: int


class NameTaken(Problem):
    def __init__(self, name: str):
        super().__init__(
            409,
            f'An active device is already named "{name}" (names are compared ignoring case and extra spaces).',
            errors={"name": ["An active device already has this name."]},
        )


class Decommissioned(Problem):
    def __init__(self, device_id: str):
        super().__init__(409, f"Device {device_id} is decommissioned; it takes no more commands.")


def _load(uow: UnitOfWork, device_id: str) -> Device:
    """The device as the write table has it; NotFound (404) if there is none."""
    row = uow.first("SELECT id, name, kind, status, registered_at, version FROM devices WHERE id = :id", id=device_id)
    if row is None:
        raise NotFound("device", device_id)
    return Device(*row)


def _load_active(uow: UnitOfWork, device_id: str) -> Device:
    """The device, if it is active; 404 if unknown, 409 if decommissioned."""
    device = _load(uow, device_id)
    if device.status != "active":
        raise Decommissioned(device_id)
    return device


def register_device(uow: UnitOfWork, cmd: RegisterDevice) -> Device:
    """Add an active device; 409 if an active device has the same name (by ``name_key``)."""
    device = Device(cmd.device_id, cmd.name, cmd.kind, "active", utc_now(), version=1)
    try:
        uow.execute(
            "INSERT INTO devices (id, name, name_key, kind, status, registered_at, version)"
            " VALUES (:id, :name, :name_key, :kind, :status, :registered_at, :version)",
            **asdict(device),
            name_key=name_key(device.name),
        )
    except IntegrityError as error:
        if not any(name in str(error.orig) for name in _NAME_KEY_INDEX):
            raise
        raise NameTaken(device.name) from None
    uow.record(STREAM, device.id, device.version, DeviceRegistered(device.name, device.kind, device.registered_at))
    return device


def record_telemetry(uow: UnitOfWork, cmd: RecordTelemetry) -> int:
    """Accept a checked batch as one event; 404 if the device is unknown, 409 if decommissioned.
    Returns how many readings were accepted."""
    device = _load_active(uow, cmd.device_id)
    version = device.version + 1
    uow.execute("UPDATE devices SET version = :version WHERE id = :id", id=device.id, version=version)
    uow.record(STREAM, device.id, version, TelemetryRecorded(cmd.readings))
    return len(cmd.readings)


def decommission_device(uow: UnitOfWork, cmd: DecommissionDevice) -> tuple[Device, str]:
    """Retire the device, freeing its name; 404 if unknown, 412 on a stale If-Match, 409 if
    already decommissioned. Returns the device and when it was decommissioned."""
    current = _load(uow, cmd.device_id)
    expect_version(current.version, cmd.expected_version)
    if current.status != "active":
        raise Decommissioned(current.id)
    device = Device(
        current.id, current.name, current.kind, "decommissioned", current.registered_at, current.version + 1
    )
    uow.execute(
        "UPDATE devices SET status = :status, version = :version WHERE id = :id",
        id=device.id,
        status=device.status,
        version=device.version,
    )
    decommissioned_at = utc_now()
    uow.record(STREAM, device.id, device.version, DeviceDecommissioned(decommissioned_at))
    return device, decommissioned_at


HANDLERS = {
    RegisterDevice: register_device,
    RecordTelemetry: record_telemetry,
    DecommissionDevice: decommission_device,
}

# ---------------------------------------------------------------- routes

routes = Blueprint("devices", __name__)

BOILER_ID = "5d0c6a9e-1f2b-4c3d-8e4f-5a6b7c8d9e01"
BOILER = {"id": BOILER_ID, "name": "Boiler room 1", "kind": "sensor", "registered_at": "2026-11-23T08:00:00.000000Z"}
BATCH = {
    "readings": [
        {"metric": "temperature", "value": 21.5, "recorded_at": "2026-11-23T09:00:00Z"},
        {"metric": "temperature", "value": 21.75, "recorded_at": "2026-11-23T10:01:00+01:00"},
    ]
}


@routes.post("/devices")
@operation(
    "Register a device",
    body=DEVICE,
    example={"name": "Boiler room 1", "kind": "sensor"},
    status=201,
    reply=Reply("The device registered, active", DEVICE, example=BOILER, headers=("Location", "ETag")),
    errors=(409,),
)
def register():
    fields = DEVICE.load(json_body())
    device = execute(RegisterDevice(device_id=new_id(), **fields))
    return created(DEVICE.dump(device), device.id, device.version)


@routes.post("/devices/<uuid:device_id>/telemetry")
@operation(
    "Record readings: one, or a batch of up to 1,000 (all or none)",
    description="The body is `{readings: [...]}` or one reading `{metric, value, recorded_at?}` on its own. "
    "A batch is accepted whole or not at all: a 400 names each bad reading by its index "
    "(`readings.3.value`). 404 for an unknown device, 409 for a decommissioned one.",
    body=TelemetrySchema,
    example=BATCH,
    status=202,
    reply=Reply("Recorded", AcceptedSchema, example={"accepted": 2}),
    errors=(404, 409),
)
def telemetry(device_id: str):
    readings = load_readings(json_body(), now=datetime.now(UTC))
    accepted = execute(RecordTelemetry(device_id=device_id, readings=readings))
    return {"accepted": accepted}, 202


@routes.post("/devices/<uuid:device_id>/decommission")
@operation(
    "Decommission a device: it takes no more telemetry, leaves the fleet statistics, frees its name",
    reply=Reply(
        "The device, decommissioned",
        DecommissionedDeviceSchema,
        example={**BOILER, "status": "decommissioned", "decommissioned_at": "2026-11-23T12:00:00.000000Z"},
        headers=("ETag",),
    ),
    if_match=True,
    errors=(404, 409),
)
def decommission(device_id: str):
    device, decommissioned_at = execute(DecommissionDevice(device_id=device_id, expected_version=if_match()))
    reply = {**DEVICE.dump(device), "status": device.status, "decommissioned_at": decommissioned_at}
    return reply, {"ETag": etag(device.version)}
