"""The in-process bus: commands go to their handler; committed events go out on a blinker signal.

A handler runs inside one write transaction (a UnitOfWork): its changes to the
write tables and the events it records commit together or not at all. Only after
the commit are the events sent on ``events_committed``; the projector listens there.
"""

from collections.abc import Callable, Mapping
from typing import Any

from blinker import Namespace
from flask import current_app

from app import eventlog
from app.db import Tx, transaction
from app.eventlog import Event, Recorded
from app.http import request_id

signals = Namespace()

#: Sent after a command's transaction commits. Sender: the Flask app; ``events``: list[Recorded].
events_committed = signals.signal("events-committed")


class UnitOfWork(Tx):
    """The command's write transaction; events recorded here are appended to the log in it."""

    __slots__ = ("correlation_id", "recorded")

    def __init__(self, tx: Tx, correlation_id: str | None):
        super().__init__(tx.connection)
        self.correlation_id = correlation_id
        self.recorded: list[Recorded] = []

    def record(self, stream_type: str, stream_id: str, version: int, data: Event) -> None:
        """Append ``data`` as ``version`` of the stream (a duplicate version aborts the command)."""
        self.recorded.append(eventlog.append(self, stream_type, stream_id, version, data, self.correlation_id))


Handler = Callable[[UnitOfWork, Any], Any]


class Bus:
    """Routes each command type to its one handler."""

    def __init__(self, handlers: Mapping[type, Handler]):
        self.handlers = dict(handlers)

    def execute(self, command) -> Any:
        """Run the command's handler in one transaction, then publish what it recorded."""
        handler = self.handlers[type(command)]
        with transaction("command") as tx:
            uow = UnitOfWork(tx, request_id())
            result = handler(uow, command)
        if uow.recorded:
            events_committed.send(current_app._get_current_object(), events=uow.recorded)
        return result


def execute(command) -> Any:
    """Execute a command on the current app's bus; returns what its handler returns."""
    return current_app.extensions["bus"].execute(command)
