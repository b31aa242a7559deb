"""GET /<module>/<id> for the modules whose projection keeps each aggregate's ready JSON
document: the document now, or as it was at ``?as_of=`` (rebuilt from the aggregate's events
in event_history_view, whose payloads carry its whole state)."""

import json
import re
from typing import NamedTuple

from flask import Response
from marshmallow import Schema, ValidationError, fields

from app.contract import QueryArgs
from app.db import read, transaction
from app.documents import render
from app.errors import NotFound
from app.eventlog import class_of, current_payload
from app.http import document_response
from app.pagination import INTEGER_MAX
from app.times import OUT_OF_RANGE, parse_time


class Moment(NamedTuple):
    """A point in the log: ``column`` is "position" or "occurred_at", ``point`` its value."""

    column: str
    point: int | str
    text: str  # as the client wrote it


class AsOf(fields.String):
    """A log position, or an ISO 8601 time with a timezone, as a Moment."""

    def _deserialize(self, value, attr, data, **kwargs) -> Moment:
        raw = super()._deserialize(value, attr, data, **kwargs)
        if raw.isascii() and raw.isdigit():
            if int(raw) > INTEGER_MAX:
                raise ValidationError(f"A log position is at most {INTEGER_MAX}.")
            return Moment("position", int(raw), raw)
        try:
            if not re.match(r"^\d{4}-\d{2}-\d{2}T", raw):  # a date alone is not a moment
                raise ValueError(raw)
            return Moment("occurred_at", parse_time(raw), raw)
        except ValueError as error:
            out_of_range = str(error) == OUT_OF_RANGE
            raise ValidationError(
                OUT_OF_RANGE if out_of_range else "Must be a log position or an ISO 8601 time with a timezone."
            ) from None


class AsOfArgs(QueryArgs):
    as_of = AsOf(
        metadata={
            "description": "Answer the state as it was then: a log position, or an ISO 8601 time with a timezone.",
            "example": "2025-01-01T00:00:00+00:00",
        }
    )


def details(stream_type: str, stream_id: str, view: str, schema: Schema, gone: str, as_of: Moment | None) -> Response:
    """The aggregate's document from ``view`` (a details view: id, document, version) with its
    ETag, or as it was at ``as_of``; 404 if unknown (or at as_of not yet made, or already
    ``gone``: the type name of its last event)."""
    if as_of is not None:
        return document_as_of(stream_type, stream_id, as_of, schema, gone={gone})
    found = read(f"SELECT document, version FROM {view} WHERE id = :id", id=stream_id)
    if not found:
        raise NotFound(stream_type, stream_id)
    document, version = found[0]
    return document_response(document, version)


def document_as_of(stream_type: str, stream_id: str, as_of: Moment, schema: Schema, gone: set[str]) -> Response:
    """The aggregate's reply as it was at ``as_of``, rebuilt from its events (their payloads
    carry the whole state); 404 if it did not exist then. ETag: the version it had then."""
    with transaction("query") as tx:
        row = tx.first(
            "SELECT type, schema_version, version, payload FROM event_history_view"
            f" WHERE stream_type = :stream_type AND stream_id = :id AND {as_of.column} <= :point"
            " ORDER BY version DESC LIMIT 1",
            stream_type=stream_type,
            id=stream_id,
            point=as_of.point,
        )
    if row is None or class_of(row.type).type_name in gone:
        raise NotFound(f"{stream_type} (as of {as_of.text})", stream_id)
    state = current_payload(row.type, row.schema_version, json.loads(row.payload))  # as today's class has it
    return document_response(render(schema, stream_id, state), row.version)
