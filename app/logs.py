"""Logs: one JSON object per line (LOG_FORMAT=json) or readable text, each with its request id.

Every request leaves one access line (method, path, status, duration, request id).
Bodies, query strings and headers such as Authorization are never logged, nor the values a
database error quotes (they may be a person's: app/personal_data.py).
"""

import json
import logging
import sys
import time
from json.encoder import encode_basestring

from flask import Flask

from app.correlation import REQUEST_ID, request_id
from app.http import after_each_request
from app.personal_data import redacted

_HANDLER_NAME = "cqrs-service"
_ACCESS = logging.getLogger("app.access")


def _json_time(seconds: float) -> str:
    """UTC to the millisecond, as JSON lines show it: 2026-11-23T16:30:58.649Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1000):03d}Z"


def _text_time(seconds: float) -> str:
    """UTC to the millisecond, as text lines show it: 2026-11-23 16:30:58,649."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f",{int(seconds % 1 * 1000):03d}"


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id() or "-"
        return True


class _NotWerkzeugsRequestLines(logging.Filter):
    """Drops the development server's own line per request (werkzeug's ``log_request``): the
    app's access line says the same, with the request id. Its other lines (where it listens,
    errors) stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.endswith('] "%s" %s %s'))


_WERKZEUG = _NotWerkzeugsRequestLines()


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
            "time": _json_time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redacted(record.getMessage()),
            "request_id": record.request_id,
        }
        if record.exc_info:
            line["exception"] = redacted(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _text_time(record.created)

    def format(self, record: logging.LogRecord) -> str:
        return redacted(super().format(record))


def configure(level: str, fmt: str) -> None:
    """Send every log record to stderr in the chosen format (once per process, replaced on change)."""
    global _access_line
    root = logging.getLogger()
    handler = next((h for h in root.handlers if h.get_name() == _HANDLER_NAME), None)
    if handler is None:
        handler = _StderrHandler()
        handler.set_name(_HANDLER_NAME)
        handler.addFilter(_RequestId())
        root.addHandler(handler)
    # No line of ours shows the caller's file and line, or thread names: skip computing them
    # for every record (the logging HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = logging.logMultiprocessing = False
    logging.getLogger("werkzeug").addFilter(_WERKZEUG)  # once: the same filter is not added twice
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.setLevel(level)
    _access_line = _json_access_line if fmt == "json" else _text_access_line


class _Clock:
    """UTC to the millisecond as ``_json_time`` (without its Z) or ``_text_time`` write it; the
    text up to the second is made once a second, not at every access line."""

    __slots__ = ("format", "made")

    def __init__(self, format_: str):
        self.format, self.made = format_, (-1, "")

    def __call__(self, seconds: float) -> str:
        second, text = self.made  # one attribute: threads never see a second with another's text
        if int(seconds) != second:
            second = int(seconds)
            self.made = second, (text := time.strftime(self.format, time.gmtime(second)))
        return f"{text}{_MILLISECONDS[int(seconds % 1 * 1000)]}"


_MILLISECONDS = [f"{n:03d}" for n in range(1000)]  # formatting one each time costs more than the rest of the time
_json_clock, _text_clock = _Clock("%Y-%m-%dT%H:%M:%S."), _Clock("%Y-%m-%d %H:%M:%S,")
_METHODS = {method: encode_basestring(method) for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")}


def _json_access_line(method: str, path: str, status: int, milliseconds: str, rid: str) -> str:
    """JsonFormatter's line for an access record, with the access fields after its own. The
    request id needs no escaping: the web edge keeps only ids of letters, digits and ``._:@-``."""
    method, path = _METHODS.get(method) or encode_basestring(method), encode_basestring(path)
    return (
        f'{{"time": "{_json_clock(time.time())}Z", "level": "INFO", "logger": "app.access",'
        f' "message": {method[:-1]} {path[1:-1]} {status}", "request_id": "{rid}",'
        f' "method": {method}, "path": {path}, "status": {status}, "duration_ms": {milliseconds}}}\n'
    )


def _text_access_line(method: str, path: str, status: int, milliseconds: str, rid: str) -> str:
    return f"{_text_clock(time.time())} INFO [{rid}] app.access: {method} {path} {status}\n"


_access_line = _json_access_line


def _log_access(environ: dict, status: int, seconds: float) -> None:
    """The request's access line, written as the log handler would write it. Not a log record:
    making one and passing it through logging's handlers costs more than a read's own work.
    The access logger's level still decides (LOG_LEVEL=WARNING silences it)."""
    if _ACCESS.isEnabledFor(logging.INFO):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        if not path.isascii():  # WSGI hands the path's bytes over as latin-1
            path = path.encode("latin-1").decode("utf-8", "replace")
        sys.stderr.write(_access_line(method, path, status, f"{seconds * 1000:.2f}", environ[REQUEST_ID]))


def init_app(app: Flask) -> None:
    configure(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    after_each_request(app, _log_access)
