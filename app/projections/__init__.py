"""Read models: every module in this package keeps one, exposed as ``projection``."""

from app.discovery import submodules

ALL = [module.projection for module in submodules(__name__)]
