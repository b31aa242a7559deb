"""Feed device events to the projector and look at the rows it keeps."""

import pytest

from app.messages.devices import DeviceDecommissioned, DeviceRegistered, TelemetryRecorded
from tests.support import indexes, project, query

BOILER = "5d0c6a9e-1f2b-4c3d-8e4f-5a6b7c8d9e01"
PUMP = "5d0c6a9e-1f2b-4c3d-8e4f-5a6b7c8d9e02"
REGISTERED = "2026-03-01T08:00:00.000000Z"


def at(hour: int, minute: int = 0) -> str:
    return f"2026-03-01T{hour:02d}:{minute:02d}:00.000000Z"


def feed(app, device: str, *stream: tuple[int, object]) -> None:
    """Append events to a device's stream as a command would, then let the projector apply them."""
    project(app, *[("device", device, version, data) for version, data in stream])


def registered(app, device: str = BOILER, name: str = "Boiler") -> None:
    feed(app, device, (1, DeviceRegistered(name, "sensor", REGISTERED)))


def list_row(app, device: str = BOILER) -> tuple:
    (row,) = query(
        app,
        "SELECT name, kind, status, decommissioned_at, last_seen_at, reading_count, version"
        " FROM device_list_view WHERE id = ?",
        device,
    )
    return row


def stats(app, device: str = BOILER) -> dict[str, tuple]:
    rows = query(
        app,
        "SELECT metric, active, count, sum, min, max, last_value, last_recorded_at"
        " FROM telemetry_stats_view WHERE device_id = ?",
        device,
    )
    return {row[0]: row[1:] for row in rows}


def fleet(app) -> dict[str, tuple]:
    rows = query(app, "SELECT metric, devices, count, sum + sum_error FROM telemetry_fleet_stats_view")
    return {row[0]: row[1:] for row in rows}


def test_a_registered_device_gets_an_active_list_row_without_readings(app):
    registered(app)
    assert list_row(app) == ("Boiler", "sensor", "active", None, None, 0, 1)


def test_a_batch_adds_its_readings_to_the_count_and_moves_the_version(app):
    registered(app)
    feed(app, BOILER, (2, TelemetryRecorded([["t", 1.0, at(9)], ["h", 2.0, at(10)], ["t", 3.0, at(9, 30)]])))
    assert list_row(app)[4:] == (at(10), 3, 2)


def test_last_seen_is_the_latest_time_of_any_reading_not_the_latest_arrival(app):
    registered(app)
    feed(app, BOILER, (2, TelemetryRecorded([["t", 1.0, at(10)]])), (3, TelemetryRecorded([["t", 1.0, at(9)]])))
    assert list_row(app)[4] == at(10)


def test_a_decommissioned_device_keeps_its_row_with_its_status_and_time(app):
    registered(app)
    feed(app, BOILER, (2, DeviceDecommissioned(at(11))))
    assert list_row(app) == ("Boiler", "sensor", "decommissioned", at(11), None, 0, 2)


def test_a_batch_keeps_count_sum_min_max_and_last_value_per_metric(app):
    registered(app)
    feed(app, BOILER, (2, TelemetryRecorded([["t", 20.0, at(9)], ["t", 22.0, at(10)], ["h", 0.5, at(9)]])))
    assert stats(app) == {
        "t": (1, 2, 42.0, 20.0, 22.0, 22.0, at(10)),
        "h": (1, 1, 0.5, 0.5, 0.5, 0.5, at(9)),
    }


def test_statistics_add_up_over_batches(app):
    registered(app)
    feed(
        app,
        BOILER,
        (2, TelemetryRecorded([["t", 20.0, at(9)], ["t", 25.0, at(10)]])),
        (3, TelemetryRecorded([["t", -5.0, at(11)], ["t", 40.0, at(12)]])),
    )
    assert stats(app)["t"] == (1, 4, 80.0, -5.0, 40.0, 40.0, at(12))


def test_a_batch_within_the_range_keeps_min_and_max(app):
    registered(app)
    feed(
        app,
        BOILER,
        (2, TelemetryRecorded([["t", 20.0, at(9)], ["t", 25.0, at(10)]])),
        (3, TelemetryRecorded([["t", 21.0, at(11)]])),
    )
    assert stats(app)["t"] == (1, 3, 66.0, 20.0, 25.0, 21.0, at(11))


@pytest.mark.parametrize(("value", "low", "high"), [(-5.0, -5.0, 25.0), (40.0, 20.0, 40.0)])
def test_a_batch_beyond_one_end_of_the_range_moves_that_end_only(app, value, low, high):
    registered(app)
    feed(
        app,
        BOILER,
        (2, TelemetryRecorded([["t", 20.0, at(9)], ["t", 25.0, at(10)]])),
        (3, TelemetryRecorded([["t", value, at(11)]])),
    )
    assert stats(app)["t"][3:5] == (low, high)


