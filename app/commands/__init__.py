"""The command side: every module in this package adds its routes and its command handlers.

A module exposes ``routes`` (a Blueprint) and ``HANDLERS`` (command type -> handler).
It may read and write the write tables and append events; it never touches read tables.

A command route sent with an Idempotency-Key runs inside one unit of work: the key's
lookup, the command, and the record of its response commit together. Without a key, the
command's own unit of work commits as its handler returns, and the response is made
after the commit, so that the write lock is not held while it is: a failure there (a bug)
answers 500 with the command kept, as a response lost on the network would; a client
that retries sends an Idempotency-Key. Either way the events are published after the
commit.
"""

import functools
from datetime import timedelta

from flask import Blueprint, Flask, Response

from app import idempotency
from app.bus import bus, log_position
from app.current import this_app
from app.discovery import submodules

blueprint = Blueprint("commands", __name__)
HANDLERS: dict = {}

for _module in submodules(__name__):
    blueprint.register_blueprint(_module.routes)
    if HANDLERS.keys() & _module.HANDLERS.keys():
        raise ValueError(f"{_module.__name__} handles a command that another module handles")
    HANDLERS.update(_module.HANDLERS)


def idempotent(view):
    """Run a command view sent with an Idempotency-Key in one transaction with the key's record."""

    @functools.wraps(view)
    def run(**kwargs):
        attempt = idempotency.attempt_of_request()
        if attempt is None:
            # Each route executes one command, in a unit of work of its own.
            return _with_position(this_app().make_response(view(**kwargs)))
        with bus().unit_of_work() as uow:
            replayed = idempotency.replay(uow, attempt)
            if replayed:
                return replayed
            response = _with_position(this_app().make_response(view(**kwargs)))
            if response.status_code < 300:
                ttl = timedelta(seconds=this_app().config["IDEMPOTENCY_TTL_SECONDS"])
                idempotency.remember(uow, attempt, response, ttl)
        return response

    return run


def _with_position(response: Response) -> Response:
    """Log-Position: where the command's last event is in the log. A read sent with
    Min-Log-Position at least this sees the command's effects, on any query process."""
    position = log_position()
    if position is not None and response.status_code < 300:
        response.headers["Log-Position"] = str(position)
    return response


def init_app(app: Flask) -> None:
    """Register every module's command routes, each able to take an Idempotency-Key."""
    app.register_blueprint(blueprint)
    for endpoint, view in list(app.view_functions.items()):
        if endpoint.startswith(f"{blueprint.name}."):
            app.view_functions[endpoint] = idempotent(view)
