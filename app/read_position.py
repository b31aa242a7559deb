"""How far the read model is: every query's answer says it, and a read can wait for it.

Each query notes the position its read model reflects (the lowest projection checkpoint,
read in the same snapshot as the answer, or just before it: ``db.read``), and every answer
of the query side carries it as ``Log-Position``. A command's answer carries the position
of its last event in the same header: a client that sends it back as ``Min-Log-Position`` reads its own
write on any query process, a replica that lags included. The query waits (up to
READ_WAIT_MS) until the read model has reached that position, then answers; past the
bound, 503 with Retry-After. Without the header an answer may be as stale as its database.
"""

import time

from flask import has_request_context

from app import db  # a module, not its names: app.db imports this module as it starts
from app.current import this_app, this_request
from app.errors import Problem
from app.http import route
from app.pagination import INTEGER_MAX

HEADER = "Log-Position"
MIN_HEADER = "Min-Log-Position"
POSITION = "app.read_position"  # in the WSGI environ: the lowest position the request's query transactions read at
# Run first in each query transaction: a projection without a checkpoint yet has applied nothing.
SQL = "SELECT count(*), coalesce(min(position), 0) FROM projection_checkpoints"
_FIRST_PAUSE, _LONGEST_PAUSE = 0.002, 0.05  # replicas replay within milliseconds: look again soon


def noted(row: tuple) -> None:
    """Keep the lowest position any query of the request read at (``SQL``'s row)."""
    if not has_request_context():
        return
    count, lowest = row
    position = lowest if count >= len(this_app().extensions["projector"].projections) else 0
    environ = this_request().environ
    if position < environ.get(POSITION, INTEGER_MAX):
        environ[POSITION] = position


class NotYet(Problem):
    """503: the read model has not reached the position the client needs within READ_WAIT_MS."""

    def __init__(self, reached: int, needed: int):
        super().__init__(
            503,
            f"The read model here has applied the log up to position {reached}, not yet {needed}; retry shortly.",
            headers={"Retry-After": "1", HEADER: str(reached)},
            position=reached,
            min_position=needed,
        )


def wait_for_min_position() -> None:
    """Before a query: wait until the read model has reached ``Min-Log-Position``, if sent."""
    environ = this_request().environ
    raw = environ.get("HTTP_MIN_LOG_POSITION")  # not request.headers: its misses raise and catch
    if raw is None:
        return
    needed = _position(raw)
    deadline = time.monotonic() + this_app().config["READ_WAIT_MS"] / 1000
    pause = _FIRST_PAUSE
    while True:
        db.read("")  # notes how far the read model is, and reads nothing else
        reached = environ.pop(POSITION)
        if reached >= needed:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise NotYet(reached, needed)
        time.sleep(min(pause, left))
        pause = min(pause * 2, _LONGEST_PAUSE)


def _position(raw: str) -> int:
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or int(text) > INTEGER_MAX:
        raise Problem(400, f"{MIN_HEADER} must be a log position: a whole number from 0 to {INTEGER_MAX}.")
    return int(text)


def log_position(environ: dict) -> tuple[str, str] | None:
    """The Log-Position of an answer of the query side: the position it reflects (None for
    other routes, which may read as the query role too). Added by the web edge
    (``http.header_of_each_answer``): as an after_request hook it cost more than the read."""
    position = environ.get(POSITION)
    if position is None or (rule := route(environ)) is None or not rule.endpoint.startswith("queries."):
        return None
    return HEADER, str(position)
