"""The application factory: the composition root that wires modules, bus and projector."""

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app import auth, cli, config, db, erasure, errors, feed, http, logs, metrics, openapi, operations, rebuild
from app.bus import Bus, events_committed, events_recorded
from app.config import ConfigError
from app.event_sources import Feed
from app.follower import follow_in_background
from app.process_manager import ProcessManagers, sweep_in_background
from app.projector import Projector


def create_app(test_config: dict | None = None, start: bool = True) -> Flask:
    """Build the app: settings from the environment (then ``test_config``) and the routes of
    its role (APP_ROLE) registered; then, unless ``start`` is False, start it (``start_app``).

    StartupError (ConfigError included) when it cannot start: the message says why in one line.
    """
    app = Flask(__name__)
    app.config.from_mapping(config.from_environment(app.instance_path))
    app.config.update(test_config or {})
    http.init_app(app)
    logs.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    db.init_app(app)
    feed.init_app(app)
    cli.init_app(app)
    operations.init_app(app)
    metrics.init_app(app)
    openapi.init_app(app)
    if app.config["PROXY_HOPS"]:
        # Trust X-Forwarded-For/-Proto/-Prefix from exactly this many proxies. Not -Host: a proxy
        # passes on whatever Host the client sent, and links come from PUBLIC_BASE_URL instead.
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_prefix=hops)

    # Imported here: importing the packages discovers the modules in them.
    from app import commands, messages, process_managers, projections, queries  # noqa: F401

    app.extensions["bus"] = Bus(commands.HANDLERS)
    projector = Projector(
        projections.ALL,
        batch_size=app.config["PROJECTION_BATCH_SIZE"],
        retry_seconds=app.config["PROJECTION_RETRY_SECONDS"],
        source=_source(app.config),
    )
    app.extensions["projector"] = projector
    events_recorded.connect(projector.on_events_recorded, sender=app)  # weak: goes with its app
    events_committed.connect(projector.on_events_committed, sender=app)
    managers = ProcessManagers(process_managers.ALL, retry_seconds=app.config["PROJECTION_RETRY_SECONDS"])
    app.extensions["process_managers"] = managers
    events_committed.connect(managers.on_events_committed, sender=app)  # weak: it goes with the app
    erasure.init_app(app)
    if app.config["APP_ROLE"] in ("all", "command"):
        commands.init_app(app)
    if app.config["APP_ROLE"] in ("all", "query"):
        app.register_blueprint(queries.blueprint)
    else:
        app.register_blueprint(queries.feed_only())  # for the query services that follow this one

    if start:
        start_app(app)
    return app


FOLLOW_TIMEOUT_SECONDS = 10  # for the source to answer, beyond the long poll's wait


def _source(config) -> Feed | None:
    """A following query service's source (FOLLOW_URL); None: this database's own log."""
    if not config["FOLLOW_URL"]:
        return None
    if config["APP_ROLE"] != "query":
        raise ConfigError("FOLLOW_URL is for a query service: set APP_ROLE=query beside it")
    return Feed(config["FOLLOW_URL"], config["FOLLOW_TOKEN"], timeout=FOLLOW_TIMEOUT_SECONDS)


def start_app(app: Flask) -> None:
    """Check that the database can be used; then (unless APP_SKIP_STARTUP, or the engine
    reaches the database through the query role only) bring its schema up to date, rebuild
    the projections another version made, catch the read model up and run the process
    managers. Once per app.

    StartupError naming what cannot be used (a file's path, say) and what to do."""
    if app.extensions.get("started"):
        return
    engine = app.extensions["engine"]
    engine.check()
    if not (app.config["SKIP_STARTUP_TASKS"] or engine.query_only):
        engine.migrate()
        with app.app_context():
            rebuild.remove_leftovers()
            rebuild.rebuild_outdated(app.extensions["projector"])
            if not app.config["FOLLOW_URL"]:  # a follower catches up from its thread: the source may be away
                app.extensions["projector"].catch_up_or_log("start", force=True)
            app.extensions["process_managers"].run_or_log("start", force=True)
    app.extensions["started"] = True


def start_background_tasks(app: Flask) -> None:
    """From each worker process (gunicorn's post_worker_init), off the requests' path: the
    engine's upkeep, and in command processes the process managers' sweep."""
    app.extensions["engine"].background_tasks()
    if app.config["APP_ROLE"] != "query":
        sweep_in_background(app, app.config["PROCESS_MANAGER_SWEEP_SECONDS"])
    if app.config["FOLLOW_URL"]:
        follow_in_background(app)
