"""Operators' endpoints, served by every role and never behind tokens.

- GET /healthz: 200 when the database answers; 503 with the reason otherwise.
- GET /readyz: 503 while the read model lags more than READY_MAX_LAG events behind the
  log or a projection is failing (unless READY_DESPITE_FAILING=1); 200 otherwise.
- GET /projections: each projection's checkpoint, lag, state and last error.
"""

from flask import Blueprint, Flask, current_app, jsonify

from app.db import transaction

routes = Blueprint("operations", __name__)


@routes.get("/healthz")
def healthz():
    try:
        with transaction("query") as tx:
            tx.scalar("SELECT count(*) FROM projection_checkpoints")
    except Exception as exc:  # any failure to answer is the news here
        return jsonify(status="unavailable", reason=f"{type(exc).__name__}: the database did not answer"), 503
    return jsonify(status="ok")


@routes.get("/readyz")
def readyz():
    try:
        statuses = current_app.extensions["projector"].status()
    except Exception as exc:
        return jsonify(status="unavailable", reason=f"{type(exc).__name__}: the database did not answer"), 503
    reasons = [
        f"{s['name']} is {s['lag']} events behind"
        for s in statuses
        if s["lag"] > current_app.config["READY_MAX_LAG"] and s["state"] != "failing"
    ]
    if not current_app.config["READY_DESPITE_FAILING"]:
        reasons += [f"{s['name']} is failing at event {s['last_error']['position']}" for s in statuses if s["state"] == "failing"]
    if reasons:
        return jsonify(status="not ready", reasons=reasons), 503
    return jsonify(status="ready")


@routes.get("/projections")
def projections():
    """``[{name, state, checkpoint, head, lag, last_advanced_at, last_error, rebuild, last_skip}]``."""
    return jsonify(current_app.extensions["projector"].status())


def init_app(app: Flask) -> None:
    app.register_blueprint(routes)
