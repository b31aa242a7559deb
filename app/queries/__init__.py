"""The query side: every module in this package adds its routes (a Blueprint named ``routes``).

Queries read only read tables (``*_view``), through the query role's connection. Each
answer says how far its read model is, and a read may wait for a position (app/read_position.py).
"""

from flask import Blueprint

from app import read_position
from app.discovery import submodules
from app.http import header_of_each_answer


def _side() -> Blueprint:
    side = Blueprint("queries", __name__)
    side.before_request(read_position.wait_for_min_position)
    side.record_once(lambda state: header_of_each_answer(state.app, read_position.log_position))
    return side


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
