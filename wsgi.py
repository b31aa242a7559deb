"""Entry point for gunicorn (``gunicorn wsgi:app``) and ``flask --app wsgi``.

A start that cannot go on prints one line (what is wrong, what to do) and exits 1.
"""

import sys

from app import cli, create_app
from app.config import StartupError

try:
    app = create_app(start=not cli.loading_only_to_list())
except StartupError as error:
    sys.exit(f"Error: {error}")
