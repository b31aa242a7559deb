"""HTTP edges shared by every module: strict JSON bodies, ids in paths, request ids."""

import json
import random
import re
import time
from collections.abc import Callable
from decimal import Decimal
from typing import IO
from urllib.parse import quote

from flask import Flask, Request, Response, current_app, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.routing import BaseConverter, Rule
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream

from app.correlation import REQUEST_ID
from app.current import this_app, this_request
from app.errors import Problem, invalid
from app.ids import is_uuid

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@-]{1,200}")  # whole: the access line writes it unescaped
MAX_JSON_DEPTH = 32


class UUIDConverter(BaseConverter):
    """``<uuid:name>`` in routes: a malformed id is a bad request (400), not an unknown route (404).

    Replaces werkzeug's converter of the same name; values arrive lower-cased, canonical.
    """

    def to_python(self, value: str) -> str:
        if not is_uuid(value):
            # Raised while routing, so it must be an HTTPException for Flask to defer it.
            raise BadRequest(f"{value!r} is not a UUID.")
        return value.lower()

    def to_url(self, value) -> str:
        return str(value)


class ApiJSON(DefaultJSONProvider):
    """Responses keep field order and send UTF-8 as is (no \\u escapes)."""

    ensure_ascii = False
    sort_keys = False


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _object_without_duplicates(pairs: list) -> dict:
    obj = dict(pairs)  # in C; a key seen twice leaves the dict shorter than the pairs
    if len(obj) != len(pairs):
        seen: set = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"duplicate key {duplicate!r}")
    return obj


