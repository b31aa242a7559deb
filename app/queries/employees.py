"""Employees, read side: GET /employees (by name, optionally one city, paginated) and
GET /employees/<id>, from read tables only."""

from flask import Blueprint
from marshmallow import fields

from app.auth import personal
from app.contract import Reply, operation
from app.db import read
from app.messages.employees import EMPLOYEE, EMPLOYEE_SUMMARY, EmployeeLeft
from app.pagination import Page, PageArgs
from app.queries._documents import AsOfArgs, details

routes = Blueprint("employees", __name__)


JOHN_ID = "12a33c84-ee60-45a1-848d-428ad3259abc"
JOHN = {
    "id": JOHN_ID,
    "firstName": "John",
    "lastName": "Doe",
    "address": {"id": JOHN_ID, "street": "1 Main Street", "zip": "02112", "city": "Boston"},
}


class EmployeeListArgs(PageArgs):
    city = fields.String(
        metadata={"description": "Only employees in exactly this city (case-sensitive).", "example": "Boston"}
    )


@routes.get("/employees")
@personal
@operation(
    "List employees by name, optionally in one city",
    query=EmployeeListArgs,
    reply=Reply(
        "One page of employees, by name then id",
        {"type": "array", "items": EMPLOYEE_SUMMARY},
        example=[{"id": JOHN_ID, "name": "Doe, John", "city": "Boston"}],
        headers=("Link",),
    ),
    errors=(400,),
)
def index(args: dict):
    """``[{id, name, city}]`` ordered by name ("<lastName>, <firstName>"), then id; ``?city=`` keeps
    only employees in exactly that city."""
    page = Page.of(args, key=(str, str))
    city = args.get("city")
    conditions, params = [], {"n": page.fetch}
    # Each filter narrows one index range: (city, name, id) with a city, (name, id) without.
    if city is not None:
        conditions.append("city = :city")
        params["city"] = city
    if page.after is not None:
        conditions.append("(name, id) > (:name, :id)")
        params["name"], params["id"] = page.after
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = read(f"SELECT summary, name, id FROM employee_list_view {where} ORDER BY name, id LIMIT :n", **params)
    return page.rendered(rows)


@routes.get("/employees/<uuid:employee_id>")
@personal
@operation(
    "Read an employee (now, or as of a past moment)",
    query=AsOfArgs,
    reply=Reply("The employee", EMPLOYEE, example=JOHN, headers=("ETag",)),
    if_none_match=True,
    errors=(400, 404),
)
def show(employee_id: str, args: dict):
    """``{id, firstName, lastName, address: {id, street, zip, city}}``; 404 if unknown.
    The document was rendered by the projection."""
    return details(
        "employee", employee_id, "employee_details_view", EMPLOYEE, gone=EmployeeLeft.type_name, as_of=args.get("as_of")
    )
