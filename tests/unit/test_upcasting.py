"""Reading stored events as today's classes: the upcasters' chain, renamed types, and the
versions no code knows."""

import json
from dataclasses import dataclass

import pytest

from app.eventlog import (
    Event,
    Recorded,
    UnknownEventType,
    UnknownSchemaVersion,
    check_readable,
    event,
    names_of,
    upcaster,
)
from app.messages.employees import EmployeeHired, EmployeeUpdated
from app.projector import Projection


def stored(type_name: str, schema_version: int, payload: dict) -> Recorded:
    return Recorded(1, "e-1", "test", "s-1", 1, type_name, schema_version, json.dumps(payload), "", None)


@event("UpcastingTestRenamed", version=3, aliases=["UpcastingTestOldName"])
@dataclass(frozen=True)
class Renamed(Event):
    full_name: str
    tags: list


@upcaster(Renamed, from_version=1)
def _tags_added(v1: dict) -> dict:
    return {**v1, "tags": []}


@upcaster(Renamed, from_version=2)
def _names_joined(v2: dict) -> dict:
    return {"full_name": f"{v2['first']} {v2['last']}", "tags": v2["tags"]}


def test_a_stored_payload_runs_through_every_upcaster_up_to_the_current_class():
    assert stored("UpcastingTestRenamed", 1, {"first": "Ada", "last": "Lovelace"}).data == Renamed("Ada Lovelace", [])
    assert stored("UpcastingTestRenamed", 2, {"first": "Ada", "last": "L", "tags": ["x"]}).data == Renamed(
        "Ada L", ["x"]
    )
    assert stored("UpcastingTestRenamed", 3, {"full_name": "Ada", "tags": []}).data == Renamed("Ada", [])


def test_events_stored_under_an_old_name_read_as_the_renamed_class_and_reach_its_handlers():
    assert stored("UpcastingTestOldName", 1, {"first": "A", "last": "B"}).data == Renamed("A B", [])
    assert names_of(Renamed) == ("UpcastingTestRenamed", "UpcastingTestOldName")
    projection = Projection("test", tables=[], handlers={Renamed: print})
    assert projection.handler_for("UpcastingTestOldName") is print
    assert projection.event_types() == {"UpcastingTestRenamed", "UpcastingTestOldName"}


def test_a_version_newer_than_the_class_or_an_unknown_type_is_unreadable_not_guessed():
    with pytest.raises(UnknownSchemaVersion):
        stored("UpcastingTestRenamed", 4, {"full_name": "A", "tags": []}).data
    with pytest.raises(UnknownSchemaVersion):
        check_readable("UpcastingTestRenamed", 4)
    with pytest.raises(UnknownEventType):
        check_readable("NoSuchEvent", 1)
    check_readable("UpcastingTestOldName", 1)


def test_a_missing_step_in_the_chain_is_unreadable():
    @event("UpcastingTestGap", version=2)
    @dataclass(frozen=True)
    class Gap(Event):
        value: int

    with pytest.raises(UnknownSchemaVersion):
        check_readable("UpcastingTestGap", 1)
    with pytest.raises(UnknownSchemaVersion):
        stored("UpcastingTestGap", 1, {"value": 1}).data


def test_upcasters_are_registered_once_and_only_below_the_current_version():
    with pytest.raises(ValueError):
        upcaster(Renamed, from_version=3)(lambda payload: payload)
    with pytest.raises(ValueError):
        upcaster(Renamed, from_version=1)(lambda payload: payload)


@pytest.mark.parametrize("cls", [EmployeeHired, EmployeeUpdated])
def test_employee_events_of_version_1_carry_their_address_as_one_value(cls):
    v1 = {"first_name": "Jane", "last_name": "Roe", "street": "1 Elm", "zip": "12345", "city": "Springfield"}
    assert stored(cls.type_name, 1, v1).data == cls(
        "Jane", "Roe", {"street": "1 Elm", "zip": "12345", "city": "Springfield"}
    )
