"""The telemetry read models against the readings themselves.

Random batches (out-of-order times, repeated times, tiny and huge values, now and then a
bad reading that must sink its whole batch) and decommissions run over HTTP; the statistics
the projections keep must equal the ones computed here straight from the accepted readings:
exactly for count, min, max and the last value, and within the rounding a float sum may
carry for the mean.
"""

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import SHARED_FIXTURE, example_app

BASE = datetime(2024, 1, 1, tzinfo=UTC)
DEVICES = 3
EPSILON = 2.0**-52

metrics = st.sampled_from(["t", "h", "cpu.load"])
values = st.one_of(
    st.integers(min_value=-1000, max_value=1000),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.floats(min_value=-1e15, max_value=1e15, allow_nan=False),
    st.sampled_from([0.1, 0.2, 0.3, -0.0, 1e-300]),
)
offsets = st.integers(min_value=0, max_value=40)  # seconds after BASE: few, so times repeat and go back
reading = st.tuples(metrics, values, offsets)
batch = st.tuples(
    st.just("batch"),
    st.integers(min_value=0, max_value=DEVICES - 1),
    st.lists(reading, min_size=1, max_size=12),
    st.one_of(st.none(), st.integers(min_value=0, max_value=11)),  # index of a reading made bad, if any
)
decommission = st.tuples(st.just("decommission"), st.integers(min_value=0, max_value=DEVICES - 1))
steps = st.lists(st.one_of(batch, batch, batch, decommission), min_size=1, max_size=15)


def time_text(offset: int) -> str:
    """The time ``offset`` seconds after BASE as the service keeps it (UTC, microseconds, Z)."""
    return (BASE + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sent_time(offset: int) -> str:
    """The same time as a client may send it: in UTC, or at +02:00 for odd offsets."""
    moment = BASE + timedelta(seconds=offset)
    return moment.astimezone(timezone(timedelta(hours=2))).isoformat() if offset % 2 else time_text(offset)


class Fleet:
    """What the service accepted, kept here in arrival order: (metric, value, utc text) per device."""

    def __init__(self, client):
        self.client = client
        self.ids = [
            client.post("/devices", json={"name": f"D{n}", "kind": "sensor"}).get_json()["id"] for n in range(DEVICES)
        ]
        self.readings = {device_id: [] for device_id in self.ids}
        self.active = set(self.ids)

    def run(self, step) -> None:
        if step[0] == "decommission":
            device_id = self.ids[step[1]]
            response = self.client.post(f"/devices/{device_id}/decommission")
            assert response.status_code == (200 if device_id in self.active else 409)
            self.active.discard(device_id)
            return
        _, n, batch, bad = step
        device_id = self.ids[n]
        body = [{"metric": m, "value": v, "recorded_at": sent_time(t)} for m, v, t in batch]
        if bad is not None and bad < len(body):
            body[bad]["value"] = "not a number"
        response = self.client.post(f"/devices/{device_id}/telemetry", json={"readings": body})
        if bad is not None and bad < len(body):
            assert response.status_code == 400
            assert list(response.get_json()["errors"]) == [f"readings.{bad}.value"]
        elif device_id not in self.active:
            assert response.status_code == 409
        else:
            assert response.status_code == 202
            self.readings[device_id] += [(m, float(v), time_text(t)) for m, v, t in batch]

    def of(self, device_ids, metric: str) -> list[tuple]:
        return [r for device_id in device_ids for r in self.readings[device_id] if r[0] == metric]


@contextmanager
def fleet_after(tmp_path_factory, steps) -> Iterator[Fleet]:
    """A fleet on an app of the example's own, once it has run ``steps``."""
    with example_app(tmp_path_factory) as app:
        fleet = Fleet(app.test_client())
        for step in steps:
            fleet.run(step)
        yield fleet


def assert_mean_close(got: float, readings: list[tuple], all_readings: list[tuple]) -> None:
    """``got`` is the exact mean of ``readings`` up to what summing floats may round away: at most
    one epsilon of every value ever added (or subtracted) per addition."""
    exact = sum(Fraction(v) for _, v, _ in readings) / len(readings)
    bound = 4 * (len(all_readings) + 2) * EPSILON * math.fsum(abs(v) for _, v, _ in all_readings) / len(readings)
    assert abs(Fraction(got) - exact) <= Fraction(bound) + Fraction(1, 10**300), (got, float(exact))


def expected_device_stats(readings: list[tuple]) -> dict:
    last = max(enumerate(readings), key=lambda pair: (pair[1][2], pair[0]))[1]  # latest time, then latest arrival
    values = [v for _, v, _ in readings]
    return {
        "count": len(values),
        "min": min(values),
        "max": max(values),
        "last_value": last[1],
        "last_recorded_at": last[2],
    }


def check_device(client, fleet: Fleet, device_id: str) -> None:
    device = client.get(f"/devices/{device_id}").get_json()
    readings = fleet.readings[device_id]
    assert device["reading_count"] == len(readings)
    assert device["last_seen_at"] == (max(t for _, _, t in readings) if readings else None)
    assert set(device["metrics"]) == {m for m, _, _ in readings}
    for metric, stats in device["metrics"].items():
        of_metric = fleet.of([device_id], metric)
        assert {k: v for k, v in stats.items() if k != "mean"} == expected_device_stats(of_metric)
        assert_mean_close(stats["mean"], of_metric, of_metric)


def check_fleet(client, fleet: Fleet) -> None:
    everything = [r for readings in fleet.readings.values() for r in readings]
    listed = {s["metric"]: s for s in client.get("/telemetry/stats").get_json()}
    active_metrics = {m for device_id in fleet.active for m, _, _ in fleet.readings[device_id]}
    assert set(listed) == active_metrics
    for metric, stats in listed.items():
        of_metric = fleet.of(sorted(fleet.active), metric)
        reporting = {device_id for device_id in fleet.active if fleet.of([device_id], metric)}
        values = [v for _, v, _ in of_metric]
        assert (stats["devices"], stats["count"]) == (len(reporting), len(values))
        assert (stats["min"], stats["max"]) == (min(values), max(values))
        assert_mean_close(stats["mean"], of_metric, [r for r in everything if r[0] == metric])


@settings(max_examples=60, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(steps)
def test_statistics_equal_those_computed_from_the_accepted_readings(tmp_path_factory, steps):
    with fleet_after(tmp_path_factory, steps) as fleet:
        for device_id in fleet.ids:
            check_device(fleet.client, fleet, device_id)
        check_fleet(fleet.client, fleet)


@settings(max_examples=30, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(steps)
def test_each_series_holds_the_accepted_readings_in_time_then_arrival_order(tmp_path_factory, steps):
    with fleet_after(tmp_path_factory, steps) as fleet:
        for device_id in fleet.ids:
            for metric in ("t", "h", "cpu.load"):
                series = fleet.client.get(f"/devices/{device_id}/telemetry?metric={metric}&limit=1000").get_json()
                arrived = fleet.of([device_id], metric)
                ordered = [r for _, r in sorted(enumerate(arrived), key=lambda pair: (pair[1][2], pair[0]))]
                assert [(r["metric"], r["value"], r["recorded_at"]) for r in series] == ordered
