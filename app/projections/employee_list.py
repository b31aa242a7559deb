"""employee_list keeps employee_list_view: one ``{id, name, city}`` row per employee, indexed by
name and by city then name, so the list and its city filter read in order without sorting."""

from app.db import Tx
from app.eventlog import Recorded
from app.messages.employees import EmployeeHired, EmployeeLeft, EmployeeUpdated, list_name
from app.projector import Projection


def on_employee_hired(tx: Tx, e: Recorded) -> None:
    tx.execute(
        "INSERT INTO employee_list_view (id, name, city) VALUES (:id, :name, :city)",
        id=e.stream_id,
        name=list_name(e.data.first_name, e.data.last_name),
        city=e.data.address["city"],
    )


def on_employee_updated(tx: Tx, e: Recorded) -> None:
    tx.execute(
        "UPDATE employee_list_view SET name = :name, city = :city WHERE id = :id",
        id=e.stream_id,
        name=list_name(e.data.first_name, e.data.last_name),
        city=e.data.address["city"],
    )


def on_employee_left(tx: Tx, e: Recorded) -> None:
    tx.execute("DELETE FROM employee_list_view WHERE id = :id", id=e.stream_id)


# Version 2: the name index holds the city too (a page reads the index alone).
projection = Projection(
    "employee_list",
    tables=["employee_list_view"],
    handlers={EmployeeHired: on_employee_hired, EmployeeUpdated: on_employee_updated, EmployeeLeft: on_employee_left},
    version=2,
)
