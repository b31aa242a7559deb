"""The API's description: an OpenAPI 3.0.3 document built from the app's routes and the
marshmallow schemas they use (GET /openapi.json), and Swagger UI for it (GET /docs), whose
JavaScript and CSS the app serves itself from the swagger-ui-bundle package.

A route describes itself with ``@operation(...)`` (app/contract.py) under its route decorator. A route
without it still appears, from its rule, methods and docstring, with the answers every route
of its side can give; so the document never misses a route. What the code decides for every
route of a kind (request ids, tokens, idempotency keys, If-Match, bodies, ids in paths) is
added here, once, rather than repeated on each route.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app, jsonify, render_template_string, request
from swagger_ui_bundle import swagger_ui_path
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import Rule, parse_converter_args

from app.auth import MissingToken
from app.bus import VersionMismatch
from app.commands.users import EmailTaken
from app.contract import Operation, Reply, operation
from app.errors import INVALID, PROBLEM_JSON, Busy, NotFound, ProblemSchema
from app.http import IfMatchRequired, NotJson
from app.idempotency import KeyReused
from app.messages.fields import Money

TITLE = "CQRS service"
VERSION = "1.0.0"
SEED_ID = "12a33c84-ee60-45a1-848d-428ad3259abc"  # seed 000's Bacon and seed 001's John Doe
WRITE_METHODS = ("POST", "PUT", "DELETE")
TAG_ORDER = ("items", "employees", "users", "orders", "devices", "events", "operations", "documentation")


# ---------------------------------------------------------------- shared parts

_HEADERS = {
    "X-Request-ID": {
        "description": "The request's id: the client's when it sent a well-formed X-Request-ID, a new one otherwise.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:@-]{1,200}$"},
    },
    "Location": {
        "description": "The URL of the resource created: after PUBLIC_BASE_URL when the server sets it, "
        "else from the root of this host, such as /items/<id>.",
        "required": True,
        "schema": {"type": "string", "format": "uri-reference"},
    },
    "ETag": {
        "description": "The resource's version, quoted: send it back in If-Match (writes) or If-None-Match (reads). "
        'An order\'s read adds how often its user has changed since, once they have: "3.1".',
        "required": True,
        "schema": {"type": "string", "pattern": '^"[0-9]+(\\.[0-9]+)?"$', "example": '"1"'},
    },
    "Link": {
        "description": 'Present when there is a next page: `<URL of the next page>; rel="next"` (a URL as '
        "Location's).",
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "Present on a replay: the stored response of the first request with this Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {"description": "Seconds to wait before retrying.", "required": True, "schema": {"type": "string"}},
    "Log-Position": {
        "description": "A command's: the log position of its last event. A query's: how far in the log the read "
        "model it read had got. Send a command's back in Min-Log-Position to read your own write. A command that "
        "appended no event has none.",
        "schema": {"type": "string", "pattern": "^[0-9]{1,19}$", "example": "42"},
    },
    "WWW-Authenticate": {"description": "The bearer challenge.", "required": True, "schema": {"type": "string"}},
}

_PARAMETERS = {
    "Idempotency-Key": {
        "in": "header",
        "name": "Idempotency-Key",
        "description": "1 to 255 visible ASCII characters. A retry with the same key, method, path and body gets the "
        "first response (with Idempotent-Replayed: true) and runs nothing; the same key with another request is a 422.",
        "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
        "example": "order-7f3a",
    },
    "If-Match": {
        "in": "header",
        "name": "If-Match",
        "description": 'The ETag you read, such as "3", or *: a 412 if the resource has moved past it. '
        "Required when the server runs with REQUIRE_IF_MATCH=1 (428 without it).",
        "schema": {"type": "string", "pattern": '^(\\*|"[0-9]{1,18}(\\.[0-9]{1,18})?")$'},
    },
    "Min-Log-Position": {
        "in": "header",
        "name": "Min-Log-Position",
        "description": "A Log-Position a command answered: the answer waits until the read model has reached it "
        "(up to READ_WAIT_MS; then a 503 to retry), so that it shows that command's effects.",
        "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"},  # no example: Swagger UI would send it
    },
    "If-None-Match": {
        "in": "header",
        "name": "If-None-Match",
        "description": 'ETags you hold, such as "3" (W/"3" too, comma-separated), or *: a 304 without a body while '
        "the version is still one of them.",
        "schema": {
            "type": "string",
            "pattern": '^(\\*|(W/)?"[0-9]{1,18}(\\.[0-9]{1,18})?"(, ?(W/)?"[0-9]{1,18}(\\.[0-9]{1,18})?")*)$',
        },
    },
}


@dataclass(frozen=True)
class _Error:
    """A problem+json answer shared by many routes: its component name, meaning, example detail, headers."""

    name: str
    meaning: str
    detail: str
    headers: tuple[str, ...] = ()


_ERRORS = {
    400: _Error(
        "BadRequest",
        "Malformed JSON, failed validation (`errors` per field), an id that is not a UUID, a bad query parameter "
        "or a malformed header.",
        INVALID,
    ),
    401: _Error(
        "Unauthorized",
        "This side requires a token (COMMAND_TOKENS or QUERY_TOKENS) and none or a wrong one was sent.",
        MissingToken().detail,
        ("WWW-Authenticate",),
    ),
    404: _Error("NotFound", "No resource with this id.", NotFound("item", SEED_ID).detail),
    409: _Error(
        "Conflict",
        "The request conflicts with another resource.",
        EmailTaken("ada@example.com").detail,
    ),
    412: _Error(
        "PreconditionFailed",
        "If-Match names a version the resource has moved past; `current_version` and the ETag say which it is at.",
        VersionMismatch(current=2, expected=1).detail,
        ("ETag",),
    ),
    413: _Error(
        "ContentTooLarge",
        "The body is larger than MAX_BODY_BYTES.",
        RequestEntityTooLarge.description,
    ),
    415: _Error(
        "UnsupportedMediaType",
        "The body is not declared as JSON.",
        NotJson().detail,
    ),
    422: _Error(
        "IdempotencyKeyReused",
        "This Idempotency-Key was first used for a different request.",
        KeyReused().detail,
    ),
    428: _Error(
        "PreconditionRequired",
        "If-Match is missing and the server requires it (REQUIRE_IF_MATCH=1).",
        IfMatchRequired().detail,
    ),
    503: _Error(
        "ServiceUnavailable",
        "The database stayed busy, or did not reach Min-Log-Position in time; nothing changed, retrying is safe.",
        Busy().detail,
        ("Retry-After",),
    ),
}


# ---------------------------------------------------------------- the document


def build(app: Flask) -> dict:
    """The OpenAPI document of every route registered in ``app`` (static files aside)."""
    plugin = MarshmallowPlugin(schema_name_resolver=_schema_name)
    spec = APISpec(TITLE, VERSION, "3.0.3", plugins=[plugin], info={"description": _DESCRIPTION})
    plugin.converter.add_attribute_function(_money)
    _components(spec)
    paths = _operations(app)
    _link_created_resources(paths)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    document["tags"] = [{"name": tag} for tag in _tags(document)]
    _page_sizes(document, app.config)
    return document


def _operations(app: Flask) -> dict[str, dict]:
    """{path: {method: operation}} for every route, in path order, then GET, POST, PUT, DELETE."""
    paths: dict[str, dict] = {}
    used_ids: set[str] = set()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: path_of(r)[0]):
        if _is_static(rule):
            continue
        path, path_parameters = path_of(rule)
        described = getattr(app.view_functions[rule.endpoint], "openapi", None)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}, key=_method_rank):
            op = _operation(app, rule, method, described, path, path_parameters)
            op["operationId"] = _operation_id(rule.endpoint, method, used_ids)
            paths.setdefault(path, {})[method.lower()] = op
    return {path: dict(sorted(ops.items(), key=lambda op: _method_rank(op[0].upper()))) for path, ops in paths.items()}


_ONE_OF = re.compile(r"^/\{(\w+)\}$")


def _link_created_resources(paths: dict[str, dict]) -> None:
    """A 201 from POST /things links to the operations on /things/{id}, with the id from its body
    (what its Location header points at), so clients, and schemathesis, can follow it."""
    for path, operations in paths.items():
        created = operations.get("post", {}).get("responses", {}).get("201")
        if created is None or "content" not in created:
            continue
        for other, their_operations in paths.items():
            one = _ONE_OF.match(other[len(path) :]) if other.startswith(path) else None
            if one:
                created["links"] = {
                    _link_name(method, op): {
                        "operationId": op["operationId"],
                        "parameters": {one[1]: "$response.body#/id"},
                    }
                    for method, op in their_operations.items()
                }


def _link_name(method: str, op: dict) -> str:
    return {"get": "read", "put": "replace", "delete": "delete"}.get(method, op["operationId"])


_METHOD_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _method_rank(method: str) -> tuple[int, str]:
    return (_METHOD_ORDER.index(method) if method in _METHOD_ORDER else len(_METHOD_ORDER), method)


_DESCRIPTION = """\
A CQRS service: commands (POST, PUT, DELETE) change the write model and append events;
queries (GET) read the read model that projections keep from those events.

