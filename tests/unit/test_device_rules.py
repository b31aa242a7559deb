"""The device's and the readings' input rules, checked on the contract alone (no app, no database)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from app.messages.devices import DEVICE, MAX_READINGS, load_readings, name_key
from app.times import parse_time

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
READING = {"metric": "temperature", "value": 21.5, "recorded_at": "2026-03-01T11:00:00Z"}


def readings(*batch, now=NOW) -> list[tuple]:
    return load_readings({"readings": list(batch)}, now)


def errors_of(body: dict, now=NOW) -> dict:
    with pytest.raises(ValidationError) as caught:
        load_readings(body, now)
    return caught.value.normalized_messages()


def device_errors(**body) -> dict:
    with pytest.raises(ValidationError) as caught:
        DEVICE.load(body)
    return caught.value.normalized_messages()


# ---------------------------------------------------------------- devices


def test_a_valid_device_body_loads_with_its_name_trimmed():
    assert DEVICE.load({"name": "  Boiler 1 ", "kind": "sensor"}) == {"name": "Boiler 1", "kind": "sensor"}


@pytest.mark.parametrize("kind", ["sensor", "meter", "gateway"])
def test_every_documented_kind_is_accepted(kind):
    assert DEVICE.load({"name": "x", "kind": kind})["kind"] == kind


@pytest.mark.parametrize("kind", ["Sensor", "robot", "", None, 3])
def test_any_other_kind_is_refused(kind):
    assert "kind" in device_errors(name="x", kind=kind)


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, None, 7])
def test_a_name_must_be_1_to_100_characters_after_trimming(name):
    assert "name" in device_errors(name=name, kind="sensor")


def test_a_name_of_100_characters_is_accepted():
    assert DEVICE.load({"name": " " + "x" * 100 + " ", "kind": "meter"})["name"] == "x" * 100


@pytest.mark.parametrize("field", ["name", "kind"])
def test_name_and_kind_are_required(field):
    body = {"name": "x", "kind": "sensor"}
    del body[field]
    assert device_errors(**body) == {field: ["Missing data for required field."]}


@pytest.mark.parametrize("field", ["id", "status", "registered_at", "colour"])
def test_other_fields_are_refused(field):
    assert device_errors(name="x", kind="sensor", **{field: "x"}) == {field: ["Unknown field."]}


@pytest.mark.parametrize("other", ["boiler 1", "BOILER 1", "Boiler   1", "Boiler\t1", "  Boiler 1 ", "Boiler\u00a01"])
def test_names_that_differ_only_in_case_or_spacing_share_a_key(other):
    assert name_key(other) == name_key("Boiler 1")


def test_names_in_composed_and_decomposed_unicode_share_a_key():
    assert name_key("Caf\u00e9") == name_key("Cafe\u0301")


def test_different_names_have_different_keys():
    assert name_key("Boiler 1") != name_key("Boiler 2")


# ---------------------------------------------------------------- one reading


def test_one_reading_loads_as_metric_value_and_utc_time():
    assert load_readings(READING, NOW) == [("temperature", 21.5, "2026-03-01T11:00:00.000000Z")]


def test_a_reading_without_a_time_is_recorded_now():
    assert load_readings({"metric": "m", "value": 1}, NOW) == [("m", 1.0, "2026-03-01T12:00:00.000000Z")]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2026-03-01T13:30:00+02:00", "2026-03-01T11:30:00.000000Z"),
        ("2026-03-01T06:00:00.5-05:00", "2026-03-01T11:00:00.500000Z"),
        ("2026-03-01T11:00:00.123456Z", "2026-03-01T11:00:00.123456Z"),
        ("2026-03-01T11:00:00.5Z", "2026-03-01T11:00:00.500000Z"),
        ("2026-03-01T11:00:00.250+00:00", "2026-03-01T11:00:00.250000Z"),
        ("2026-03-01 11:00:00+00:00", "2026-03-01T11:00:00.000000Z"),
        ("2026-03-01T00:30:00+01:00", "2026-02-28T23:30:00.000000Z"),
    ],
)
def test_times_are_normalized_to_utc_with_microseconds(given, stored):
    assert load_readings({**READING, "recorded_at": given}, NOW)[0][2] == stored


def test_a_time_without_a_timezone_is_refused():
    assert errors_of({**READING, "recorded_at": "2026-03-01T11:00:00"}) == {
        "recorded_at": ["Must include a timezone, such as Z or +02:00."]
    }


@pytest.mark.parametrize("given", ["yesterday", "2026-13-01T00:00:00Z", "", "1700000000", 1700000000, ["x"], "x" * 65])
def test_a_time_that_is_not_iso_8601_is_refused(given):
    assert errors_of({**READING, "recorded_at": given}) == {"recorded_at": ["Not a valid ISO 8601 date and time."]}


def test_a_time_up_to_5_minutes_ahead_is_accepted():
    ahead = (NOW + timedelta(minutes=5)).isoformat()
    assert load_readings({**READING, "recorded_at": ahead}, NOW)[0][2] == "2026-03-01T12:05:00.000000Z"


def test_a_time_more_than_5_minutes_ahead_is_refused():
    ahead = (NOW + timedelta(minutes=5, microseconds=1)).isoformat()
    assert errors_of({**READING, "recorded_at": ahead}) == {
        "recorded_at": ["Must not be more than 5 minutes in the future."]
    }


def test_the_future_is_judged_in_utc_whatever_the_offset():
    assert load_readings({**READING, "recorded_at": "2026-03-01T14:04:00+02:00"}, NOW)
    assert "recorded_at" in errors_of({**READING, "recorded_at": "2026-03-01T09:06:00-03:00"})


@pytest.mark.parametrize("metric", ["a", "temperature", "cpu.load_1m", "x" * 50, "0", "a.b.c"])
def test_a_metric_is_1_to_50_of_lower_case_letters_digits_underscores_and_dots(metric):
    assert load_readings({**READING, "metric": metric}, NOW)[0][0] == metric


@pytest.mark.parametrize("metric", ["", "x" * 51, "Temperature", "temp-c", "temp c", " temp", "temp\n", "tempé", 5])
def test_any_other_metric_is_refused(metric):
    assert errors_of({**READING, "metric": metric}) == {
        "metric": ["Must be 1 to 50 characters of a-z, 0-9, '_' and '.'."]
    }


@pytest.mark.parametrize("value", [0, -3, 2.5, Decimal("21.25"), 10**15, -1e300])
def test_a_value_is_any_finite_number_stored_as_a_float(value):
    assert load_readings({**READING, "value": value}, NOW)[0][1] == float(value)


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), -float("inf"), Decimal("1e400"), Decimal("sNaN"), 10**400]
)
def test_nan_infinities_and_numbers_beyond_a_float_are_refused(value):
    assert errors_of({**READING, "value": value}) == {"value": ["Must be a finite number."]}


@pytest.mark.parametrize("value", ["21.5", True, False, [1], {"v": 1}])
def test_a_value_that_is_not_a_number_is_refused(value):
    assert errors_of({**READING, "value": value}) == {"value": ["Not a valid number."]}


@pytest.mark.parametrize("field", ["metric", "value"])
def test_metric_and_value_are_required(field):
    body = dict(READING)
    del body[field]
    assert errors_of(body) == {field: ["Missing data for required field."]}


@pytest.mark.parametrize("field", ["metric", "value", "recorded_at"])
def test_no_field_may_be_null(field):
    assert errors_of({**READING, field: None}) == {field: ["Field may not be null."]}


def test_other_fields_in_a_reading_are_refused():
    assert errors_of({**READING, "unit": "C"}) == {"unit": ["Unknown field."]}


def test_every_problem_of_a_reading_is_named_at_once():
    assert set(errors_of({"metric": "Bad", "value": "x", "recorded_at": "now", "unit": "C"})) == {
        "metric",
        "value",
        "recorded_at",
        "unit",
    }


# ---------------------------------------------------------------- batches


def test_a_batch_loads_every_reading_in_order():
    batch = [{"metric": "a", "value": n, "recorded_at": f"2026-03-01T0{n}:00:00Z"} for n in range(3)]
    assert [(m, v) for m, v, _ in readings(*batch)] == [("a", 0.0), ("a", 1.0), ("a", 2.0)]


def test_a_batch_may_hold_readings_out_of_time_order():
    late, early = {**READING, "recorded_at": "2026-03-01T11:00:00Z"}, {**READING, "recorded_at": "2026-03-01T10:00:00Z"}
    assert [at for _, _, at in readings(late, early)] == ["2026-03-01T11:00:00.000000Z", "2026-03-01T10:00:00.000000Z"]


def test_readings_of_a_batch_without_a_time_share_the_same_now():
    batch = readings({"metric": "a", "value": 1}, {"metric": "b", "value": 2})
    assert {at for _, _, at in batch} == {"2026-03-01T12:00:00.000000Z"}


def test_a_batch_holds_up_to_1000_readings():
    assert len(readings(*[READING] * MAX_READINGS)) == 1000


@pytest.mark.parametrize("batch", [[], [READING] * (MAX_READINGS + 1)])
def test_an_empty_batch_or_one_above_1000_readings_is_refused(batch):
    assert errors_of({"readings": batch}) == {"readings": ["Must hold 1 to 1000 readings."]}


@pytest.mark.parametrize("batch", [None, READING, "x", 3])
def test_readings_must_be_a_list(batch):
    assert errors_of({"readings": batch}) == {"readings": ["Not a valid list."]}


def test_a_bad_reading_is_named_by_its_index_and_field():
    batch = [READING, READING, READING, {**READING, "value": "hot"}]
    assert errors_of({"readings": batch}) == {"readings.3.value": ["Not a valid number."]}


def test_every_bad_reading_of_a_batch_is_named():
    batch = [{**READING, "metric": "A"}, READING, {"value": 1}, {**READING, "unit": "C"}]
    assert set(errors_of({"readings": batch})) == {"readings.0.metric", "readings.2.metric", "readings.3.unit"}


@pytest.mark.parametrize("reading", [None, 3, "x", [READING]])
def test_a_reading_that_is_not_an_object_is_named_by_its_index(reading):
    assert errors_of({"readings": [READING, reading]}) == {
        "readings.1": ["Must be an object with metric, value and recorded_at."]
    }


def test_a_batch_body_takes_no_other_fields():
    assert errors_of({"readings": [READING], "metric": "x"}) == {"metric": ["Unknown field."]}


def test_a_metric_once_found_good_in_a_batch_is_still_checked_per_reading():
    errors = errors_of({"readings": [READING, {**READING, "metric": ["temperature"]}]})
    assert errors == {"readings.1.metric": ["Must be 1 to 50 characters of a-z, 0-9, '_' and '.'."]}


# ---------------------------------------------------------------- hostile input

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.decimals(allow_nan=True),
        st.text(max_size=40),
        st.sampled_from(["2026-03-01T11:00:00Z", "2026-03-01T11:00:00", "temperature", "0001-01-01T00:00:00+01:00"]),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=8,
)
reading_like = st.dictionaries(st.sampled_from(["metric", "value", "recorded_at", "x"]), json_values, max_size=4)


@settings(max_examples=300)
@given(st.one_of(reading_like, st.fixed_dictionaries({"readings": st.lists(reading_like | json_values, max_size=5)})))
def test_any_body_either_loads_or_fails_with_messages_per_field(body):
    try:
        loaded = load_readings(body, NOW)
    except ValidationError as error:
        assert error.normalized_messages()
        assert all(isinstance(messages, list) and messages for messages in error.normalized_messages().values())
    else:
        for metric, value, recorded_at in loaded:
            assert isinstance(metric, str) and isinstance(value, float)
            assert parse_time(recorded_at) == recorded_at <= "2026-03-01T12:05:00.000000Z"
