"""GET /devices, GET /devices/<id>, GET /devices/<id>/telemetry and GET /telemetry/stats
through the Flask test client."""

import pytest

from tests.device_support import create_device, record, stored_ago
from tests.support import all_pages, assert_problem


def at(minute: int) -> str:
    return f"2024-03-01T10:{minute:02d}:00.000000Z"


# ---------------------------------------------------------------- GET /devices


def test_a_device_is_listed_with_status_last_seen_and_reading_count(client):
    device = create_device(client)
    record(client, device["id"], {"metric": "t", "value": 1, "recorded_at": at(5)}, {"metric": "h", "value": 2})
    assert client.get("/devices").get_json() == [
        {
            "id": device["id"],
            "name": "Boiler 1",
            "kind": "sensor",
            "status": "active",
            "last_seen_at": client.get(f"/devices/{device['id']}").get_json()["last_seen_at"],
            "reading_count": 2,
        }
    ]


def test_a_device_without_readings_has_not_been_seen(client):
    create_device(client)
    (listed,) = client.get("/devices").get_json()
    assert (listed["last_seen_at"], listed["reading_count"]) == (None, 0)


def test_last_seen_is_the_latest_reading_time_even_when_an_older_one_arrives_last(client):
    device = create_device(client)
    record(client, device["id"], {"metric": "t", "value": 1, "recorded_at": at(30)})
    record(client, device["id"], {"metric": "t", "value": 1, "recorded_at": at(10)})
    assert client.get("/devices").get_json()[0]["last_seen_at"] == at(30)


def test_devices_are_listed_by_name(client):
    for name in ["Pump", "Boiler", "Meter 2", "Meter 10"]:
        create_device(client, name=name)
    assert [d["name"] for d in client.get("/devices").get_json()] == ["Boiler", "Meter 10", "Meter 2", "Pump"]


def test_the_kind_filter_keeps_one_kind(client):
    create_device(client, "A", "sensor")
    meter = create_device(client, "B", "meter")
    assert [d["id"] for d in client.get("/devices?kind=meter").get_json()] == [meter["id"]]


def test_the_status_filter_keeps_one_status(client):
    gone = create_device(client, "A")
    kept = create_device(client, "B")
    client.post(f"/devices/{gone['id']}/decommission")
    assert [d["id"] for d in client.get("/devices?status=active").get_json()] == [kept["id"]]
    assert [d["id"] for d in client.get("/devices?status=decommissioned").get_json()] == [gone["id"]]


def test_kind_and_status_filters_combine(client):
    create_device(client, "A", "meter")
    b = create_device(client, "B", "meter")
    create_device(client, "C", "sensor")
    client.post(f"/devices/{b['id']}/decommission")
    assert [d["name"] for d in client.get("/devices?kind=meter&status=active").get_json()] == ["A"]


@pytest.mark.parametrize(("query", "field"), [("kind=robot", "kind"), ("status=retired", "status"), ("kind=", "kind")])
def test_an_unknown_kind_or_status_answers_400_naming_it(client, query, field):
    assert_problem(client.get(f"/devices?{query}"), 400, field)


def test_pages_of_devices_follow_the_link_header_through_every_device_once(client):
    for n in range(7):
        create_device(client, name=f"Device {n % 3}{n}", kind="meter")
    create_device(client, name="Other", kind="sensor")
    rows, pages = all_pages(client, "/devices?limit=3&kind=meter")
    assert pages == 3
    assert rows == client.get("/devices?kind=meter").get_json()
    assert len({d["id"] for d in rows}) == 7


# ---------------------------------------------------------------- GET /devices/<id>


def test_a_device_is_readable_with_its_statistics_per_metric(client):
    device = create_device(client)
    record(
        client,
        device["id"],
        {"metric": "t", "value": 20, "recorded_at": at(1)},
        {"metric": "t", "value": 23, "recorded_at": at(3)},
        {"metric": "h", "value": 0.5, "recorded_at": at(2)},
    )
    response = client.get(f"/devices/{device['id']}")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        **device,
        "status": "active",
        "decommissioned_at": None,
        "last_seen_at": at(3),
        "reading_count": 3,
        "metrics": {
            "h": {"count": 1, "min": 0.5, "max": 0.5, "mean": 0.5, "last_value": 0.5, "last_recorded_at": at(2)},
            "t": {"count": 2, "min": 20.0, "max": 23.0, "mean": 21.5, "last_value": 23.0, "last_recorded_at": at(3)},
        },
    }