- Every error is `application/problem+json` (RFC 9457).
- Lists take `?limit=` and answer a JSON array; a `Link: <…>; rel="next"` header points at the next page.
- Send `Idempotency-Key` with a command to retry it safely; send back the `ETag` you read in `If-Match`
  to write only over that version, or in `If-None-Match` to read only what changed.
- Tokens are off unless the server sets COMMAND_TOKENS or QUERY_TOKENS: then send `Authorization: Bearer <token>`.
  Queries that answer with people's data (users, employees, an order, histories, the feed) are never open once
  either is set: with COMMAND_TOKENS alone, they take a command token.
- Behind the shipped nginx (deploy/nginx.conf), the operators' routes (`/metrics`, `/projections`,
  `/process-managers`) and the event feed (`/events`) answer only on the operators' private listener.
"""


def _is_static(rule: Rule) -> bool:
    return rule.endpoint == "static" or rule.endpoint.endswith(".static")


_ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\((?P<args>.*?)\))?:)?(?P<name>\w+)>")


def path_of(rule: Rule) -> tuple[str, list[dict]]:
    """``/items/<uuid:item_id>`` as ``/items/{item_id}``, and its path parameters."""
    parameters = []

    def placeholder(match: re.Match) -> str:
        schema = _converter_schema(match["converter"] or "default", match["args"])
        parameters.append({"in": "path", "name": match["name"], "required": True, "schema": schema})
        return "{" + match["name"] + "}"

    return _ARGUMENT.sub(placeholder, rule.rule), parameters


def _converter_schema(converter: str, args: str | None) -> dict:
    if converter == "uuid":
        return {"type": "string", "format": "uuid", "example": SEED_ID}
    if converter == "any":
        return {"type": "string", "enum": list(parse_converter_args(args or "")[0])}
    if converter == "int":
        return {"type": "integer", "minimum": 0}
    if converter == "float":
        return {"type": "number", "minimum": 0}
    return {"type": "string"}


def _side(rule: Rule) -> str:
    """ "commands", "queries", or the blueprint of an operator's or documentation route."""
    return rule.endpoint.partition(".")[0]


