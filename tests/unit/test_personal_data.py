"""Personal data in events: which fields are personal is declared on each event class, and
a field that looks personal cannot be added unmarked; sealed values open only where sealed."""

import dataclasses
import logging
import re
import sys

import pytest
from cryptography.exceptions import InvalidTag

import app.messages  # noqa: F401 (every event class registered)
from app import personal_data
from app.eventlog import ERASED, _registry, erased, personal_fields

# Every personal field of every event class, as review should see it: a change here is a
# change of what the service stores encrypted and forgets.
MARKED = {
    "UserRegistered": {"first_name": ERASED, "last_name": ERASED, "email": ERASED},
    "UserUpdated": {"first_name": ERASED, "last_name": ERASED, "email": ERASED},
    "EmployeeHired": {
        "first_name": ERASED,
        "last_name": ERASED,
        "address": {"street": ERASED, "zip": ERASED, "city": ERASED},
    },
    "EmployeeUpdated": {
        "first_name": ERASED,
        "last_name": ERASED,
        "address": {"street": ERASED, "zip": ERASED, "city": ERASED},
    },
}

LOOKS_PERSONAL = re.compile(r"name|mail|address|street|zip|city|phone|birth|ssn|passport|iban|ip_addr")

# Fields that look personal and are not, each with the reason.
NOT_PERSONAL = {
    ("DeviceRegistered", "name"): "a device's name, given by its operator: not a person's",
    ("ItemCreated", "name"): "a product's name",
    ("ItemUpdated", "name"): "a product's name",
}


def event_classes() -> dict[str, type]:
    """The app's event classes (not those other tests register)."""
    return {cls.type_name: cls for cls in set(_registry.values()) if cls.__module__.startswith("app.")}


def test_the_personal_fields_are_exactly_these():
    marked = {name: dict(cls.personal) for name, cls in event_classes().items() if cls.personal}
    assert marked == MARKED


def test_no_event_field_that_looks_personal_is_left_unmarked():
    unmarked = [
        (name, field.name)
        for name, cls in event_classes().items()
        for field in dataclasses.fields(cls)
        if LOOKS_PERSONAL.search(field.name) and field.name not in cls.personal
    ]
    assert [found for found in unmarked if found not in NOT_PERSONAL] == []


def test_the_first_version_of_an_employee_event_has_its_address_flat_and_personal():
    assert set(personal_fields("EmployeeHired", 1)) == {"first_name", "last_name", "street", "zip", "city"}


def test_an_erased_payload_keeps_what_is_not_personal():
    payload = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}
    assert erased("UserRegistered", 1, payload) == {"first_name": ERASED, "last_name": ERASED, "email": ERASED}
    assert erased("OrderShipped", 1, {"shipped_at": "t"}) == {"shipped_at": "t"}


def test_a_sealed_value_opens_under_its_key_stream_and_field_only():
    key = bytes(32)
    sealed = personal_data.seal_value(key, "user", "u1", "email", '"ada@example.com"')
    assert personal_data.is_sealed(sealed)
    assert personal_data.open_value(key, "user", "u1", "email", sealed) == "ada@example.com"
    for stream_id, field in (("u2", "email"), ("u1", "first_name")):
        with pytest.raises(InvalidTag):
            personal_data.open_value(key, "user", stream_id, field, sealed)
    with pytest.raises(InvalidTag):
        personal_data.open_value(bytes([1]) * 32, "user", "u1", "email", sealed)


def test_sealing_the_same_value_twice_gives_two_ciphertexts():
    key = bytes(32)
    first, second = (personal_data.seal_value(key, "user", "u1", "email", '"a"') for _ in range(2))
    assert first != second


def test_every_field_allowed_as_not_personal_exists_and_is_unmarked():
    classes = event_classes()
    for type_name, field in NOT_PERSONAL:
        cls = classes[type_name]
        assert field in {f.name for f in dataclasses.fields(cls)} and field not in cls.personal


POSTGRESQL_ERROR = (
    '(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint "users_by_email_key"\n'
    "DETAIL:  Key (email_key)=(ada@example.com) already exists.\n"
    "[SQL: INSERT INTO users (id, email) VALUES (%(id)s, %(email)s)]"
)


def test_a_database_errors_quoted_values_are_redacted():
    text = personal_data.redacted(POSTGRESQL_ERROR + "\nDETAIL:  Failing row contains (1, Ada, ada@example.com).")
    assert "ada@example.com" not in text and "Ada" not in text
    assert 'unique constraint "users_by_email_key"' in text and "DETAIL:  Key (email_key)=(…)" in text


def test_a_logged_database_error_quotes_no_personal_data():
    from app.logs import JsonFormatter, TextFormatter

    try:
        raise RuntimeError(POSTGRESQL_ERROR)
    except RuntimeError:
        record = logging.LogRecord("app", logging.ERROR, __file__, 1, "failed: %s", (POSTGRESQL_ERROR,), True)
        record.exc_info = sys.exc_info()
    record.request_id = "-"
    for formatter in (JsonFormatter(), TextFormatter()):
        assert "ada@example.com" not in formatter.format(record)
