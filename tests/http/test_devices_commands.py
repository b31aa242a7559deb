"""POST /devices, POST /devices/<id>/telemetry and POST /devices/<id>/decommission through the
Flask test client: every status, and what each changes."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.db import is_read_table
from tests.device_support import ago, create_device, post_readings, record, stored_ago
from tests.support import (
    SHARED_FIXTURE,
    UNKNOWN_ID,
    assert_problem,
    events,
    last_payload,
    nothing_changes,
    query,
    tables,
)

# ---------------------------------------------------------------- register


def test_registering_a_device_answers_201_with_the_device_its_location_and_etag(client):
    response = client.post("/devices", json={"name": " Boiler 1 ", "kind": "sensor"})
    assert response.status_code == 201
    device = response.get_json()
    assert device == {
        "id": device["id"],
        "name": "Boiler 1",
        "kind": "sensor",
        "registered_at": device["registered_at"],
    }
    assert response.headers["Location"] == f"/devices/{device['id']}"
    assert response.headers["ETag"] == '"1"'


def test_the_registration_time_is_utc_iso_8601(client):
    registered_at = create_device(client)["registered_at"]
    assert len(registered_at) == 27 and registered_at.endswith("Z") and registered_at[10] == "T"


def test_registering_records_device_registered_with_name_kind_and_time(app, client):
    device = create_device(client)
    assert events(app)[-1][1:] == ("device", device["id"], 1, "DeviceRegistered")
    payload = json.loads(last_payload(app))
    assert payload == {"name": "Boiler 1", "kind": "sensor", "registered_at": device["registered_at"]}


def test_a_registered_device_is_listed_and_readable_at_once(client):
    device = create_device(client)
    assert client.get(f"/devices/{device['id']}").status_code == 200
    assert [d["id"] for d in client.get("/devices").get_json()] == [device["id"]]


@pytest.mark.parametrize("name", ["Boiler 1", "boiler 1", "BOILER 1", "  Boiler   1 "])
def test_a_name_an_active_device_has_answers_409_whatever_the_case_or_spacing(app, client, name):
    create_device(client)
    with nothing_changes(app):
        response = client.post("/devices", json={"name": name, "kind": "meter"})
    assert_problem(response, 409)
    assert response.get_json()["errors"] == {"name": ["An active device already has this name."]}


def test_a_decommissioned_devices_name_can_be_registered_again(client):
    device = create_device(client)
    assert client.post(f"/devices/{device['id']}/decommission").status_code == 200
    again = client.post("/devices", json={"name": "boiler 1", "kind": "meter"})
    assert again.status_code == 201
    assert again.get_json()["id"] != device["id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "sensor"}, "name"),
        ({"name": "x"}, "kind"),
        ({"name": "   ", "kind": "sensor"}, "name"),
        ({"name": "x" * 101, "kind": "sensor"}, "name"),
        ({"name": 5, "kind": "sensor"}, "name"),
        ({"name": "x", "kind": "robot"}, "kind"),
        ({"name": "x", "kind": "Sensor"}, "kind"),
        ({"name": "x", "kind": "sensor", "id": UNKNOWN_ID}, "id"),
        ({"name": "x", "kind": "sensor", "status": "active"}, "status"),
    ],
)
def test_an_invalid_device_answers_400_naming_the_field_and_changes_nothing(app, client, body, field):
    with nothing_changes(app):
        response = client.post("/devices", json=body)
    assert_problem(response, 400, field)


# ---------------------------------------------------------------- telemetry


def test_one_reading_answers_202_with_one_accepted(client):
    device = create_device(client)
    response = client.post(f"/devices/{device['id']}/telemetry", json={"metric": "temperature", "value": 21.5})
    assert response.status_code == 202
    assert response.get_json() == {"accepted": 1}


def test_a_batch_answers_202_with_how_many_were_accepted(client):
    device = create_device(client)
    response = post_readings(client, device["id"], *[{"metric": "t", "value": n} for n in range(7)])
    assert response.status_code == 202
    assert response.get_json() == {"accepted": 7}


def test_a_batch_of_1000_readings_is_accepted(client):
    device = create_device(client)
    response = post_readings(client, device["id"], *[{"metric": "t", "value": n} for n in range(1000)])
    assert response.get_json() == {"accepted": 1000}


def test_a_batch_is_one_telemetry_recorded_event_at_the_next_version(app, client):
    device = create_device(client)
    record(client, device["id"], {"metric": "t", "value": 1}, {"metric": "h", "value": 2})
    record(client, device["id"], {"metric": "t", "value": 3})
    assert [e[1:] for e in events(app)[-2:]] == [
        ("device", device["id"], 2, "TelemetryRecorded"),
        ("device", device["id"], 3, "TelemetryRecorded"),
    ]


def test_the_event_carries_each_reading_as_metric_value_and_utc_time(app, client):
    device = create_device(client)
    record(client, device["id"], {"metric": "t", "value": 21, "recorded_at": "2024-01-01T13:00:00+01:00"})
    assert json.loads(last_payload(app)) == {"readings": [["t", 21.0, "2024-01-01T12:00:00.000000Z"]]}


def test_telemetry_writes_no_row_per_reading_on_the_write_side(app, client):
    device = create_device(client)
    record(client, device["id"], *[{"metric": "t", "value": n} for n in range(50)])
    write_tables = [name for name in tables(app) if not is_read_table(name) and not name.startswith("sqlite_")]
    rows = sum(query(app, f"SELECT count(*) FROM {table}")[0][0] for table in write_tables if table != "events")
    assert rows < 50
    assert query(app, "SELECT version FROM devices WHERE id = ?", device["id"]) == [(2,)]


def test_a_reading_without_a_time_is_recorded_at_the_time_it_arrived(client):
    device = create_device(client)
    before = stored_ago(seconds=0)
    record(client, device["id"], {"metric": "t", "value": 1})
    (reading,) = client.get(f"/devices/{device['id']}/telemetry?metric=t").get_json()
    assert before <= reading["recorded_at"] <= stored_ago(seconds=-1)


def test_readings_may_arrive_out_of_order(client):
    device = create_device(client)
    record(client, device["id"], {"metric": "t", "value": 2, "recorded_at": ago(minutes=1)})
    response = post_readings(client, device["id"], {"metric": "t", "value": 1, "recorded_at": ago(hours=1)})
    assert response.status_code == 202


def test_one_bad_reading_rejects_the_whole_batch_naming_its_index(app, client):
    device = create_device(client)
    readings = [{"metric": "t", "value": n} for n in range(5)]
    readings[3] = {"metric": "t", "value": "hot"}
    with nothing_changes(app):
        response = post_readings(client, device["id"], *readings)
    assert_problem(response, 400)
    assert response.get_json()["errors"] == {"readings.3.value": ["Not a valid number."]}


@pytest.mark.parametrize(
    ("reading", "field"),
    [
        ({"value": 1}, "metric"),
        ({"metric": "Temp", "value": 1}, "metric"),
        ({"metric": "x" * 51, "value": 1}, "metric"),
        ({"metric": "t"}, "value"),
        ({"metric": "t", "value": "1"}, "value"),
        ({"metric": "t", "value": True}, "value"),
        ({"metric": "t", "value": 1, "recorded_at": "2026-01-01T00:00:00"}, "recorded_at"),
        ({"metric": "t", "value": 1, "recorded_at": "soon"}, "recorded_at"),
        ({"metric": "t", "value": 1, "unit": "C"}, "unit"),
    ],
)
def test_an_invalid_single_reading_answers_400_naming_the_field_and_changes_nothing(app, client, reading, field):
    device = create_device(client)
    with nothing_changes(app):
        response = client.post(f"/devices/{device['id']}/telemetry", json=reading)
    assert_problem(response, 400)
    assert list(response.get_json()["errors"]) == [field]


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1" * 400])
def test_a_number_beyond_a_float_answers_400_naming_the_value(client, number):
    device = create_device(client)
    raw = f'{{"metric": "t", "value": {number}}}'
    response = client.post(f"/devices/{device['id']}/telemetry", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"value": ["Must be a finite number."]}


def test_a_time_more_than_5_minutes_ahead_answers_400(client):
    device = create_device(client)
    response = client.post(
        f"/devices/{device['id']}/telemetry", json={"metric": "t", "value": 1, "recorded_at": ago(minutes=-6)}
    )
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"recorded_at": ["Must not be more than 5 minutes in the future."]}


@pytest.mark.parametrize("raw", [b'{"metric": "t", "value": NaN}', b'{"metric": "t", "value": Infinity}'])
def test_nan_and_infinity_answer_400(client, raw):
    device = create_device(client)
    assert_problem(client.post(f"/devices/{device['id']}/telemetry", data=raw, content_type="application/json"), 400)


@pytest.mark.parametrize("count", [0, 1001])
def test_an_empty_batch_or_one_above_1000_answers_400(client, count):
    device = create_device(client)
    response = post_readings(client, device["id"], *[{"metric": "t", "value": 1}] * count)
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"readings": ["Must hold 1 to 1000 readings."]}


def test_telemetry_for_a_decommissioned_device_answers_409_and_changes_nothing(app, client):
    device = create_device(client)
    client.post(f"/devices/{device['id']}/decommission")
    with nothing_changes(app):
        response = post_readings(client, device["id"], {"metric": "t", "value": 1})
    assert_problem(response, 409)
    assert "decommissioned" in response.get_json()["detail"]


def test_a_retried_batch_with_the_same_idempotency_key_is_counted_once(client):
    device = create_device(client)
    reading = {"metric": "t", "value": 1, "recorded_at": ago(minutes=1)}
    for _ in range(2):
        assert post_readings(client, device["id"], reading, **{"Idempotency-Key": "batch-1"}).status_code == 202
    assert client.get(f"/devices/{device['id']}").get_json()["reading_count"] == 1


# ---------------------------------------------------------------- decommission


def test_decommissioning_answers_200_with_the_device_and_its_new_etag(client):
    device = create_device(client)
    response = client.post(f"/devices/{device['id']}/decommission")
    assert response.status_code == 200
    body = response.get_json()
    assert body == {**device, "status": "decommissioned", "decommissioned_at": body["decommissioned_at"]}
    assert body["decommissioned_at"] >= device["registered_at"]
    assert response.headers["ETag"] == '"2"'


def test_decommissioning_records_device_decommissioned_at_the_next_version(app, client):
    device = create_device(client)
    record(client, device["id"], {"metric": "t", "value": 1})
    decommissioned_at = client.post(f"/devices/{device['id']}/decommission").get_json()["decommissioned_at"]
    assert events(app)[-1][1:] == ("device", device["id"], 3, "DeviceDecommissioned")
    assert json.loads(last_payload(app)) == {"decommissioned_at": decommissioned_at}


def test_decommissioning_needs_no_body(client):
    device = create_device(client)
    response = client.post(f"/devices/{device['id']}/decommission", data="")
    assert response.status_code == 200


def test_decommissioning_twice_answers_409_the_second_time(app, client):
    device = create_device(client)
    client.post(f"/devices/{device['id']}/decommission")
    with nothing_changes(app):
        response = client.post(f"/devices/{device['id']}/decommission")
    assert_problem(response, 409)


def test_decommissioning_with_the_current_etag_succeeds(client):
    device = create_device(client)
    record(client, device["id"], {"metric": "t", "value": 1})
    response = client.post(f"/devices/{device['id']}/decommission", headers={"If-Match": '"2"'})
    assert response.status_code == 200


def test_decommissioning_with_a_stale_etag_answers_412_and_changes_nothing(app, client):
    device = create_device(client)
    record(client, device["id"], {"metric": "t", "value": 1})
    with nothing_changes(app):
        response = client.post(f"/devices/{device['id']}/decommission", headers={"If-Match": '"1"'})
    assert_problem(response, 412)
    assert response.get_json()["current_version"] == 2
    assert response.headers["ETag"] == '"2"'


def test_decommissioning_with_a_malformed_if_match_answers_400(client):
    device = create_device(client)
    response = client.post(f"/devices/{device['id']}/decommission", headers={"If-Match": "2"})
    assert response.status_code == 400


# ---------------------------------------------------------------- hostile input

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(
        ["sensor", "temperature", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "9999-12-31T23:59:59-23:59"]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
fields = st.sampled_from(["name", "kind", "metric", "value", "recorded_at", "readings", "id"])
bodies = (
    st.dictionaries(fields, values | st.lists(st.dictionaries(fields, values, max_size=4), max_size=4), max_size=4)
    | values
)


@pytest.fixture
def device(client) -> dict:
    return create_device(client, name="Target")


@settings(max_examples=150, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(body=bodies, route=st.sampled_from(["register", "telemetry", "decommission"]))
def test_any_json_body_on_a_device_route_gets_an_answer_below_500(client, device, body, route):
    path = {"register": "/devices", "telemetry": f"/devices/{device['id']}/telemetry"}.get(route)
    path = path or f"/devices/{UNKNOWN_ID}/decommission"
    response = client.post(path, data=json.dumps(body), content_type="application/json")
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"