def _is_command(rule: Rule, method: str) -> bool:
    return _side(rule) == "commands" and method in WRITE_METHODS


def _takes_body(d: Operation, described: bool, command: bool, method: str) -> bool:
    """A described route says so; an undescribed POST or PUT command may take a JSON object."""
    return d.body is not None or (not described and command and method != "DELETE")


def _takes_if_match(d: Operation, described: bool, command: bool, method: str) -> bool:
    """PUT and DELETE commands unless they say otherwise; undescribed routes: theirs to say."""
    if not command or not described:
        return False
    return d.if_match if d.if_match is not None else method in ("PUT", "DELETE")


def _implied(rule: Rule, method: str, d: Operation, described: bool, path_parameters: list[dict]):
    """The request headers and the errors that every route of this kind has, because the code
    adds them around the view (app/http.py, app/auth.py, app/idempotency.py, app/errors.py)."""
    command = _is_command(rule, method)
    parameters, errors = list(path_parameters), set(d.errors)
    if any(p["schema"].get("format") == "uuid" for p in path_parameters):
        errors.add(400)  # an id that is not a UUID
    if _side(rule) in ("commands", "queries"):
        errors |= {401, 503}  # tokens when the server sets them; a database busy past its timeout
    if _side(rule) == "queries":
        parameters.append("Min-Log-Position")
        errors.add(400)  # a Min-Log-Position that is not a position
    if command:
        parameters.append("Idempotency-Key")
        errors |= {400, 413, 422}  # a malformed key; the key read with the body; a key reused
    if _takes_if_match(d, described, command, method):
        parameters.append("If-Match")
        errors |= {400, 412, 428}
    if d.if_none_match:
        parameters.append("If-None-Match")
        errors.add(400)
    if _takes_body(d, described, command, method):
        errors |= {400, 413, 415}
    if d.query is not None:
        parameters.append({"in": "query", "schema": d.query})
    return parameters, errors