def test_a_device_without_readings_has_no_metrics(client):
    device = create_device(client)
    assert client.get(f"/devices/{device['id']}").get_json()["metrics"] == {}


def test_an_out_of_order_reading_counts_but_the_last_value_has_the_latest_time(client):
    device = create_device(client)
    record(client, device["id"], {"metric": "t", "value": 10, "recorded_at": at(30)})
    record(client, device["id"], {"metric": "t", "value": 99, "recorded_at": at(5)})
    stats = client.get(f"/devices/{device['id']}").get_json()["metrics"]["t"]
    assert stats == {"count": 2, "min": 10.0, "max": 99.0, "mean": 54.5, "last_value": 10.0, "last_recorded_at": at(30)}


def test_a_decommissioned_device_is_still_readable_with_its_statistics(client):
    device = create_device(client)
    record(client, device["id"], {"metric": "t", "value": 1, "recorded_at": at(1)})
    decommissioned = client.post(f"/devices/{device['id']}/decommission").get_json()
    body = client.get(f"/devices/{device['id']}").get_json()
    assert (body["status"], body["decommissioned_at"]) == ("decommissioned", decommissioned["decommissioned_at"])
    assert body["metrics"]["t"]["count"] == 1


def test_the_etag_is_the_devices_version_and_moves_with_each_batch(client):
    device = create_device(client)
    assert client.get(f"/devices/{device['id']}").headers["ETag"] == '"1"'
    record(client, device["id"], {"metric": "t", "value": 1})
    assert client.get(f"/devices/{device['id']}").headers["ETag"] == '"2"'


def test_a_read_with_the_current_etag_answers_304(client):
    device = create_device(client)
    response = client.get(f"/devices/{device['id']}", headers={"If-None-Match": '"1"'})
    assert response.status_code == 304
    assert response.get_data() == b""


# ---------------------------------------------------------------- GET /devices/<id>/telemetry


def test_readings_of_a_metric_come_in_time_order_whatever_the_arrival_order(client):
    device = create_device(client)
    record(client, device["id"], {"metric": "t", "value": 3, "recorded_at": at(30)})
    record(
        client,
        device["id"],
        {"metric": "t", "value": 1, "recorded_at": at(10)},
        {"metric": "h", "value": 9, "recorded_at": at(15)},
        {"metric": "t", "value": 2, "recorded_at": at(20)},
    )
    assert client.get(f"/devices/{device['id']}/telemetry?metric=t").get_json() == [
        {"metric": "t", "value": 1.0, "recorded_at": at(10)},
        {"metric": "t", "value": 2.0, "recorded_at": at(20)},
        {"metric": "t", "value": 3.0, "recorded_at": at(30)},
    ]


def test_readings_at_the_same_time_are_all_kept_in_arrival_order(client):
    device = create_device(client)
    record(client, device["id"], *[{"metric": "t", "value": v, "recorded_at": at(1)} for v in (3, 1, 2)])
    record(client, device["id"], {"metric": "t", "value": 0, "recorded_at": at(1)})
    values = [r["value"] for r in client.get(f"/devices/{device['id']}/telemetry?metric=t").get_json()]
    assert values == [3.0, 1.0, 2.0, 0.0]


def test_from_is_inclusive_and_to_is_exclusive(client):
    device = create_device(client)
    record(client, device["id"], *[{"metric": "t", "value": m, "recorded_at": at(m)} for m in range(0, 50, 10)])
    url = f"/devices/{device['id']}/telemetry"
    response = client.get(url, query_string={"metric": "t", "from": at(10), "to": at(40)})
    assert [r["value"] for r in response.get_json()] == [10.0, 20.0, 30.0]


