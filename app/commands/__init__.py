"""The command side: every module in this package adds its routes and its command handlers.

A module exposes ``routes`` (a Blueprint) and ``HANDLERS`` (command type -> handler).
It may read and write the write tables and append events; it never touches read tables.
"""

from flask import Blueprint

from app.discovery import submodules

blueprint = Blueprint("commands", __name__)
HANDLERS: dict = {}

for _module in submodules(__name__):
    blueprint.register_blueprint(_module.routes)
    if HANDLERS.keys() & _module.HANDLERS.keys():
        raise ValueError(f"{_module.__name__} handles a command that another module handles")
    HANDLERS.update(_module.HANDLERS)
