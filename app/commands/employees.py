"""Employees: the write tables, the rules, the command handlers and the command routes.

Seed 001's contract: POST /employees, PUT /employees/<id>, DELETE /employees/<id>.
The write model is normalized: an ``employees`` row and its ``addresses`` row share the id.
"""

from dataclasses import asdict, dataclass

from flask import Blueprint

from app import erasure
from app.bus import UnitOfWork, execute, expect_version
from app.contract import Reply, operation
from app.errors import NotFound
from app.http import created, etag, if_match, json_body, no_content
from app.ids import new_id
from app.messages.employees import (
    EMPLOYEE,
    DeleteEmployee,
    EmployeeErased,
    EmployeeHired,
    EmployeeLeft,
    EraseEmployee,
    EmployeeUpdated,
    HireEmployee,
    UpdateEmployee,
    address,
)

STREAM = "employee"


@dataclass(frozen=True)
class Employee:
    """An ``employees`` row joined with its ``addresses`` row."""

    id: str
    first_name: str
    last_name: str
    street: str
    zip: str
    city: str
    version: int

    def state(self) -> tuple:
        return (self.first_name, self.last_name, self.street, self.zip, self.city)

    def event_fields(self) -> dict:
        return {
            "first_name": self.first_name,
            "last_name": self.last_name,
            "address": address(self.street, self.zip, self.city),
        }


def _load(uow: UnitOfWork, employee_id: str) -> Employee:
    """The employee as the write tables have it; NotFound (404) if there is none."""
    row = uow.first(
        "SELECT e.id, e.first_name, e.last_name, a.street, a.zip, a.city, e.version"
        " FROM employees e JOIN addresses a ON a.id = e.id WHERE e.id = :id",
        id=employee_id,
    )
    if row is None:
        raise NotFound("employee", employee_id)
    return Employee(*row)


def hire_employee(uow: UnitOfWork, cmd: HireEmployee) -> Employee:
    employee = Employee(cmd.employee_id, cmd.first_name, cmd.last_name, cmd.street, cmd.zip, cmd.city, version=1)
    fields = asdict(employee)
    uow.execute(
        "INSERT INTO employees (id, first_name, last_name, version) VALUES (:id, :first_name, :last_name, :version)",
        **fields,
    )
    uow.execute("INSERT INTO addresses (id, street, zip, city) VALUES (:id, :street, :zip, :city)", **fields)
    uow.record(STREAM, employee.id, employee.version, EmployeeHired(**employee.event_fields()))
    return employee


def update_employee(uow: UnitOfWork, cmd: UpdateEmployee) -> Employee:
    """Replace names and address; 404 if unknown. An update that changes nothing records nothing."""
    current = _load(uow, cmd.employee_id)
    expect_version(current.version, cmd.expected_version)
    employee = Employee(
        cmd.employee_id, cmd.first_name, cmd.last_name, cmd.street, cmd.zip, cmd.city, version=current.version + 1
    )
    if employee.state() == current.state():
        return current
    fields = asdict(employee)
    uow.execute(
        "UPDATE employees SET first_name = :first_name, last_name = :last_name, version = :version WHERE id = :id",
        **fields,
    )
    uow.execute("UPDATE addresses SET street = :street, zip = :zip, city = :city WHERE id = :id", **fields)
    uow.record(STREAM, employee.id, employee.version, EmployeeUpdated(**employee.event_fields()))
    return employee


def delete_employee(uow: UnitOfWork, cmd: DeleteEmployee) -> None:
    """Remove the employee and, by cascade, the address; 404 if unknown."""
    current = _load(uow, cmd.employee_id)
    expect_version(current.version, cmd.expected_version)
    uow.execute("DELETE FROM employees WHERE id = :id", id=current.id)
    uow.record(STREAM, current.id, current.version + 1, EmployeeLeft())


def erase_employee(uow: UnitOfWork, cmd: EraseEmployee) -> None:
    """Forget the employee: remove them if they are not yet, destroy their key and record
    EmployeeErased; 404 if no employee ever had the id. Erasing again changes nothing."""
    version, last_type = erasure.last_event(uow, STREAM, cmd.employee_id)
    if last_type == EmployeeErased.type_name:
        return
    if uow.first("SELECT 1 FROM employees WHERE id = :id", id=cmd.employee_id) is not None:
        uow.execute("DELETE FROM employees WHERE id = :id", id=cmd.employee_id)  # the address by cascade
        version += 1
        uow.record(STREAM, cmd.employee_id, version, EmployeeLeft())
    erasure.erase(uow, STREAM, cmd.employee_id, version + 1, EmployeeErased())


HANDLERS = {
    HireEmployee: hire_employee,
    UpdateEmployee: update_employee,
    DeleteEmployee: delete_employee,
    EraseEmployee: erase_employee,
}

# ---------------------------------------------------------------- routes

routes = Blueprint("employees", __name__)


JANE = {
    "firstName": "Jane",
    "lastName": "Roe",
    "address": {"street": "1 Elm Street", "zip": "12345", "city": "Springfield"},
}
JANE_ID = "5d1f0c2e-8a3b-4c6d-9e7f-0a1b2c3d4e5f"
JOHN = {
    "firstName": "John",
    "lastName": "Doe",
    "address": {"street": "1 Main Street", "zip": "02112", "city": "Boston"},
}
JOHN_ID = "12a33c84-ee60-45a1-848d-428ad3259abc"


def _with_ids(employee: dict, employee_id: str) -> dict:
    return {"id": employee_id, **employee, "address": {"id": employee_id, **employee["address"]}}


@routes.post("/employees")
@operation(
    "Hire an employee",
    body=EMPLOYEE,
    example=JANE,
    status=201,
    reply=Reply("The employee hired", EMPLOYEE, example=_with_ids(JANE, JANE_ID), headers=("Location", "ETag")),
)
def create():
    fields = EMPLOYEE.load(json_body())
    employee = execute(HireEmployee(employee_id=new_id(), **fields))
    return created(EMPLOYEE.dump(employee), employee.id, employee.version)


@routes.put("/employees/<uuid:employee_id>")
@operation(
    "Replace an employee's names and address",
    body=EMPLOYEE,
    example=JOHN,
    reply=Reply("The employee as they are now", EMPLOYEE, example=_with_ids(JOHN, JOHN_ID), headers=("ETag",)),
    errors=(404,),
)
def update(employee_id: str):
    fields = EMPLOYEE.load(json_body())
    employee = execute(UpdateEmployee(employee_id=employee_id, expected_version=if_match(), **fields))
    return EMPLOYEE.dump(employee), {"ETag": etag(employee.version)}


@routes.delete("/employees/<uuid:employee_id>")
@operation("Remove an employee (and their address)", status=204, reply=Reply("Removed; no body"), errors=(404,))
def delete(employee_id: str):
    execute(DeleteEmployee(employee_id=employee_id, expected_version=if_match()))
    return no_content()


@routes.post("/employees/<uuid:employee_id>/erase")
@operation(
    "Erase an employee: forget their personal data for good",
    status=204,
    reply=Reply("Erased (or erased already); no body"),
    errors=(404,),
)
def erase(employee_id: str):
    """Removes the employee if they are not yet; their names and address read as "(erased)" in
    every history, as_of read and the feed from then on."""
    execute(EraseEmployee(employee_id=employee_id))
    return no_content()
