"""The in-process bus: commands go to their handler; committed events go out on a blinker signal.

A handler runs inside one write transaction (a UnitOfWork): its changes to the
write tables and the events it records commit together or not at all. Just before
the commit the events go out on ``events_recorded``, where the projector applies them
in the same transaction; after the commit they go out on ``events_committed``, where
the projector catches up whatever that step left and the process managers react.

``execute`` runs the command in the unit of work already open (a command route sent
with an Idempotency-Key opens one, so that the key's record joins the transaction; see
app/commands/__init__.py), or else in a unit of work of its own.
"""

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from blinker import Namespace
from flask import has_request_context

from app import eventlog
from app.correlation import request_id
from app.current import this_app, this_g
from app.db import Tx, transaction
from app.errors import Problem
from app.eventlog import Event, Recorded

signals = Namespace()

#: Sent inside a command's transaction just before it commits. Sender: the Flask app;
#: ``uow``: the UnitOfWork. The projector applies the events there, so that the command
#: and its read model commit together, and sets ``uow.projected``. Receivers never raise.
events_recorded = signals.signal("events-recorded")

#: Sent after a command's transaction commits. Sender: the Flask app; ``events``: list[Recorded];
#: ``projected``: whether the read model already has them (committed with the command).
events_committed = signals.signal("events-committed")

#: Sent after each command's handler. Sender: the command's type name; ``outcome``:
#: "ok", "rejected" (a Problem for the client) or "error" (a bug or an outage).
command_handled = signals.signal("command-handled")


class UnitOfWork(Tx):
    """The command's write transaction; events recorded here are appended to the log in it."""

    __slots__ = ("correlation_id", "causation_id", "recorded", "projected", "person")

    def __init__(self, tx: Tx, correlation_id: str | None, causation_id: str | None = None):
        super().__init__(tx.raw, tx.engine, tx.begin)
        self.correlation_id = correlation_id
        self.causation_id = causation_id
        self.recorded: list[Recorded] = []
        self.projected = False
        # (stream type, id) of the person whose data the command handled: its stored
        # response (Idempotency-Key) is deleted when they are erased.
        self.person: tuple[str, str] | None = None

    def record(self, stream_type: str, stream_id: str, version: int, data: Event) -> None:
        """Append ``data`` as ``version`` of the stream (a duplicate version aborts the command)."""
        if data.personal:
            self.handles_person(stream_type, stream_id)
        self.recorded.append(
            eventlog.append(self, stream_type, stream_id, version, data, self.correlation_id, self.causation_id)
        )

    def handles_person(self, stream_type: str, stream_id: str) -> None:
        """Note that the command read or wrote this person's personal data (one person per
        command: a response that carried two could not be deleted with either's erasure)."""
        if self.person not in (None, (stream_type, stream_id)):
            raise RuntimeError(f"a command handles the data of {self.person} and of {(stream_type, stream_id)}")
        self.person = (stream_type, stream_id)


class VersionMismatch(Problem):
    """412: the client's If-Match names a version the aggregate has moved past."""

    def __init__(self, current: int, expected: int):
        super().__init__(
            412,
            f"The resource is at version {current}, not {expected}; read it again and retry.",
            current_version=current,
            headers={"ETag": f'"{current}"'},
        )


def expect_version(current: int, expected: int | None) -> None:
    """Optimistic concurrency: go on only if the caller saw the current version (None: any)."""
    if expected is not None and expected != current:
        raise VersionMismatch(current, expected)


Handler = Callable[[UnitOfWork, Any], Any]
_ambient: ContextVar[UnitOfWork | None] = ContextVar("unit_of_work", default=None)


class Bus:
    """Routes each command type to its one handler."""

    def __init__(self, handlers: Mapping[type, Handler]):
        self.handlers = dict(handlers)

    @contextmanager
    def unit_of_work(self, causation_id: str | None = None) -> Iterator[UnitOfWork]:
        """One write transaction for the commands executed inside the block; their events
        are published once it has committed (and not at all if the block raises).

        It takes the write lock at its first statement, not before: a command route
        parses and validates its request without holding up the other writers."""
        with transaction("command", on_demand=True) as tx:
            uow = UnitOfWork(tx, request_id(), causation_id)
            if causation_id is None and has_request_context():
                this_g().unit_of_work = uow  # the request's own: its response tells the position (log_position)
            token = _ambient.set(uow)
            try:
                yield uow
            finally:
                _ambient.reset(token)
            if uow.recorded:
                events_recorded.send(this_app(), uow=uow)
        if uow.recorded:
            events_committed.send(this_app(), events=uow.recorded, projected=uow.projected)

    def execute(self, command) -> Any:
        """Run the command's handler in the current unit of work, or in a new one. Its
        outcome is sent once its own unit of work has committed, outside the write lock
        (inside one already open, as the handler returns)."""
        name, handler, uow = type(command).__name__, self.handlers[type(command)], _ambient.get()
        try:
            if uow is not None:
                result = handler(uow, command)
            else:
                with self.unit_of_work() as uow:
                    result = handler(uow, command)
        except Problem:
            command_handled.send(name, outcome="rejected")
            raise
        except Exception:
            command_handled.send(name, outcome="error")
            raise
        command_handled.send(name, outcome="ok")
        return result


def log_position() -> int | None:
    """The position of the last event the current request's own unit of work appended (not
    those of the reactions it set off), for the response's Log-Position; None if none."""
    uow = this_g().get("unit_of_work")
    return uow.recorded[-1].position if uow is not None and uow.recorded else None


def bus() -> Bus:
    return this_app().extensions["bus"]


def execute(command) -> Any:
    """Execute a command on the current app's bus; returns what its handler returns."""
    return bus().execute(command)
