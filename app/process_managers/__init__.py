"""Process managers: every module in this package reacts to events by executing commands,
and exposes its ``process_manager`` (see app/process_manager.py).

Like projections, they never import the command side: they send commands through the bus.
"""

from app.discovery import submodules

ALL = [module.process_manager for module in submodules(__name__)]