def _operation(app: Flask, rule: Rule, method: str, described: Operation | None, path: str, path_parameters) -> dict:
    """One operation: what the route says about itself, plus what its kind of route answers."""
    d = described or Operation()
    command = _is_command(rule, method)
    parameters, errors = _implied(rule, method, d, described is not None, path_parameters)
    op: dict[str, Any] = {
        "tags": [d.tag or _tag_of(rule)],
        "summary": d.summary or _summary(app, rule, method, path),
        "responses": _responses(d, described is not None, command, _side(rule) == "queries", errors),
    }
    description = d.description or _docstring(app, rule)
    if description and description != op["summary"]:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    if _takes_body(d, described is not None, command, method):
        op["requestBody"] = _request_body(d)
    if _side(rule) in ("commands", "queries"):
        op["security"] = [{}, {"bearerAuth": []}]  # optional: only when the server sets tokens
    return op


def _responses(d: Operation, described: bool, command: bool, queries: bool, errors: set[int]) -> dict:
    responses: dict[str, Any] = {}
    if described:
        success = d.reply or Reply(HTTPStatus(d.status).phrase)
        extra = ("Idempotent-Replayed", "Log-Position") if command else ("Log-Position",) if queries else ()
        responses[str(d.status)] = _reply(success, extra)
    else:
        responses["default"] = {"description": "Not described yet: see the route's description."}
    if d.if_none_match:
        responses["304"] = _reply(Reply("Not modified: the version is still one you hold; no body.", headers=("ETag",)))
    for status, reply in d.replies.items():
        responses[str(status)] = _reply(reply)
    for status in errors - {int(s) for s in responses if s.isdigit()}:
        responses[str(status)] = _error(status)
    for status, (name, _) in _REFUSALS.items():
        responses.setdefault(str(status), name)
    return dict(sorted(responses.items()))


def _error(status: int) -> str | dict:
    """The shared answer for this status, or a plain problem+json one for a status no other route has."""
    if status in _ERRORS:
        return _ERRORS[status].name
    return {
        "description": HTTPStatus(status).phrase,
        "headers": {"X-Request-ID": "X-Request-ID"},
        "content": {PROBLEM_JSON: {"schema": "Problem"}},
    }


