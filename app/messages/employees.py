"""Employees (seed 001's sample): commands, events, and the employee's JSON shape (camelCase)."""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring as text  # a JSON string, as json.dumps(ensure_ascii=False) writes it

from marshmallow import Schema, fields, post_load, pre_dump, validate

from app.eventlog import ERASED, Event, event, upcaster
from app.messages.fields import Trimmed

# ---------------------------------------------------------------- commands


@dataclass(frozen=True)
class HireEmployee:
    employee_id: str
    first_name: str
    last_name: str
    street: str
    zip: str
    city: str


@dataclass(frozen=True)
class UpdateEmployee:
    employee_id: str
    first_name: str
    last_name: str
    street: str
    zip: str
    city: str
    expected_version: int | None = None  # from If-Match; None accepts any


@dataclass(frozen=True)
class DeleteEmployee:
    employee_id: str
    expected_version: int | None = None  # from If-Match; None accepts any


@dataclass(frozen=True)
class EraseEmployee:
    employee_id: str


# ---------------------------------------------------------------- events (stream type "employee")
# Each event carries the employee's full state, so a reader never needs an earlier one, with
# the address as one value, as the API shows it: {street, zip, city}. Names and address are
# personal: stored encrypted under the employee's key, read as ERASED once it is gone.
EMPLOYEE_PERSONAL = {
    "first_name": ERASED,
    "last_name": ERASED,
    "address": {"street": ERASED, "zip": ERASED, "city": ERASED},
}
# Version 1 carried the address's parts flat.
EMPLOYEE_PERSONAL_V1 = {name: ERASED for name in ("first_name", "last_name", "street", "zip", "city")}


@event("EmployeeHired", version=2, personal=EMPLOYEE_PERSONAL)
@dataclass(frozen=True)
class EmployeeHired(Event):
    first_name: str
    last_name: str
    address: dict  # {street, zip, city}


@event("EmployeeUpdated", version=2, personal=EMPLOYEE_PERSONAL)
@dataclass(frozen=True)
class EmployeeUpdated(Event):
    first_name: str
    last_name: str
    address: dict  # {street, zip, city}


@event("EmployeeLeft")
@dataclass(frozen=True)
class EmployeeLeft(Event):
    pass


@event("EmployeeErased", erases=True)
@dataclass(frozen=True)
class EmployeeErased(Event):
    """The person asked to be forgotten: their key is destroyed (and the employee removed, if
    they were not yet). It carries no personal data."""


@upcaster(EmployeeHired, from_version=1, personal=EMPLOYEE_PERSONAL_V1)
@upcaster(EmployeeUpdated, from_version=1, personal=EMPLOYEE_PERSONAL_V1)
def address_as_one_value(v1: dict) -> dict:
    """Version 1 (until 2026-12-06) carried the address's fields flat beside the names."""
    return {
        "first_name": v1["first_name"],
        "last_name": v1["last_name"],
        "address": {"street": v1["street"], "zip": v1["zip"], "city": v1["city"]},
    }


def address(street: str, zip: str, city: str) -> dict:
    """An event's address value."""
    return {"street": street, "zip": zip, "city": city}


# ---------------------------------------------------------------- JSON


def list_name(first_name: str, last_name: str) -> str:
    """The name the employee list shows and sorts by: ``"<lastName>, <firstName>"``."""
    return f"{last_name}, {first_name}"


class AddressSchema(Schema):
    """``{id, street, zip, city}``; the address id is the employee's id."""

    id = fields.String(dump_only=True, metadata={"format": "uuid"})
    street = Trimmed(required=True, validate=validate.Length(min=1, max=50))
    zip = Trimmed(required=True, validate=validate.Length(min=1, max=10))
    city = Trimmed(required=True, validate=validate.Length(min=1, max=50))


class EmployeeSchema(Schema):
    """``{id, firstName, lastName, address: {id, street, zip, city}}``: the body of POST and PUT,
    and of every employee reply.

    Its commands and write model are flat (``first_name, last_name, street, zip, city``):
    ``load`` flattens the address, and ``dump`` nests it again (or takes an event's, nested).
    """

    id = fields.String(dump_only=True, metadata={"format": "uuid"})
    first_name = Trimmed(data_key="firstName", required=True, validate=validate.Length(min=1, max=100))
    last_name = Trimmed(data_key="lastName", required=True, validate=validate.Length(min=1, max=100))
    address = fields.Nested(AddressSchema, required=True)

    @post_load
    def flatten_address(self, data: dict, **_kwargs) -> dict:
        address = data.pop("address")
        return {**data, "street": address["street"], "zip": address["zip"], "city": address["city"]}

    @pre_dump
    def nest_address(self, employee, **_kwargs) -> dict:
        fields = employee if isinstance(employee, Mapping) else dataclasses.asdict(employee)
        place = fields.get("address", fields)
        nested = {"id": fields["id"], "street": place["street"], "zip": place["zip"], "city": place["city"]}
        return {
            "id": fields["id"],
            "first_name": fields["first_name"],
            "last_name": fields["last_name"],
            "address": nested,
        }


class EmployeeSummarySchema(Schema):
    """``{id, name, city}``: a row of GET /employees, with ``name`` as ``list_name`` makes it."""

    id = fields.String(required=True, metadata={"format": "uuid"})
    name = fields.String(required=True, metadata={"description": '"<lastName>, <firstName>"'})
    city = fields.String(required=True)


EMPLOYEE = EmployeeSchema()
EMPLOYEE_SUMMARY = EmployeeSummarySchema()


def employee_summary(employee_id: str, name: str, city: str) -> str:
    """The JSON text of ``EMPLOYEE_SUMMARY``'s dump, an entry of GET /employees (``name`` as
    ``list_name`` makes it), written directly (a test holds them equal)."""
    return '{"id":%s,"name":%s,"city":%s}' % (text(employee_id), text(name), text(city))


def employee_document(employee_id: str, employee: EmployeeHired | EmployeeUpdated) -> str:
    """The JSON text of ``EMPLOYEE``'s dump of the employee, written directly: a projection renders
    one per event, and a dump and ``json.dumps`` cost far more (a test holds them equal)."""
    e, a = employee, employee.address
    return '{"id":%s,"firstName":%s,"lastName":%s,"address":{"id":%s,"street":%s,"zip":%s,"city":%s}}' % tuple(
        map(text, (employee_id, e.first_name, e.last_name, employee_id, a["street"], a["zip"], a["city"]))
    )
