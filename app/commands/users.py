"""Users: the write table, the rules, the command handlers and the command routes.

Seed 003's contract: POST /users, PUT /users/<id>, DELETE /users/<id>. An email belongs
to at most one user, whatever its case: the UNIQUE index on ``users.email_key`` decides,
so two requests racing on two workers cannot both win.
"""

from dataclasses import asdict, dataclass

from flask import Blueprint
from sqlalchemy.exc import IntegrityError

from app import erasure, personal_data
from app.bus import UnitOfWork, execute, expect_version
from app.contract import Reply, operation
from app.errors import NotFound, Problem
from app.http import created, etag, if_match, json_body, no_content
from app.ids import new_id
from app.messages.users import (
    USER,
    DeleteUser,
    EraseUser,
    RegisterUser,
    UpdateUser,
    UserDeleted,
    UserErased,
    UserRegistered,
    UserUpdated,
    email_key,
)

STREAM = "user"
# What a duplicate email_key's error names: SQLite the column, PostgreSQL the index.
_EMAIL_KEY_INDEX = ("users.email_key", "users_by_email_key")


@dataclass(frozen=True)
class User:
    """A row of the ``users`` write table (its ``email_key`` is derived from ``email``)."""

    id: str
    first_name: str
    last_name: str
    email: str
    version: int

    def state(self) -> tuple:
        return (self.first_name, self.last_name, self.email)


class EmailTaken(Problem):
    def __init__(self, email: str):
        super().__init__(
            409,
            f"Another user already has the email address {email} (emails are compared ignoring case).",
            errors={"email": ["Another user already has this email address."]},
        )


def _load(uow: UnitOfWork, user_id: str) -> User:
    """The user as the write table has it; NotFound (404) if there is none."""
    row = uow.first("SELECT id, first_name, last_name, email, version FROM users WHERE id = :id", id=user_id)
    if row is None:
        raise NotFound("user", user_id)
    return User(*row)


def _write(uow: UnitOfWork, sql: str, user: User) -> None:
    """Run ``sql`` with the user's fields; EmailTaken (409) if the email's key is another user's."""
    try:
        uow.execute(sql, **asdict(user), email_key=email_key(user.email))
    except IntegrityError as error:
        if not any(name in str(error.orig) for name in _EMAIL_KEY_INDEX):
            raise
        raise EmailTaken(user.email) from None


def register_user(uow: UnitOfWork, cmd: RegisterUser) -> User:
    """Add the user; 409 if another user has the email (in any case)."""
    user = User(cmd.user_id, cmd.first_name, cmd.last_name, cmd.email, version=1)
    _write(
        uow,
        "INSERT INTO users (id, first_name, last_name, email, email_key, version)"
        " VALUES (:id, :first_name, :last_name, :email, :email_key, :version)",
        user,
    )
    uow.record(STREAM, user.id, user.version, UserRegistered(*user.state()))
    return user


def update_user(uow: UnitOfWork, cmd: UpdateUser) -> User:
    """Replace names and email; 404 if unknown, 409 if another user has the email.
    An update that changes nothing records nothing."""
    current = _load(uow, cmd.user_id)
    expect_version(current.version, cmd.expected_version)
    user = User(cmd.user_id, cmd.first_name, cmd.last_name, cmd.email, version=current.version + 1)
    if user.state() == current.state():
        return current
    _write(
        uow,
        "UPDATE users SET first_name = :first_name, last_name = :last_name, email = :email,"
        " email_key = :email_key, version = :version WHERE id = :id",
        user,
    )
    uow.record(STREAM, user.id, user.version, UserUpdated(*user.state()))
    return user


def delete_user(uow: UnitOfWork, cmd: DeleteUser) -> None:
    """Remove the user, freeing the email for another, and destroy their key: their personal
    data reads as placeholders from then on; 404 if unknown."""
    current = _load(uow, cmd.user_id)
    expect_version(current.version, cmd.expected_version)
    uow.execute("DELETE FROM users WHERE id = :id", id=current.id)
    personal_data.erase(uow, STREAM, current.id)
    uow.record(STREAM, current.id, current.version + 1, UserDeleted())


def erase_user(uow: UnitOfWork, cmd: EraseUser) -> None:
    """Forget the user: delete them if they are not yet, destroy their key and record
    UserErased; 404 if no user ever had the id. Erasing an erased user changes nothing."""
    version, last_type = erasure.last_event(uow, STREAM, cmd.user_id)
    if last_type == UserErased.type_name:
        return
    if uow.first("SELECT 1 FROM users WHERE id = :id", id=cmd.user_id) is not None:
        uow.execute("DELETE FROM users WHERE id = :id", id=cmd.user_id)
        version += 1
        uow.record(STREAM, cmd.user_id, version, UserDeleted())
    erasure.erase(uow, STREAM, cmd.user_id, version + 1, UserErased())


HANDLERS = {RegisterUser: register_user, UpdateUser: update_user, DeleteUser: delete_user, EraseUser: erase_user}

# ---------------------------------------------------------------- routes

routes = Blueprint("users", __name__)


ADA = {"first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Example.com"}
ADA_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


@routes.post("/users")
@operation(
    "Register a user",
    body=USER,
    example=ADA,
    status=201,
    reply=Reply("The user registered", USER, example={"id": ADA_ID, **ADA}, headers=("Location", "ETag")),
    errors=(409,),
)
def create():
    fields = USER.load(json_body())
    user = execute(RegisterUser(user_id=new_id(), **fields))
    return created(USER.dump(user), user.id, user.version)


@routes.put("/users/<uuid:user_id>")
@operation(
    "Replace a user's names and email",
    body=USER,
    example={**ADA, "last_name": "King"},
    reply=Reply("The user now", USER, example={"id": ADA_ID, **ADA, "last_name": "King"}, headers=("ETag",)),
    errors=(404, 409),
)
def update(user_id: str):
    fields = USER.load(json_body())
    user = execute(UpdateUser(user_id=user_id, expected_version=if_match(), **fields))
    return USER.dump(user), {"ETag": etag(user.version)}


@routes.delete("/users/<uuid:user_id>")
@operation(
    "Delete a user (their email is free again, their personal data erased)",
    status=204,
    reply=Reply("Deleted; no body"),
    errors=(404,),
)
def delete(user_id: str):
    execute(DeleteUser(user_id=user_id, expected_version=if_match()))
    return no_content()


@routes.post("/users/<uuid:user_id>/erase")
@operation(
    "Erase a user: forget their personal data for good",
    status=204,
    reply=Reply("Erased (or erased already); no body"),
    errors=(404,),
)
def erase(user_id: str):
    """Deletes the user if they are not yet; their names and email read as "(erased)" in every
    history, as_of read and the feed from then on."""
    execute(EraseUser(user_id=user_id))
    return no_content()
