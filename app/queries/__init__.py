"""The query side: every module in this package adds its routes (a Blueprint named ``routes``).

Queries read only read tables (``*_view``), through the query role's connection. Each
answer says how far its read model is, and a read may wait for a position (app/read_position.py).
"""

from flask import Blueprint

from app import read_position
from app.discovery import submodules

blueprint = Blueprint("queries", __name__)
blueprint.before_request(read_position.wait_for_min_position)
blueprint.after_request(read_position.tell_position)

for _module in submodules(__name__):
    blueprint.register_blueprint(_module.routes)
