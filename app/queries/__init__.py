"""The query side: every module in this package adds its routes (a Blueprint named ``routes``).

Queries read only read tables (``*_view``), through the query role's connection. Each
answer says how far its read model is, and a read may wait for a position (app/read_position.py).
"""

import functools

from flask import Blueprint, Flask

from app import read_position
from app.discovery import submodules
from app.http import header_of_each_answer


class _Side(Blueprint):
    """The query side's blueprint: each of its views first waits for ``Min-Log-Position``
    when the request sends it, and every answer says its ``Log-Position`` (added by the web
    edge). A wrapper of the views rather than a ``before_request`` hook: Flask dispatches a
    hook at every request, header or not, for about as much as the read's own SQL costs."""

    def register(self, app: Flask, options: dict) -> None:
        super().register(app, options)  # and the modules' blueprints nested in it
        prefix = f"{options.get('name', self.name)}."
        for endpoint, view in app.view_functions.items():
            if endpoint.startswith(prefix) and not getattr(view, "waits_for_min_position", False):
                app.view_functions[endpoint] = _waiting(view)
        header_of_each_answer(app, read_position.log_position)


def _waiting(view):
    @functools.wraps(view)
    def waiting(**kwargs):
        read_position.wait_for_min_position()
        return view(**kwargs)

    waiting.waits_for_min_position = True
    return waiting


def _side() -> Blueprint:
    return _Side("queries", __name__)


blueprint = _side()

for _module in submodules(__name__):
    blueprint.register_blueprint(_module.routes)


def feed_only() -> Blueprint:
    """What a command process serves of the query side: its event feed, for the query
    services that follow it (FOLLOW_URL: seed 003's layout), behind the query tokens."""
    from app.queries.events import feed_routes

    side = _side()
    side.register_blueprint(feed_routes)
    return side
