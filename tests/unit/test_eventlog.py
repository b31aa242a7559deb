"""The event registry and the stored-event envelope."""

import json
from dataclasses import dataclass

import pytest

from app.eventlog import Event, Recorded, UnknownEventType, event
from app.messages.items import ItemCreated


def recorded(type_name: str, payload: dict) -> Recorded:
    return Recorded(1, "e", "item", "i", 1, type_name, 1, json.dumps(payload), "2026-01-01T00:00:00.000000Z", None)


def test_a_stored_event_decodes_to_its_registered_class():
    data = recorded("ItemCreated", {"name": "Eggs", "description": "", "price_cents": 5}).data
    assert data == ItemCreated("Eggs", "", 5)


def test_an_event_type_the_code_does_not_know_is_reported_by_name():
    with pytest.raises(UnknownEventType, match="Teleported"):
        recorded("Teleported", {}).data


def test_a_type_name_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="ItemCreated"):

        @event("ItemCreated")
        @dataclass(frozen=True)
        class Impostor(Event):
            pass


def test_events_are_immutable():
    with pytest.raises(AttributeError):
        ItemCreated("Eggs", "", None).name = "Ham"