def _reply(reply: Reply, extra_headers: Iterable[str] = ()) -> dict:
    headers = ("X-Request-ID", *reply.headers, *extra_headers)
    described: dict[str, Any] = {
        "description": reply.description,
        "headers": {name: name for name in headers},
    }
    if reply.schema is not None:
        media: dict[str, Any] = {"schema": reply.schema}
        if reply.example is not None:
            media["example"] = reply.example
        described["content"] = {reply.media_type: media}
    return described


def _request_body(d: Operation) -> dict:
    if d.body is None:
        return {"required": False, "content": {"application/json": {"schema": {"type": "object"}}}}
    media: dict[str, Any] = {"schema": d.body}
    if d.example is not None:
        media["example"] = d.example
    return {"required": d.body_required, "content": {"application/json": media}}


# Refused by the HTTP server before the app sees the request (app/gunicorn_worker.py answers
# them as problem+json; nginx, in front, refuses the same first). Any request can meet them,
# so every operation lists them.
_REFUSALS = {
    414: (
        "UriTooLong",
        "The request line (method, path and query) is longer than the server accepts (gunicorn: 4094 bytes).",
    ),
    431: ("HeadersTooLarge", "A request header is longer than the server accepts (gunicorn: 8190 bytes)."),
}


def _components(spec: APISpec) -> None:
    spec.components.security_scheme(
        "bearerAuth",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "Only when the server sets COMMAND_TOKENS (commands) "
            "or QUERY_TOKENS (queries); otherwise the API is open. Queries of people's data take "
            "a command token when only COMMAND_TOKENS is set.",
        },
    )
    spec.components.schema("Problem", schema=ProblemSchema)
    for name, header in _HEADERS.items():
        spec.components.header(name, header)
    for name, parameter in _PARAMETERS.items():
        spec.components.parameter(name, parameter["in"], {k: v for k, v in parameter.items() if k != "in"})
    for name, description in _REFUSALS.values():
        spec.components.response(
            name,
            {
                "description": description,
                "headers": {"X-Request-ID": "X-Request-ID"},
                "content": {PROBLEM_JSON: {"schema": "Problem"}},
            },
        )
    for status, error in _ERRORS.items():
        example = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": error.detail}
        if status == 412:
            example["current_version"] = 2
        spec.components.response(
            error.name,
            {
                "description": error.meaning,
                "headers": {h: h for h in ("X-Request-ID", *error.headers)},
                "content": {PROBLEM_JSON: {"schema": "Problem", "example": example}},
            },
        )


