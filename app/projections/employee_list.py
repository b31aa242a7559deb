"""employee_list keeps employee_list_view: one row per employee with its entry of GET /employees
rendered (``{id, name, city}``), indexed by name and by city then name with the entry, so the
list and its city filter are one range of an index each, read in order without sorting."""

from app.db import Tx
from app.eventlog import Recorded
from app.messages.employees import EmployeeHired, EmployeeLeft, EmployeeUpdated, employee_summary, list_name
from app.projector import Projection


def _row(e: Recorded) -> dict:
    name, city = list_name(e.data.first_name, e.data.last_name), e.data.address["city"]
    return {"id": e.stream_id, "name": name, "city": city, "summary": employee_summary(e.stream_id, name, city)}


def on_employee_hired(tx: Tx, e: Recorded) -> None:
    tx.execute(
        "INSERT INTO employee_list_view (id, name, city, summary) VALUES (:id, :name, :city, :summary)", **_row(e)
    )


def on_employee_updated(tx: Tx, e: Recorded) -> None:
    tx.execute("UPDATE employee_list_view SET name = :name, city = :city, summary = :summary WHERE id = :id", **_row(e))


def on_employee_left(tx: Tx, e: Recorded) -> None:
    tx.execute("DELETE FROM employee_list_view WHERE id = :id", id=e.stream_id)


# Version 2: each row keeps its rendered entry (a page joins them as they are).
projection = Projection(
    "employee_list",
    tables=["employee_list_view"],
    handlers={EmployeeHired: on_employee_hired, EmployeeUpdated: on_employee_updated, EmployeeLeft: on_employee_left},
    version=2,
)