def test_from_and_to_take_any_timezone(client):
    device = create_device(client)
    record(client, device["id"], *[{"metric": "t", "value": m, "recorded_at": at(m)} for m in range(0, 50, 10)])
    url = f"/devices/{device['id']}/telemetry"
    response = client.get(url, query_string={"metric": "t", "from": "2024-03-01T12:20:00+02:00"})
    assert [r["value"] for r in response.get_json()] == [20.0, 30.0, 40.0]


def test_pages_of_readings_follow_the_link_header_through_every_reading_once(client):
    device = create_device(client)
    record(client, device["id"], *[{"metric": "t", "value": n, "recorded_at": at(n % 4)} for n in range(10)])
    rows, pages = all_pages(client, f"/devices/{device['id']}/telemetry?metric=t&limit=4&from={at(0)}")
    assert pages == 3
    assert rows == client.get(f"/devices/{device['id']}/telemetry?metric=t").get_json()
    assert sorted(r["value"] for r in rows) == [float(n) for n in range(10)]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "metric"),
        ("metric=Temp", "metric"),
        ("metric=t&from=yesterday", "from"),
        ("metric=t&to=2024-03-01T10:00:00", "to"),
    ],
)
def test_a_missing_metric_or_a_bad_filter_answers_400_naming_it(client, query, field):
    device = create_device(client)
    assert_problem(client.get(f"/devices/{device['id']}/telemetry?{query}"), 400, field)


# ---------------------------------------------------------------- GET /telemetry/stats


def test_fleet_statistics_combine_every_active_device_per_metric(client):
    a, b = create_device(client, "A"), create_device(client, "B")
    record(client, a["id"], {"metric": "t", "value": 10}, {"metric": "t", "value": 20}, {"metric": "h", "value": 1})
    record(client, b["id"], {"metric": "t", "value": 60})
    assert client.get("/telemetry/stats").get_json() == [
        {"metric": "h", "devices": 1, "count": 1, "min": 1.0, "max": 1.0, "mean": 1.0},
        {"metric": "t", "devices": 2, "count": 3, "min": 10.0, "max": 60.0, "mean": 30.0},
    ]


def test_fleet_statistics_exclude_decommissioned_devices(client):
    a, b = create_device(client, "A"), create_device(client, "B")
    record(client, a["id"], {"metric": "t", "value": -50}, {"metric": "h", "value": 1})
    record(client, b["id"], {"metric": "t", "value": 10}, {"metric": "t", "value": 20})
    client.post(f"/devices/{a['id']}/decommission")
    assert client.get("/telemetry/stats").get_json() == [
        {"metric": "t", "devices": 1, "count": 2, "min": 10.0, "max": 20.0, "mean": 15.0},
    ]


def test_the_metric_filter_keeps_one_metric(client):
    a = create_device(client)
    record(client, a["id"], {"metric": "t", "value": 1}, {"metric": "h", "value": 2})
    assert [s["metric"] for s in client.get("/telemetry/stats?metric=h").get_json()] == ["h"]
    assert client.get("/telemetry/stats?metric=unknown").get_json() == []


@pytest.mark.parametrize("metric", ["Temp", ""])
def test_a_bad_metric_answers_400_naming_it(client, metric):
    assert_problem(client.get(f"/telemetry/stats?metric={metric}"), 400, "metric")


def test_pages_of_fleet_statistics_follow_the_link_header(client):
    a = create_device(client)
    record(client, a["id"], *[{"metric": f"m{n}", "value": n} for n in range(5)])
    rows, pages = all_pages(client, "/telemetry/stats?limit=2")
    assert pages == 3
    assert [s["metric"] for s in rows] == [f"m{n}" for n in range(5)]


def test_readings_recorded_now_by_default_show_in_the_device_and_the_fleet(client):
    device = create_device(client)
    before = stored_ago(seconds=1)
    record(client, device["id"], {"metric": "t", "value": 1})
    assert client.get(f"/devices/{device['id']}").get_json()["last_seen_at"] > before
    assert client.get("/telemetry/stats").get_json()[0]["count"] == 1
