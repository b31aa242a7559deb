"""The application factory: the composition root that wires modules, bus and projector."""

from flask import Flask

from app import cli, config, db, errors, http, logs
from app.bus import Bus, events_committed
from app.projector import Projector


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: settings from the environment (then ``test_config``), the schema
    applied, every module's routes registered, and the read model caught up."""
    app = Flask(__name__)
    app.config.from_mapping(config.from_environment(app.instance_path))
    app.config.update(test_config or {})
    logs.init_app(app)
    http.init_app(app)
    errors.init_app(app)
    db.init_app(app)
    cli.init_app(app)

    # Imported here: importing the packages discovers the modules in them.
    from app import commands, messages, projections, queries  # noqa: F401

    app.extensions["bus"] = Bus(commands.HANDLERS)
    projector = Projector(projections.ALL, batch_size=app.config["PROJECTION_BATCH_SIZE"])
    app.extensions["projector"] = projector
    events_committed.connect(projector.on_events_committed, sender=app, weak=False)
    commands.init_app(app)
    app.register_blueprint(queries.blueprint)

    db.migrate(app.config["DATABASE_PATH"], app.config["SQLITE_BUSY_TIMEOUT_MS"])
    with app.app_context():
        projector.catch_up_or_log("start")
    return app
