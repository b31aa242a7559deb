"""What each route takes and answers: the metadata the API description (app/openapi.py) is
built from, and the query-string parsing done by the very schemas it documents.

A route stacks ``@operation(...)`` under its route decorator. With ``query=``, its view is
called with ``args``: the query string loaded by that schema, or a 400 naming each bad
argument. So the arguments a route reads are exactly the ones it documents.
"""

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, missing

from app.current import this_request
from app.errors import invalid
from app.http import NUL


@dataclass(frozen=True)
class Reply:
    """One answer of a route: what it means, its body (None: no body), an example, its headers."""

    description: str
    schema: Schema | type[Schema] | dict | None = None
    example: Any = None
    headers: tuple[str, ...] = ()
    media_type: str = "application/json"


@dataclass(frozen=True)
class Operation:
    """What ``@operation`` records on a view."""

    summary: str | None = None
    description: str | None = None
    body: Schema | type[Schema] | None = None
    example: Any = None
    body_required: bool = True
    status: int = 200
    reply: Reply | None = None
    replies: Mapping[int, Reply] = field(default_factory=dict)
    query: type["QueryArgs"] | None = None
    errors: tuple[int, ...] = ()
    if_match: bool | None = None
    if_none_match: bool = False
    tag: str | None = None


class QueryArgs(Schema):
    """Base of the query-string schemas. Arguments a route does not name are ignored."""

    class Meta:
        unknown = EXCLUDE


def operation(summary: str | None = None, **details):
    """Describe a route for the API description: ``body`` (a schema), its ``example``, and
    ``body_required=False`` when it may be left out; the success ``status`` and its ``reply`` (a
    Reply); other ``replies`` by status; ``query`` (a QueryArgs schema, which also parses the
    view's ``args``); the ``errors`` it answers besides those added for its kind; ``if_match``
    (default: PUT and DELETE take it); ``if_none_match`` (answers 304); ``tag``."""
    described = Operation(summary, **details)

    def describe(view):
        if described.query is not None:
            view = _taking_args(view, described.query())
        view.openapi = described  # survives functools.wraps (app/commands/__init__.py)
        return view

    return describe


def _taking_args(view, schema: QueryArgs):
    """``view`` called with ``args=`` the query string as ``schema`` loads it."""
    needs_load = any(f.required for f in schema.load_fields.values())

    @functools.wraps(view)
    def parsed(**kwargs):
        asked = this_request()
        # The environ's query string, not request.args, tells a bare URL (the usual read):
        # parsing an empty one into args costs about what a read model's read does.
        if needs_load or asked.environ.get("QUERY_STRING"):
            given = asked.args
            if nul := [name for name, value in given.items(multi=True) if "\x00" in value]:
                raise invalid({name: [NUL] for name in nul})
            try:
                args = schema.load(given)
            except ValidationError as error:
                raise invalid(error.normalized_messages()) from None
        else:  # a bare URL, the usual read: the defaults, without a load
            args = _defaults(schema)
        return view(args=args, **kwargs)

    return parsed


def _defaults(schema: QueryArgs) -> dict:
    """What ``schema.load({})`` answers, for a schema with no required field."""
    defaults = {}
    for name, f in schema.load_fields.items():
        if f.load_default is not missing:
            defaults[f.attribute or name] = f.load_default() if callable(f.load_default) else f.load_default
    return defaults
