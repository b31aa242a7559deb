"""Helpers for the devices tests: register devices and post telemetry through the API."""

from datetime import UTC, datetime, timedelta

from tests.support import UNKNOWN_ID  # noqa: F401 (for importers)


def ago(**delta) -> str:
    """A time that long before now, as ISO 8601 with a timezone."""
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


def stored_ago(**delta) -> str:
    """A time that long before now, as the service stores times (UTC, microseconds, Z)."""
    return (datetime.now(UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def create_device(client, name: str = "Boiler 1", kind: str = "sensor") -> dict:
    response = client.post("/devices", json={"name": name, "kind": kind})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def post_readings(client, device_id: str, *readings: dict, **headers):
    """POST a batch of readings; returns the response."""
    return client.post(f"/devices/{device_id}/telemetry", json={"readings": list(readings)}, headers=headers)


def record(client, device_id: str, *readings: dict) -> None:
    """POST a batch that must be accepted."""
    response = post_readings(client, device_id, *readings)
    assert response.status_code == 202, response.get_json()
