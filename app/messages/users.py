"""Users (seed 003's sample): commands, events, and the user's JSON shape (snake_case)."""

from dataclasses import dataclass
from json.encoder import encode_basestring as text  # a JSON string, as json.dumps(ensure_ascii=False) writes it

from marshmallow import Schema, fields, validate

from app.eventlog import ERASED, Event, event
from app.messages.fields import Trimmed

# ---------------------------------------------------------------- commands


@dataclass(frozen=True)
class RegisterUser:
    user_id: str
    first_name: str
    last_name: str
    email: str


@dataclass(frozen=True)
class UpdateUser:
    user_id: str
    first_name: str
    last_name: str
    email: str
    expected_version: int | None = None  # from If-Match; None accepts any


@dataclass(frozen=True)
class DeleteUser:
    user_id: str
    expected_version: int | None = None  # from If-Match; None accepts any


@dataclass(frozen=True)
class EraseUser:
    user_id: str


# ---------------------------------------------------------------- events (stream type "user")
# Each event carries the user's full state: other modules (orders) learn names and emails from them.
# Names and email are personal: stored encrypted under the user's key, read as ERASED once it is gone.
USER_PERSONAL = {"first_name": ERASED, "last_name": ERASED, "email": ERASED}


@event("UserRegistered", personal=USER_PERSONAL)
@dataclass(frozen=True)
class UserRegistered(Event):
    first_name: str
    last_name: str
    email: str


@event("UserUpdated", personal=USER_PERSONAL)
@dataclass(frozen=True)
class UserUpdated(Event):
    first_name: str
    last_name: str
    email: str


@event("UserDeleted", erases=True)  # deleting a user destroys their key: their data is gone
@dataclass(frozen=True)
class UserDeleted(Event):
    pass


@event("UserErased", erases=True)
@dataclass(frozen=True)
class UserErased(Event):
    """The person asked to be forgotten: their key is destroyed (and the user deleted, if they
    were not yet). It carries no personal data."""


# ---------------------------------------------------------------- JSON


def email_key(email: str) -> str:
    """The form in which emails are compared: two addresses differing only in case are one."""
    return email.lower()


class UserSchema(Schema):
    """``{id, first_name, last_name, email}``: the body of POST and PUT, and of every user reply.

    The email is kept exactly as given; uniqueness is decided on its ``email_key``.
    """

    id = fields.String(dump_only=True, metadata={"format": "uuid"})
    first_name = Trimmed(required=True, validate=validate.Length(min=1, max=100))
    last_name = Trimmed(required=True, validate=validate.Length(min=1, max=100))
    email = fields.Email(required=True, validate=validate.Length(max=254))


USER = UserSchema()


def user_document(user_id: str, user: UserRegistered | UserUpdated) -> str:
    """The JSON text of ``USER``'s dump of the user, written directly: a projection renders
    one per event, and a dump and ``json.dumps`` cost far more (a test holds them equal)."""
    return '{"id":%s,"first_name":%s,"last_name":%s,"email":%s}' % tuple(
        map(text, (user_id, user.first_name, user.last_name, user.email))
    )
