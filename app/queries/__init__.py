"""The query side: every module in this package adds its routes (a Blueprint named ``routes``).

Queries read only read tables (``*_view``), through the query role's connection.
"""

from flask import Blueprint

from app.discovery import submodules

blueprint = Blueprint("queries", __name__)

for _module in submodules(__name__):
    blueprint.register_blueprint(_module.routes)
