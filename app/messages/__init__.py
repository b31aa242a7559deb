"""Each module's contract: its commands, its events, and the JSON shapes of its resources.

Importing this package registers every event type, so the log can be decoded.
Nothing here imports the rest of the app.
"""

from app.discovery import submodules

MODULES = submodules(__name__)
