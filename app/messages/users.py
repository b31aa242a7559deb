"""Users (seed 003's sample): commands, events, and the user's JSON shape (snake_case)."""

from dataclasses import dataclass
from json.encoder import encode_basestring as text  # a JSON string, as json.dumps(ensure_ascii=False) writes it

from marshmallow import Schema, fields, validate

from app.eventlog import Event, event
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


# ---------------------------------------------------------------- events (stream type "user")
# Each event carries the user's full state: other modules (orders) learn names and emails from them.


@event("UserRegistered")
@dataclass(frozen=True)
class UserRegistered(Event):
    first_name: str
    last_name: str
    email: str


@event("UserUpdated")
@dataclass(frozen=True)
class UserUpdated(Event):
    first_name: str
    last_name: str
    email: str


@event("UserDeleted")
@dataclass(frozen=True)
class UserDeleted(Event):
    pass


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
