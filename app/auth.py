"""Optional bearer tokens: COMMAND_TOKENS guards the command side, QUERY_TOKENS the query side.

With neither set, the API is open (put it behind your own gateway). Tokens are compared
in constant time and never logged; health checks stay open.

Queries that answer with people's personal data (marked ``@personal``: users, employees,
orders' documents, histories and the event feed) are never open once any tokens are set:
with QUERY_TOKENS they take a query token, as every query does; with COMMAND_TOKENS alone,
a command token. The rest of the query side stays as QUERY_TOKENS says.
"""

import hmac

from flask import Flask, current_app, request

from app.errors import Problem

_SIDES = {"commands": "COMMAND_TOKENS", "queries": "QUERY_TOKENS"}


def personal(view):
    """Mark a query view that answers with personal data (see the module's docstring)."""
    view.carries_personal_data = True
    return view


def carries_personal_data(view) -> bool:
    return getattr(view, "carries_personal_data", False)


def _presented_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class MissingToken(Problem):
    """401: this side requires a token and the request has none."""

    def __init__(self):
        super().__init__(401, "Send 'Authorization: Bearer <token>'.", headers={"WWW-Authenticate": 'Bearer realm="api"'})


def _require_token() -> None:
    side = (request.endpoint or "").partition(".")[0]
    tokens = current_app.config.get(_SIDES.get(side, ""), ())
    if not tokens and side == "queries" and carries_personal_data(current_app.view_functions.get(request.endpoint)):
        tokens = current_app.config.get("COMMAND_TOKENS", ())
    if not tokens:
        return
    presented = _presented_token()
    if presented is None:
        raise MissingToken()
    if not any(hmac.compare_digest(presented.encode(), token.encode()) for token in tokens):
        raise Problem(
            401,
            "The bearer token is not valid for this side of the API.",
            headers={"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'},
        )


def init_app(app: Flask) -> None:
    if any(app.config.get(setting) for setting in _SIDES.values()):  # open API: no check to pay for
        app.before_request(_require_token)
