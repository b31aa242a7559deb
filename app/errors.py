"""Every error leaves as RFC 9457 problem+json; nothing leaks a traceback or SQL."""

import json
from http import HTTPStatus

from flask import Flask, Response, current_app
from marshmallow import INCLUDE, Schema, ValidationError, fields
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from app.correlation import request_id

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """A client-visible failure: raise it anywhere below a route to answer with it."""

    def __init__(self, status: int, detail: str, *, title: str | None = None, headers=None, **extra):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers or {}
        self.extra = extra


class NotFound(Problem):
    def __init__(self, what: str, ident: str):
        super().__init__(404, f"No {what} with id {ident}.")


class Busy(Problem):
    """503: the write lock stayed taken past the busy timeout. Nothing changed; retrying is safe."""

    def __init__(self):
        super().__init__(503, "The database is busy; retry shortly.", headers={"Retry-After": "1"})


INVALID = "The request has invalid fields; see 'errors'."


def invalid(errors: dict, detail: str = INVALID) -> Problem:
    """A 400 naming each offending field (the shape marshmallow's ValidationError carries)."""
    return Problem(400, detail, title="Validation failed", errors=errors)


def problem_response(problem: Problem) -> Response:
    body = {"type": "about:blank", "title": problem.title, "status": problem.status, "detail": problem.detail}
    body.update(problem.extra)
    try:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:  # a lone surrogate quoted from the request: \u escapes carry it
        text = json.dumps(body, separators=(",", ":")).encode()
    response = Response(text, status=problem.status, mimetype=PROBLEM_JSON)
    response.headers.update(problem.headers)
    return response


class ProblemSchema(Schema):
    """The body of every error: RFC 9457 problem details, with ``errors`` or ``current_version`` when they apply."""

    class Meta:
        unknown = INCLUDE  # RFC 9457 lets a problem carry extension members

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True, metadata={"example": "Validation failed"})
    status = fields.Integer(required=True, metadata={"example": 400})
    detail = fields.String(required=True, metadata={"example": "The request has invalid fields; see 'errors'."})
    errors = fields.Dict(
        keys=fields.String(),
        metadata={
            "description": "Per offending field, its messages (an object of the same shape for a nested object).",
            "example": {"name": ["Length must be between 1 and 200."]},
        },
    )
    current_version = fields.Integer(metadata={"description": "412 only: the version the resource is at."})


def _from_http_exception(exc: HTTPException) -> Response:
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    return problem_response(Problem(exc.code or 500, exc.description or "", title=exc.name, headers=headers))


def _from_validation_error(exc: ValidationError) -> Response:
    return problem_response(invalid(exc.normalized_messages()))


def _from_database_error(exc: OperationalError) -> Response:
    if current_app.extensions["engine"].is_busy(exc):
        # The write lock stayed taken past the busy timeout: the request changed nothing; retrying is safe.
        return problem_response(Busy())
    return _from_unexpected(exc)


def _from_unexpected(exc: Exception) -> Response:
    current_app.logger.exception("unhandled error in request %s", request_id())
    return problem_response(
        Problem(500, f"The server could not handle this request; it has been logged as {request_id()}.")
    )


def init_app(app: Flask) -> None:
    app.register_error_handler(Problem, problem_response)
    app.register_error_handler(HTTPException, _from_http_exception)
    app.register_error_handler(ValidationError, _from_validation_error)
    app.register_error_handler(OperationalError, _from_database_error)
    app.register_error_handler(Exception, _from_unexpected)
