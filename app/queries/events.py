"""The audit side of the read model, from event_history_view: the event feed, each stream's
history, and an aggregate's state as of a past moment.

- GET /events?after=<position>&limit=&stream_type=&type=&wait= : the log in position order,
  for other systems to follow; the Link header continues after the last position served.
  With ``wait``, an empty page is answered only once that many seconds pass (app/feed.py).
- GET /<module>/<id>/history : that stream's events, oldest first (paginated by version).
"""

import json
from urllib.parse import urlencode

from flask import Blueprint, current_app, jsonify, request
from marshmallow import Schema, fields, validate

from app.feed import wait as wait_for_events
from app.auth import personal
from app.contract import Reply, operation
from app.db import transaction
from app.errors import NotFound
from app.eventlog import class_of, current_payload
from app.http import public_url
from app.pagination import INTEGER_MAX, LimitArgs, Page, PageArgs, WholeNumber

routes = Blueprint("events", __name__)
# The feed on its own too: a command process serves it (app.queries.feed_only) to those that follow it.
feed_routes = Blueprint("feed", __name__)

STREAMS = {"items": "item", "employees": "employee", "users": "user", "orders": "order", "devices": "device"}
_COLUMNS = "position, event_id, stream_type, stream_id, version, type, schema_version, payload, occurred_at, correlation_id, causation_id"


class EventSchema(Schema):
    """One event of the log, as the feed and the histories show it."""

    position = fields.Integer(required=True, metadata={"description": "Its place in the whole log: 1, 2, 3 …"})
    event_id = fields.String(required=True, metadata={"format": "uuid"})
    stream_type = fields.String(required=True, metadata={"example": "item"})
    stream_id = fields.String(required=True, metadata={"description": "The id of the resource it belongs to."})
    version = fields.Integer(required=True, metadata={"description": "Its place in its stream: 1, 2, 3 …"})
    type = fields.String(required=True, metadata={"example": "ItemCreated"})
    schema_version = fields.Integer(
        required=True,
        metadata={
            "description": "The version of `data`'s shape: as stored, in the feed; the current one, in a history."
        },
    )
    data = fields.Dict(
        required=True,
        metadata={
            "description": "The event's fields: the state it recorded. A person's names, email and address"
            ' read "(erased)" once the person is erased.'
        },
    )
    occurred_at = fields.String(required=True, metadata={"format": "date-time"})
    correlation_id = fields.String(
        required=True, allow_none=True, metadata={"description": "The X-Request-ID of the request that appended it."}
    )
    causation_id = fields.String(
        required=True, allow_none=True, metadata={"description": "The event that caused it, if another event did."}
    )


class FeedArgs(LimitArgs):
    after = WholeNumber(
        0,
        INTEGER_MAX,
        "Must be a position: a whole number from 0 to {maximum}.",
        load_default=0,
        validate=validate.Range(min=0, max=INTEGER_MAX),
        metadata={"description": "The last position you have; the feed starts after it.", "example": 0},
    )
    stream_type = fields.String(metadata={"description": "Only events of this stream type.", "example": "item"})
    type = fields.String(metadata={"description": "Only events of this type.", "example": "ItemCreated"})
    wait = WholeNumber(
        0,
        lambda: current_app.config["FEED_MAX_WAIT_SECONDS"],
        "Must be seconds: a whole number from 0 to {maximum}.",
        load_default=0,
        validate=validate.Range(min=0),
        metadata={
            "description": "Seconds to wait for events after `after` when there are none yet (at most"
            " FEED_MAX_WAIT_SECONDS): the page comes as soon as they are committed, or empty when the time is up.",
            "example": 20,
        },
    )


SEED_EVENT = {
    "position": 1,
    "event_id": "c0f7a1d2-5b1e-4c38-9a8e-000000000001",
    "stream_type": "item",
    "stream_id": "12a33c84-ee60-45a1-848d-428ad3259abc",
    "version": 1,
    "type": "ItemCreated",
    "schema_version": 1,
    "data": {"name": "Bacon", "description": "Everything tastes better, with bacon 🥓", "price_cents": None},
    "occurred_at": "2024-01-01T00:00:00.000000Z",
    "correlation_id": "seed",
    "causation_id": None,
}
EVENTS = {"type": "array", "items": EventSchema}


def _event(row) -> dict:
    """The event as stored: the feed serves each event the same way forever, whatever the code
    reading it later; a consumer reads ``schema_version`` to know its shape. Personal fields are
    the exception: event_history_view keeps them opened, and as placeholders once erased."""
    event = row._asdict()
    event["data"] = json.loads(event.pop("payload"))
    return event


def _current(row) -> dict:
    """The event as today's code reads it (upcast, under its current type name), for histories."""
    event = _event(row)
    cls = class_of(event["type"])
    event["data"] = current_payload(event["type"], event["schema_version"], event["data"])
    event["type"], event["schema_version"] = cls.type_name, cls.schema_version
    return event


@feed_routes.get("/events")
@personal
@operation(
    "Follow the event log",
    query=FeedArgs,
    reply=Reply("Events after `after`, in position order", EVENTS, example=[SEED_EVENT], headers=("Link",)),
    errors=(400,),
)
def feed(args: dict):
    """``[{position, event_id, stream_type, stream_id, version, type, data, ...}]`` after ``after``;
    with ``wait``, as soon as there are any, or ``[]`` when the wait ends."""
    limit = args["limit"]
    rows = wait_for_events(lambda: _feed_rows(args), args["wait"]) if args["wait"] else _feed_rows(args)
    response = jsonify([_event(row) for row in rows[:limit]])
    if len(rows) > limit:
        args = [(k, v) for k, v in request.args.items(multi=True) if k not in ("after", "limit")]
        args += [("after", rows[limit - 1].position), ("limit", limit)]
        response.headers["Link"] = f'<{public_url()}?{urlencode(args)}>; rel="next"'
    return response


def _feed_rows(args: dict) -> list:
    """One more row than the page, in a query transaction of its own."""
    conditions, params = ["position > :after"], {"after": args["after"], "n": args["limit"] + 1}
    for name in ("stream_type", "type"):
        if name in args:
            conditions.append(f"{name} = :{name}")
            params[name] = args[name]
    with transaction("query") as tx:
        return tx.all(
            f"SELECT {_COLUMNS} FROM event_history_view WHERE {' AND '.join(conditions)} ORDER BY position LIMIT :n",
            **params,
        )


@routes.get(f"/<any({','.join(STREAMS)}):module>/<uuid:stream_id>/history")
@personal
@operation(
    "A resource's history: its events, oldest first",
    query=PageArgs,
    reply=Reply("One page of the stream's events, by version", EVENTS, example=[SEED_EVENT], headers=("Link",)),
    errors=(400, 404),
)
def history(module: str, stream_id: str, args: dict):
    """The stream's events, oldest first; 404 if the stream has none."""
    page = Page.of(args, key=(int,))
    after = page.after[0] if page.after else 0
    with transaction("query") as tx:
        rows = tx.all(
            f"SELECT {_COLUMNS} FROM event_history_view WHERE stream_type = :stream_type AND stream_id = :id"
            " AND version > :after ORDER BY version LIMIT :n",
            stream_type=STREAMS[module],
            id=stream_id,
            after=after,
            n=page.fetch,
        )
    if not rows and not after:
        raise NotFound(STREAMS[module], stream_id)
    return page.response([_current(row) for row in rows], key=lambda event: (event["version"],))


routes.register_blueprint(feed_routes)
