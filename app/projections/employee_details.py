"""employee_details keeps employee_details_view: each employee's reply to GET /employees/<id>,
rendered ahead of time (nested address included), so the query side never joins."""

from app.db import Tx
from app.eventlog import Recorded
from app.messages.employees import EmployeeHired, EmployeeLeft, EmployeeUpdated, employee_document
from app.projector import Projection


def on_employee_saved(tx: Tx, e: Recorded) -> None:
    tx.execute(
        "INSERT INTO employee_details_view (id, version, document) VALUES (:id, :version, :document)"
        " ON CONFLICT (id) DO UPDATE SET version = excluded.version, document = excluded.document",
        id=e.stream_id,
        version=e.version,
        document=employee_document(e.stream_id, e.data),
    )


def on_employee_left(tx: Tx, e: Recorded) -> None:
    tx.execute("DELETE FROM employee_details_view WHERE id = :id", id=e.stream_id)


projection = Projection(
    "employee_details",
    tables=["employee_details_view"],
    handlers={EmployeeHired: on_employee_saved, EmployeeUpdated: on_employee_saved, EmployeeLeft: on_employee_left},
)
