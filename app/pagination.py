"""Keyset pagination: ``?limit=`` and an opaque ``?cursor=``; the next page is in a Link header.

The cursor carries the sort key of the last row served, so the next page is one
index range scan from there: page 1,000 costs what page 1 costs. Bodies stay plain
JSON arrays, so clients that ignore the Link header keep working.
"""

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from flask import Response, jsonify
from marshmallow import ValidationError, fields, validate

from app.contract import QueryArgs
from app.current import this_app, this_request
from app.errors import invalid
from app.http import public_url, unstorable

#: The largest integer SQLite stores; a larger one in a query would be an OverflowError, not a 400.
INTEGER_MAX = 2**63 - 1
#: Above the longest cursor a list issues: two names of 100 characters that JSON escapes as
#: two \u escapes each, and an id, in base64.
MAX_CURSOR_LENGTH = 4096


def encode_cursor(key: Sequence) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str, types: Sequence[type]) -> tuple:
    """The sort key inside a cursor; a 400 for anything this service did not issue (too long,
    not base64 of a JSON array of values of ``types``, strings and integers, text that is not
    Unicode). A value of the wrong type is refused here: PostgreSQL would fail comparing it."""
    key = None
    if len(cursor) <= MAX_CURSOR_LENGTH:
        try:
            key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        except (binascii.Error, ValueError, RecursionError):
            pass
    if not (isinstance(key, list) and len(key) == len(types) and all(map(_sort_key_value, key, types))):
        raise invalid({"cursor": ["Not a cursor from this service's Link header."]})
    return tuple(key)


def _sort_key_value(value, kind: type) -> bool:
    if type(value) is not kind:  # not isinstance: a bool is an int
        return False
    if kind is str:
        return unstorable(value) is None
    return kind is int and -INTEGER_MAX - 1 <= value <= INTEGER_MAX


class WholeNumber(fields.Integer):
    """A whole number in ASCII digits from ``minimum`` to ``maximum`` (a number, or a function
    of the app's settings), else ``message`` (which may name {maximum}). Plain int() would also
    take " 5", "+5" or "٥"."""

    def __init__(self, minimum: int, maximum: int | Callable[[], int], message: str, **kwargs):
        super().__init__(**kwargs)
        self.minimum, self.maximum, self.message = minimum, maximum, message

    def _deserialize(self, value, attr, data, **kwargs) -> int:
        maximum = self.maximum() if callable(self.maximum) else self.maximum
        if not (
            isinstance(value, str) and value.isascii() and value.isdigit() and self.minimum <= int(value) <= maximum
        ):
            raise ValidationError(self.message.format(maximum=maximum))
        return int(value)


def _page_size_max() -> int:
    return this_app().config["PAGE_SIZE_MAX"]


def _page_size_default() -> int:
    return min(this_app().config["PAGE_SIZE_DEFAULT"], _page_size_max())


class LimitArgs(QueryArgs):
    """``?limit=``: PAGE_SIZE_DEFAULT rows when absent."""

    limit = WholeNumber(
        1,
        _page_size_max,
        "Must be an integer from 1 to {maximum}.",
        load_default=_page_size_default,
        validate=validate.Range(min=1),
        metadata={"description": "Rows per page (at most PAGE_SIZE_MAX).", "example": 10},
    )


class PageArgs(LimitArgs):
    """``?limit=&cursor=``."""

    cursor = fields.String(
        metadata={"description": "Where the page starts: copy it from the previous page's Link header; it is opaque."},
    )


@dataclass(frozen=True)
class Page:
    """One page request: how many rows, and the sort key to continue after (None: from the start)."""

    limit: int
    after: tuple | None

    @classmethod
    def of(cls, args: dict, key: Sequence[type]) -> "Page":
        """The page that PageArgs ``args`` ask for, in a list sorted by a key of values of these types."""
        cursor = args.get("cursor")
        return cls(args["limit"], decode_cursor(cursor, key) if cursor else None)

    @property
    def fetch(self) -> int:
        """Rows to select: one more than the page, to learn whether a next page exists."""
        return self.limit + 1

    def response(self, rows: list[dict], key: Callable[[dict], Sequence]) -> Response:
        """The rows of this page as a JSON array, with ``Link: <…>; rel="next"`` when more exist."""
        return self._linked(jsonify(rows[: self.limit]), rows, key)

    def rendered(self, rows: list[tuple]) -> Response:
        """Like ``response``, for rows of (JSON document, *sort key), rendered ahead (by a
        projection, or by the database's json_object()): the page is joined here, not encoded
        (the lists' hot path)."""
        body = f"[{','.join(row[0] for row in rows[: self.limit])}]"
        return self._linked(Response(body, mimetype="application/json"), rows, lambda row: row[1:])

    def _linked(self, response: Response, rows: list, key: Callable) -> Response:
        if len(rows) > self.limit:
            # A number and URL-safe base64: nothing in them to escape.
            query = f"limit={self.limit}&cursor={encode_cursor(key(rows[self.limit - 1]))}"
            asked = this_request()
            if asked.environ.get("QUERY_STRING"):  # the request's other arguments go on
                kept = [(k, v) for k, v in asked.args.items(multi=True) if k not in ("cursor", "limit")]
                query = f"{urlencode(kept)}&{query}" if kept else query
            response.headers["Link"] = f'<{public_url()}?{query}>; rel="next"'
        return response