def test_an_out_of_order_reading_is_counted_but_does_not_become_the_last_value(app):
    registered(app)
    feed(
        app,
        BOILER,
        (2, TelemetryRecorded([["t", 20.0, at(10)]])),
        (3, TelemetryRecorded([["t", 99.0, at(9)]])),
    )
    assert stats(app)["t"] == (1, 2, 119.0, 20.0, 99.0, 20.0, at(10))


def test_within_a_batch_the_last_value_is_the_latest_time_not_the_last_position(app):
    registered(app)
    feed(app, BOILER, (2, TelemetryRecorded([["t", 1.0, at(9)], ["t", 2.0, at(11)], ["t", 3.0, at(10)]])))
    assert stats(app)["t"][5:] == (2.0, at(11))


def test_of_readings_at_the_same_time_the_later_arrival_is_the_last_value(app):
    registered(app)
    feed(
        app,
        BOILER,
        (2, TelemetryRecorded([["t", 1.0, at(9)], ["t", 2.0, at(9)]])),
        (3, TelemetryRecorded([["t", 3.0, at(9)]])),
    )
    assert stats(app)["t"][5:] == (3.0, at(9))


def test_every_reading_gets_a_raw_row_with_its_batch_position_and_index(app):
    registered(app)
    feed(app, BOILER, (2, TelemetryRecorded([["t", 1.0, at(10)], ["t", 2.0, at(9)], ["h", 3.0, at(9)]])))
    (position,) = query(app, "SELECT max(position) FROM events")[0]
    rows = query(
        app,
        "SELECT metric, recorded_at, position, seq, value FROM telemetry_readings_view"
        " WHERE device_id = ? ORDER BY metric, recorded_at",
        BOILER,
    )
    assert rows == [("h", at(9), position, 2, 3.0), ("t", at(9), position, 1, 2.0), ("t", at(10), position, 0, 1.0)]


def test_the_fleet_adds_every_active_devices_count_and_sum_per_metric(app):
    registered(app, BOILER)
    registered(app, PUMP, "Pump")
    feed(app, BOILER, (2, TelemetryRecorded([["t", 20.0, at(9)], ["t", 22.0, at(10)]])))
    feed(app, PUMP, (2, TelemetryRecorded([["t", 30.0, at(9)], ["h", 1.0, at(9)]])))
    assert fleet(app) == {"t": (2, 3, 72.0), "h": (1, 1, 1.0)}


def test_a_device_reporting_a_metric_again_is_counted_once_in_the_fleet(app):
    registered(app)
    feed(app, BOILER, (2, TelemetryRecorded([["t", 1.0, at(9)]])), (3, TelemetryRecorded([["t", 2.0, at(10)]])))
    assert fleet(app) == {"t": (1, 2, 3.0)}


def test_decommissioning_subtracts_the_devices_count_and_sum_from_the_fleet(app):
    registered(app, BOILER)
    registered(app, PUMP, "Pump")
    feed(app, BOILER, (2, TelemetryRecorded([["t", 20.0, at(9)], ["h", 5.0, at(9)]])))
    feed(app, PUMP, (2, TelemetryRecorded([["t", 30.0, at(9)]])))
    feed(app, BOILER, (3, DeviceDecommissioned(at(12))))
    assert fleet(app) == {"t": (1, 1, 30.0)}


def test_a_decommissioned_devices_statistics_stay_but_leave_the_active_set(app):
    registered(app)
    feed(app, BOILER, (2, TelemetryRecorded([["t", 20.0, at(9)]])), (3, DeviceDecommissioned(at(12))))
    assert stats(app) == {"t": (0, 1, 20.0, 20.0, 20.0, 20.0, at(9))}


def test_subtracting_a_huge_sum_leaves_the_small_ones_exact(app):
    registered(app, BOILER)
    registered(app, PUMP, "Pump")
    feed(app, BOILER, (2, TelemetryRecorded([["t", 1e20, at(9)]])))
    feed(app, PUMP, (2, TelemetryRecorded([["t", 1.5, at(9)], ["t", 2.25, at(10)]])))
    feed(app, BOILER, (3, DeviceDecommissioned(at(12))))
    assert fleet(app) == {"t": (1, 2, 3.75)}


def test_a_device_decommissioned_without_readings_leaves_the_fleet_as_it_was(app):
    registered(app, BOILER)
    registered(app, PUMP, "Pump")
    feed(app, PUMP, (2, TelemetryRecorded([["t", 1.0, at(9)]])))
    feed(app, BOILER, (2, DeviceDecommissioned(at(12))))
    assert fleet(app) == {"t": (1, 1, 1.0)}


def test_a_rebuild_keeps_the_indexes_the_queries_rely_on(app):
    registered(app)
    with app.app_context():
        app.extensions["projector"].rebuild(["telemetry_stats", "device_list"])
    wanted = {"telemetry_stats_view_active_min", "telemetry_stats_view_active_max", "device_list_view_by_kind"}
    assert wanted <= indexes(app)
