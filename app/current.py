"""The request and the app being handled, for code that reads them at every request.

Flask's ``request``, ``current_app`` and ``g`` are proxies: each attribute read through one
raises and catches an AttributeError inside werkzeug before it reaches the object, which
costs several times what the attribute itself does. Code on the hot paths takes the object
once from here and reads it directly.
"""

from flask import Flask, Request, current_app, g, request
from flask.ctx import _AppCtxGlobals


def this_request() -> Request:
    """The request being handled (RuntimeError outside a request, as ``request`` raises)."""
    return request._get_current_object()


def this_app() -> Flask:
    """The app handling the request, or in context."""
    return current_app._get_current_object()


def this_g() -> _AppCtxGlobals:
    """``g`` of the app context."""
    return g._get_current_object()