def _schema_name(schema) -> str:
    """``ItemSchema`` is "Item"; a list's rows, ``ItemSchema(only=...)``, are "ItemSummary"."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    return f"{name}Summary" if getattr(schema, "only", None) else name


def _money(_converter, field, **_kwargs) -> dict:
    """Money (app/messages/fields.py) as the number it is on the wire, within its bounds."""
    if not isinstance(field, Money):
        return {}
    return {
        "type": "number",
        "minimum": 0,
        "maximum": int(Money.MAXIMUM),
        "description": "At most two decimal places.",
        "example": 4.25,
    }


def _tag_of(rule: Rule) -> str:
    parts = rule.endpoint.split(".")
    return parts[1] if parts[0] in ("commands", "queries") and len(parts) > 2 else parts[0]


def _tags(document: dict) -> list[str]:
    used = {tag for ops in document["paths"].values() for op in ops.values() for tag in op.get("tags", ())}
    return [t for t in TAG_ORDER if t in used] + sorted(used - set(TAG_ORDER))


def _docstring(app: Flask, rule: Rule) -> str | None:
    doc = app.view_functions[rule.endpoint].__doc__
    return " ".join(doc.split()).replace("``", "`") if doc else None


def _summary(app: Flask, rule: Rule, method: str, path: str) -> str:
    doc = _docstring(app, rule)
    return doc.split(". ")[0].rstrip(".") if doc else f"{method} {path}"


def _operation_id(endpoint: str, method: str, used: set[str]) -> str:
    """``items_create``; the whole endpoint when two sides share a view name."""
    parts = endpoint.split(".")
    for candidate in ("_".join(parts[-2:]), "_".join(parts), "_".join(parts) + "_" + method.lower()):
        if candidate not in used:
            used.add(candidate)
            return candidate
    raise ValueError(f"no unique operationId for {endpoint}")


def _page_sizes(document: dict, config: Mapping) -> None:
    """``?limit=`` and ``?wait=`` as this server bounds them (PAGE_SIZE_MAX, PAGE_SIZE_DEFAULT, FEED_MAX_WAIT_SECONDS)."""
    maximum = config["PAGE_SIZE_MAX"]
    bounds = {
        "limit": {"maximum": maximum, "default": min(config["PAGE_SIZE_DEFAULT"], maximum)},
        "wait": {"maximum": config["FEED_MAX_WAIT_SECONDS"]},
    }
    for operations in document["paths"].values():
        for op in operations.values():
            for parameter in op.get("parameters", ()):
                if parameter.get("in") == "query" and parameter.get("name") in bounds:
                    parameter["schema"].update(bounds[parameter["name"]])


# ---------------------------------------------------------------- routes

routes = Blueprint("openapi", __name__, static_folder=str(swagger_ui_path), static_url_path="/docs/assets")

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{{ title }}: API</title>
  <link rel="stylesheet" href="{{ url_for('openapi.static', filename='swagger-ui.css') }}">
  <link rel="icon" type="image/png" href="{{ url_for('openapi.static', filename='favicon-32x32.png') }}">
  <style>body { margin: 0; }</style>
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{{ url_for('openapi.static', filename='swagger-ui-bundle.js') }}"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: {{ url_for('openapi.document') | tojson }},
      dom_id: "#swagger-ui",
      deepLinking: true,
      validatorUrl: null,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout"
    });
  </script>
</body>
</html>
"""


def whole_service(app: Flask) -> Flask:
    """``app`` with the routes of every role (APP_ROLE) registered, to be described, never served:
    behind one address (deploy/nginx.conf) the client calls the whole service, whichever
    process happens to answer for its description."""
    from app import commands, queries  # imported here: they import this module

    missing = [side for side in (commands.blueprint, queries.blueprint) if app.blueprints.get(side.name) is not side]
    if not missing:
        return app
    whole = Flask(app.import_name)
    whole.config.update(app.config)
    whole.url_map.converters.update(app.url_map.converters)
    for rule in app.url_map.iter_rules():
        side = rule.endpoint.partition(".")[0]
        if rule.endpoint not in whole.view_functions and side not in {s.name for s in missing}:
            whole.url_map.add(rule.empty())
            whole.view_functions[rule.endpoint] = app.view_functions[rule.endpoint]
    for side in missing:  # whole (a command process serves a part of the query side: its feed)
        whole.register_blueprint(side)
    return whole


def _document() -> dict:
    """The service's API description, built once; ``servers`` follows the request (a proxy's prefix)."""
    built = current_app.extensions.get("openapi")
    if built is None:
        built = current_app.extensions["openapi"] = build(whole_service(current_app))
    return {**built, "servers": [{"url": request.script_root or "/"}]}


@routes.get("/openapi.json")
@operation(
    "This API's description (OpenAPI 3.0.3)",
    reply=Reply("The OpenAPI document", {"type": "object"}),
    tag="documentation",
)
def document():
    return jsonify(_document())


@routes.get("/docs")
@operation(
    "This API's documentation page (Swagger UI), served with its assets: it works offline",
    reply=Reply("An HTML page", {"type": "string"}, media_type="text/html"),
    tag="documentation",
)
def docs():
    return render_template_string(_PAGE, title=TITLE)


def init_app(app: Flask) -> None:
    app.register_blueprint(routes)
