"""GET /healthz: 200 when the database answers, 503 with the reason otherwise (every role serves it)."""

from flask import Blueprint, Flask, jsonify

from app.db import transaction

routes = Blueprint("health", __name__)


@routes.get("/healthz")
def healthz():
    try:
        with transaction("query") as tx:
            tx.scalar("SELECT count(*) FROM projection_checkpoints")
    except Exception as exc:  # any failure to answer is the news here
        return jsonify(status="unavailable", reason=f"{type(exc).__name__}: the database did not answer"), 503
    return jsonify(status="ok")


def init_app(app: Flask) -> None:
    app.register_blueprint(routes)
