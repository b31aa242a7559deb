"""Erasing a person (a user, an employee) for good: what every module's erase command shares,
and what follows its commit.

In the command's transaction: the person's write rows go (the module's handler deletes
them), their key is destroyed and the idempotency records whose stored responses carry
their data are deleted (app/personal_data.py), and the erasure event is recorded; the
projections rewrite what they showed of the person in the same transaction. After the
commit, on SQLite, the WAL is checkpointed and truncated, so that no earlier version of a
page that held the person's data stays in it (secure_delete zeroes what the database
file frees). On PostgreSQL the old row versions stay as dead tuples until VACUUM.
"""

import logging

from flask import Flask

from app import personal_data
from app.bus import UnitOfWork, events_committed
from app.errors import NotFound
from app.eventlog import Event, erasing_types

log = logging.getLogger(__name__)


def last_event(uow: UnitOfWork, stream_type: str, stream_id: str) -> tuple[int, str]:
    """The stream's version and the type of its last event; NotFound (404) if it has none."""
    row = uow.first(
        "SELECT version, type FROM events WHERE stream_type = :stream_type AND stream_id = :stream_id"
        " ORDER BY version DESC LIMIT 1",
        stream_type=stream_type,
        stream_id=stream_id,
    )
    if row is None:
        raise NotFound(stream_type, stream_id)
    return row.version, row.type


def erase(uow: UnitOfWork, stream_type: str, stream_id: str, version: int, erased: Event) -> None:
    """Destroy the stream's key and its idempotency records, and record ``erased`` at ``version``."""
    personal_data.erase(uow, stream_type, stream_id)
    uow.record(stream_type, stream_id, version, erased)


def init_app(app: Flask) -> None:
    events_committed.connect(_after_commit, sender=app)  # weak: goes with its app


def _after_commit(app: Flask, events, projected: bool) -> None:
    """After a command that erased someone: the read model first (if the command's own
    transaction could not project it), then the engine's old page versions forgotten."""
    erasing = erasing_types()
    if not any(event.type in erasing for event in events):
        return
    if not projected:  # the projector's own receiver does the same; twice changes nothing
        app.extensions["projector"].catch_up_or_log("an erasure committed")
    try:
        app.extensions["engine"].forget_old_versions()
    except Exception:  # the erasure is committed: the next checkpoint does the same, later
        log.exception("could not checkpoint the WAL after an erasure")