def _nested_deeper_than(document, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels deep: level by level,
    looking at each value once (a batch of telemetry is hundreds of small objects). A parsed
    body holds plain dicts and lists only, so exact type checks suffice."""
    level = [document]
    for _ in range(limit):
        level = [
            value
            for container in level
            for value in (container.values() if type(container) is dict else container)
            if type(value) is dict or type(value) is list
        ]
        if not level:
            return False
    return True


_SURROGATE = re.compile("[\ud800-\udfff]")
NOT_UNICODE = "Not valid Unicode text: it holds a lone surrogate (a \\uD800-\\uDFFF escape without its pair)."
NUL = "Text may not hold U+0000 (NUL): PostgreSQL cannot store it, so neither engine takes it."


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored as text by every engine (a lone surrogate, which no UTF-8
    can carry, or a NUL); None when it can."""
    if "\x00" in text:
        return NUL
    return NOT_UNICODE if _SURROGATE.search(text) is not None else None


def _unstorable_text(value) -> dict | list | None:
    """Where ``value`` holds text that cannot be stored, shaped as marshmallow shapes errors
    (a key's own text, escaped, names it); None if nowhere. Bodies are plain dicts and lists."""
    if type(value) is str:
        return [problem] if (problem := unstorable(value)) else None
    if type(value) is list:
        found = {index: errors for index, item in enumerate(value) if (errors := _unstorable_text(item))}
    elif type(value) is dict:
        found = {}
        for key, item in value.items():
            if problem := unstorable(key):
                found[key.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\u0000")] = [problem]
            elif errors := _unstorable_text(item):
                found[key] = errors
    else:
        return None
    return found or None


class NotJson(Problem):
    """415: a body not declared as JSON."""

    def __init__(self):
        super().__init__(415, "Send the body as JSON with 'Content-Type: application/json'.")


class IfMatchRequired(Problem):
    """428: REQUIRE_IF_MATCH is on and a command came without If-Match."""

    def __init__(self):
        super().__init__(428, "Send If-Match with the ETag you read, so concurrent edits are not lost.")


def json_body() -> dict:
    """The request body as a JSON object.

    415 unless the body is declared JSON; 413 above MAX_BODY_BYTES; 400 when it is
    malformed, not UTF-8, has duplicate keys, NaN/Infinity, is nested too deep, is not
    an object, or has a lone surrogate or a NUL in a string or key (naming where). Numbers with a
    fraction arrive as Decimal, never as float.
    """
    asked = this_request()
    if not asked.is_json:
        raise NotJson()
    raw = asked.get_data(cache=False)
    try:
        data = json.loads(
            raw,
            parse_float=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_object_without_duplicates,
        )
    except RecursionError:
        raise Problem(400, "The JSON body is nested too deeply.", title="Malformed JSON") from None
    except ValueError as exc:  # includes JSONDecodeError and UnicodeDecodeError
        raise Problem(400, f"The body is not valid JSON: {exc}", title="Malformed JSON") from None
    if not isinstance(data, dict):
        raise Problem(400, "The JSON body must be an object.", title="Malformed JSON")
    # Only a body with more brackets than the limit can nest deeper (counting is C-fast; walking is not).
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and _nested_deeper_than(data, MAX_JSON_DEPTH):
        raise Problem(400, f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels.", title="Malformed JSON")
    # Raw UTF-8 cannot carry a lone surrogate, nor JSON a raw NUL, only a \uD800-style or \u0000
    # escape can: most bodies skip the walk.
    if (b"\\ud" in raw or b"\\uD" in raw or b"\\u0000" in raw) and (errors := _unstorable_text(data)):
        raise invalid(errors)
    return data


def no_content() -> Response:
    """An empty 204 reply (without the text/html type an empty Response would claim)."""
    response = Response(status=204)
    del response.headers["Content-Type"]
    return response


_ETAG = re.compile(r'^(W/)?"([0-9]{1,18})(?:\.([0-9]{1,18}))?"$')


def etag(version: int, revision: int | None = None) -> str:
    """The entity tag of an aggregate at ``version``: its stream version, quoted. A document that
    also shows what the version does not count (an order's user) adds its ``revision`` of that:
    ``"<version>.<revision>"``."""
    return f'"{version}"' if revision is None else f'"{version}.{revision}"'


def _versions(header: str) -> list[tuple[bool, int, int | None]] | None:
    """(weak, version, revision) for each tag of an If-Match / If-None-Match header; None for '*';
    400 if malformed."""
    if header.strip() == "*":
        return None
    tags = [_ETAG.match(tag.strip()) for tag in header.split(",")]
    if not all(tags):
        raise Problem(400, f"{header!r} is not a list of entity tags such as \"3\".", title="Invalid header")
    return [(bool(tag[1]), int(tag[2]), None if tag[3] is None else int(tag[3])) for tag in tags]


def if_match() -> int | None:
    """The version a command expects (If-Match), or None to accept any.

    428 when REQUIRE_IF_MATCH is on and the header is missing; 400 unless it is one
    strong tag or '*'. A tag's revision is not compared: it counts what commands do not
    change (an order's user), which must not stand in their way.
    """
    header = request.headers.get("If-Match")
    if header is None:
        if current_app.config["REQUIRE_IF_MATCH"]:
            raise IfMatchRequired()
        return None
    tags = _versions(header)
    if tags is None:
        return None
    if len(tags) != 1 or tags[0][0]:
        raise Problem(400, 'If-Match takes one strong entity tag, such as "3", or *.', title="Invalid header")
    return tags[0][1]


def document_response(document: str, version: int, revision: int | None = None) -> Response:
    """A read model's ready JSON document with its ETag (see ``etag``); 304 when If-None-Match
    already has it."""
    header = this_request().environ.get("HTTP_IF_NONE_MATCH")  # not headers: its misses raise and catch
    if header is not None:
        tags = _versions(header)  # weak comparison: W/"3" matches "3"
        if tags is None or any(v == version and r == revision for _, v, r in tags):
            return Response(status=304, headers={"ETag": etag(version, revision)})
    return Response(document, mimetype="application/json", headers={"ETag": etag(version, revision)})


def public_url() -> str:
    """This request's path (no query) as Location and Link show it: after PUBLIC_BASE_URL when
    set, else from the root of whatever host the client used (with a trusted proxy's prefix).
    Never from the Host header or a forwarded host, which any client can name."""
    base = this_app().config["PUBLIC_BASE_URL"]  # checked at start, and used as the operator wrote it
    asked = this_request()
    return f"{base or quote(asked.script_root)}{quote(asked.path)}"


def created(body: dict, resource_id: str, version: int) -> tuple[dict, int, dict]:
    """A 201 reply: the resource made, its Location (this route's URL and the id) and ETag."""
    return body, 201, {"Location": f"{public_url()}/{resource_id}", "ETag": etag(version)}


Observer = Callable[[dict, int, float], None]
# Given the environ of a request being answered, a header to add (name, value), or None.
HeaderMaker = Callable[[dict], tuple[str, str] | None]


class Edge:
    """WSGI middleware for what every request gets: a request id (X-Request-ID, echoed when
    well formed, made up otherwise), the standard headers and those its header makers add
    (unless the answer has them), and, once it is answered, its observers (the access line,
    the metrics) with its status and duration.

    At the WSGI level these are plain dict and list operations; as Flask hooks, each read
    of ``request``, ``g`` or a header and each hook call cost more than a read model's read.
    """

    def __init__(self, app: Callable):
        self.app = app
        self.observers: list[Observer] = []
        self.header_makers: list[HeaderMaker] = []

    def __call__(self, environ: dict, start_response: Callable):
        started = time.perf_counter()
        given = environ.get("HTTP_X_REQUEST_ID", "")
        environ[REQUEST_ID] = rid = given if _REQUEST_ID.fullmatch(given) else f"{random.getrandbits(128):032x}"
        answered = []

        def start(status: str, headers: list[tuple[str, str]], exc_info=None):
            answered.append(status)
            names = {name.lower() for name, _ in headers}
            for make in self.header_makers:
                if (header := make(environ)) is not None and header[0].lower() not in names:
                    headers.append(header)
            headers.append(("X-Request-ID", rid))
            if "x-content-type-options" not in names:
                headers.append(("X-Content-Type-Options", "nosniff"))
            if "cache-control" not in names:
                # Reads may be kept but must be revalidated (they carry ETags); nothing else is kept.
                cacheable = environ["REQUEST_METHOD"] in ("GET", "HEAD") and status[:3] in ("200", "304")
                headers.append(("Cache-Control", "no-cache" if cacheable else "no-store"))
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, start)
        finally:
            status = int(answered[-1][:3]) if answered else 500
            seconds = time.perf_counter() - started
            for observe in self.observers:
                observe(environ, status, seconds)


def after_each_request(app: Flask, observer: Observer) -> None:
    """Call ``observer(environ, status, seconds)`` once each request is answered."""
    app.extensions["edge"].observers.append(observer)


def header_of_each_answer(app: Flask, make: HeaderMaker) -> None:
    """Add the header ``make(environ)`` gives (if any) to each answer that has none of that name.
    An app without the web edge is never served (app/openapi.py's whole service, described)."""
    edge = app.extensions.get("edge")
    if edge is not None and make not in edge.header_makers:
        edge.header_makers.append(make)


class _StreamedBody(LimitedStream):
    """A body of unknown length (chunked) read to at most ``limit`` bytes: a byte more is a 413.

    werkzeug's own guard stops such a body at the limit without a word, so the JSON parser
    would see it cut short.
    """

    def __init__(self, stream: IO[bytes], limit: int):
        super().__init__(stream, limit + 1, is_max=True)

    def readinto(self, buffer) -> int | None:
        read = super().readinto(buffer)
        if self.is_exhausted:
            raise RequestEntityTooLarge()
        return read


_ROUTE = "app.route"  # the matched rule's key in the WSGI environ


def route(environ: dict) -> Rule | None:
    """The rule a request's URL matched (None if none did), for what runs once Flask is done
    with the request: the web edge's header makers and observers."""
    return environ.get(_ROUTE)


class _Route:
    """``ApiRequest.url_rule``: Flask's routing sets it, and it goes into the WSGI environ as
    well. Having no ``__get__``, it leaves reads to the instance's own attribute (Flask reads
    it several times a request; a property's getter would run each time)."""

    def __set__(self, request_: Request, rule: Rule | None) -> None:
        request_.__dict__["url_rule"] = request_.environ[_ROUTE] = rule


class ApiRequest(Request):
    """Flask's request, leaving the matched route in the WSGI environ for the web edge
    (``route``), and refusing a streamed body over MAX_CONTENT_LENGTH as one with a
    Content-Length is."""

    url_rule = _Route()

    def __init__(self, environ: dict, populate_request: bool = True, shallow: bool = False):
        super().__init__(environ, populate_request, shallow)
        self.__dict__["url_rule"] = None  # until routed; else reads would find the descriptor

    @cached_property
    def stream(self) -> IO[bytes]:
        limit = self.max_content_length
        if limit is None or self.content_length is not None or "wsgi.input_terminated" not in self.environ:
            return super().stream
        return _StreamedBody(self.environ["wsgi.input"], limit)


def init_app(app: Flask) -> None:
    app.json = ApiJSON(app)
    app.request_class = ApiRequest
    app.url_map.converters["uuid"] = UUIDConverter
    app.extensions["edge"] = app.wsgi_app = Edge(app.wsgi_app)
