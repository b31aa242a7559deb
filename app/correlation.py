"""The request id: what ties a request's log lines and the events it appends together.

The web edge (app/http.py) puts it in the WSGI environ; the bus, the logs and the error
pages read it from here, so none of them depends on the web layer.
"""

from flask import has_request_context

from app.current import this_request

REQUEST_ID = "app.request_id"  # its key in the WSGI environ


def request_id() -> str | None:
    """The correlation id of the current request, if there is one."""
    return this_request().environ.get(REQUEST_ID) if has_request_context() else None
