"""Logs: one JSON object per line (LOG_FORMAT=json) or readable text, each with its request id.

Every request leaves one access line (method, path, status, duration, request id).
Bodies, query strings and headers such as Authorization are never logged.
"""

import json
import logging
import sys
import time

from flask import Flask, g, has_request_context, request

from app.http import seconds_since_start

_HANDLER_NAME = "cqrs-service"
_ACCESS = logging.getLogger("app.access")
_FIELDS = ("method", "path", "status", "duration_ms")


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a record arrives (servers and test runners swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": record.request_id,
        }
        line.update({name: getattr(record, name) for name in _FIELDS if hasattr(record, name)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")


def configure(level: str, fmt: str) -> None:
    """Send every log record to stderr in the chosen format (once per process, replaced on change)."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if h.get_name() == _HANDLER_NAME), None)
    if handler is None:
        handler = _StderrHandler()
        handler.set_name(_HANDLER_NAME)
        handler.addFilter(_RequestId())
        root.addHandler(handler)
    # No line of ours shows the caller's file and line, or thread names: skip computing them
    # for every record (the logging HOWTO's "Optimization"; the access line is per request).
    logging._srcfile = None
    logging.logThreads = logging.logMultiprocessing = False
    formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root.setLevel(level)


def _log_access(response):
    duration = seconds_since_start() * 1000
    _ACCESS.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round(duration, 2),
        },
    )
    return response


def init_app(app: Flask) -> None:
    configure(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    app.after_request(_log_access)
