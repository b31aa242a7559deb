"""Users, read side: GET /users (by last name, first name, paginated; ``?email=`` finds one)
and GET /users/<id>, from read tables only."""

from flask import Blueprint
from marshmallow import fields

from app.auth import personal
from app.contract import Reply, operation
from app.db import read
from app.messages.users import USER, UserDeleted, email_key
from app.pagination import Page, PageArgs
from app.queries._documents import AsOfArgs, details

routes = Blueprint("users", __name__)


ADA = {
    "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "Ada@Example.com",
}


class UserListArgs(PageArgs):
    email = fields.String(
        metadata={"description": "Only the user with this email, ignoring case.", "example": "ada@example.com"}
    )


@routes.get("/users")
@personal
@operation(
    "List users by last name and first name, or find one by email",
    query=UserListArgs,
    reply=Reply("One page of users", {"type": "array", "items": USER}, example=[ADA], headers=("Link",)),
    errors=(400,),
)
def index(args: dict):
    """``[{id, first_name, last_name, email}]`` ordered by last name, first name, then id;
    ``?email=`` keeps only the user with that email, compared case-insensitively."""
    page = Page.of(args, key=(str, str, str))
    email = args.get("email")
    conditions, params = [], {"n": page.fetch}
    if email is not None:
        conditions.append("email_key = :email_key")
        params["email_key"] = email_key(email)
    if page.after is not None:
        conditions.append("(last_name, first_name, id) > (:last_name, :first_name, :id)")
        params["last_name"], params["first_name"], params["id"] = page.after
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = read(
        "SELECT json_object('id', id, 'first_name', first_name, 'last_name', last_name, 'email', email),"
        f" last_name, first_name, id FROM user_list_view {where} ORDER BY last_name, first_name, id LIMIT :n",
        **params,
    )
    return page.rendered(rows)


@routes.get("/users/<uuid:user_id>")
@personal
@operation(
    "Read a user (now, or as of a past moment)",
    query=AsOfArgs,
    reply=Reply("The user", USER, example=ADA, headers=("ETag",)),
    if_none_match=True,
    errors=(400, 404),
)
def show(user_id: str, args: dict):
    """``{id, first_name, last_name, email}``; 404 if unknown. The document was rendered by the projection."""
    return details("user", user_id, "user_details_view", USER, gone=UserDeleted.type_name, as_of=args.get("as_of"))
