"""Operators' endpoints, served by every role and never behind tokens.

- GET /healthz: 200 when the database answers and this process can read and write each of
  its files (as a start checks them: the engine's check); 503 with the reason otherwise.
- GET /readyz: 503 as /healthz, or while the read model lags more than READY_MAX_LAG events
  behind the log or a projection is failing (unless READY_DESPITE_FAILING=1); 200 otherwise.
- GET /projections: each projection's checkpoint, lag, state and last error.
- GET /process-managers: each process manager's checkpoint, the events it has yet to
  react to, state and last error. Not part of readiness: a failing manager leaves reads
  and commands as they are (its reactions wait), so it calls for an alert, not for
  taking the instance out of service.
"""

from flask import Blueprint, Flask, current_app, jsonify
from marshmallow import Schema, fields, validate

from app.config import StartupError
from app.contract import Reply, operation
from app.db import engine, transaction
from app.errors import Problem
from app.process_manager import PENDING_COUNTED_WITHIN

routes = Blueprint("operations", __name__)


class HealthSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ok", "unavailable"]))
    reason = fields.String(metadata={"description": "503 only: what failed."})


class ReadinessSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ready", "not ready", "unavailable"]))
    reasons = fields.List(fields.String(), metadata={"description": "Not ready: each lagging or failing projection."})
    reason = fields.String(metadata={"description": "Unavailable: what failed."})


class FollowerErrorSchema(Schema):
    """The failure a projection or a process manager is stuck on (``app.failures.last_error``)."""

    type = fields.String(required=True, allow_none=True)
    message = fields.String(required=True, allow_none=True)
    position = fields.Integer(required=True, allow_none=True)
    retries = fields.Integer(required=True)
    failed_at = fields.String(required=True, allow_none=True)
    next_retry_at = fields.String(required=True, allow_none=True)


class RebuildSchema(Schema):
    position = fields.Integer(required=True, allow_none=True)
    head = fields.Integer(required=True, allow_none=True)
    started_at = fields.String(required=True, allow_none=True)


class SkipSchema(Schema):
    position = fields.Integer(required=True)
    reason = fields.String(required=True, allow_none=True)
    by = fields.String(required=True, allow_none=True)
    at = fields.String(required=True, allow_none=True)


class ProjectionStatusSchema(Schema):
    name = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(["live", "catching_up", "failing", "rebuilding"]))
    checkpoint = fields.Integer(required=True)
    head = fields.Integer(required=True)
    lag = fields.Integer(required=True)
    last_advanced_at = fields.String(required=True, allow_none=True)
    last_error = fields.Nested(FollowerErrorSchema, required=True, allow_none=True)
    rebuild = fields.Nested(RebuildSchema, required=True, allow_none=True)
    last_skip = fields.Nested(SkipSchema, required=True, allow_none=True)


class ProcessManagerStatusSchema(Schema):
    name = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(["live", "catching_up", "failing"]))
    checkpoint = fields.Integer(required=True)
    head = fields.Integer(required=True)
    pending = fields.Integer(
        required=True,
        metadata={"description": f"Events it reacts to among the {PENDING_COUNTED_WITHIN:,} after its checkpoint."},
    )
    last_error = fields.Nested(FollowerErrorSchema, required=True, allow_none=True)


UNAVAILABLE = {"status": "unavailable", "reason": "OperationalError: the database did not answer"}


@routes.get("/healthz")
@operation(
    "Liveness: does the database answer?",
    reply=Reply("The database answers", HealthSchema, example={"status": "ok"}),
    replies={
        503: Reply("The database did not answer, or a file of it cannot be used", HealthSchema, example=UNAVAILABLE)
    },
)
def healthz():
    if problem := _files_problem():
        return jsonify(status="unavailable", reason=problem), 503
    try:
        with transaction("query") as tx:
            tx.scalar("SELECT count(*) FROM projection_checkpoints")
    except Exception as exc:  # any failure to answer is the news here
        return jsonify(status="unavailable", reason=f"{type(exc).__name__}: the database did not answer"), 503
    return jsonify(status="ok")


@routes.get("/readyz")
@operation(
    "Readiness: is the read model close enough to the log?",
    reply=Reply("Ready", ReadinessSchema, example={"status": "ready"}),
    replies={
        503: Reply(
            "Not ready: a projection lags more than READY_MAX_LAG events or is failing, a standby replays"
            " more than READY_MAX_REPLICA_LAG_SECONDS behind, or a following service cannot read its source;"
            " or the database did not answer, or a file of it cannot be used",
            ReadinessSchema,
            example={"status": "not ready", "reasons": ["item_list is 250 events behind"]},
        )
    },
)
def readyz():
    if problem := _files_problem():
        return jsonify(status="unavailable", reason=problem), 503
    projector = current_app.extensions["projector"]
    try:
        statuses = projector.status()
        replica_lag = engine().replica_lag()
        source_problem = projector.source_problem()
    except Exception as exc:
        return jsonify(status="unavailable", reason=f"{type(exc).__name__}: the database did not answer"), 503
    reasons = [f"not following {current_app.config['FOLLOW_URL']}: {source_problem}"] if source_problem else []
    if replica_lag is not None and replica_lag > current_app.config["READY_MAX_REPLICA_LAG_SECONDS"]:
        reasons.append(f"the database replays {replica_lag:.1f} seconds behind its primary")
    reasons += [
        f"{s['name']} is {s['lag']} events behind"
        for s in statuses
        if s["lag"] > current_app.config["READY_MAX_LAG"] and s["state"] != "failing"
    ]
    if not current_app.config["READY_DESPITE_FAILING"]:
        reasons += [f"{s['name']} is failing at event {s['last_error']['position']}" for s in statuses if s["state"] == "failing"]
    if reasons:
        return jsonify(status="not ready", reasons=reasons), 503
    return jsonify(status="ready")


def _files_problem() -> str | None:
    """What keeps this process from using the database's files (commands would fail), if anything."""
    try:
        engine().check()
    except StartupError as error:
        return str(error)
    return None


@routes.get("/projections")
@operation(
    "Each projection's checkpoint, lag, state and last error",
    reply=Reply(
        "Every projection",
        {"type": "array", "items": ProjectionStatusSchema},
        example=[
            {"name": "item_list", "state": "live", "checkpoint": 2, "head": 2, "lag": 0,
             "last_advanced_at": "2024-01-01T00:00:00.000000Z", "last_error": None, "rebuild": None, "last_skip": None}
        ],
    ),
    errors=(503,),
)
def projections():
    """``[{name, state, checkpoint, head, lag, last_advanced_at, last_error, rebuild, last_skip}]``."""
    return jsonify(current_app.extensions["projector"].status())


@routes.get("/process-managers")
@operation(
    "Each process manager's checkpoint, pending reactions, state and last error",
    reply=Reply(
        "Every process manager",
        {"type": "array", "items": ProcessManagerStatusSchema},
        example=[
            {"name": "cancel_orders_of_deleted_users", "state": "live", "checkpoint": 2, "head": 2, "pending": 0,
             "last_error": None}
        ],
    ),
    errors=(404, 503),
)
def process_managers():
    """``[{name, state, checkpoint, head, pending, last_error}]``."""
    if engine().query_only:
        raise Problem(404, "Process managers run in command processes: ask one of them.")
    return jsonify(current_app.extensions["process_managers"].status())


def init_app(app: Flask) -> None:
    app.register_blueprint(routes)
