"""GET /metrics in the Prometheus text format.

Counted here: requests by route, method and status, request latency, commands by type
and outcome, events appended by type (counted after their commit). Read at scrape
time: each projection's lag and failures, each process manager's pending reactions and
failures. Under gunicorn, gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR so that every
worker's counts add up in one answer, and a stopped worker's counts move into one file of
retired counts (``retire``).
"""

import bisect
import glob
import os
import struct
import threading
from collections.abc import Callable

from flask import Blueprint, Flask, Response, current_app
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.mmap_dict import MmapedDict

from app.bus import command_handled, events_committed
from app.contract import Reply, operation
from app.db import engine
from app.http import after_each_request, route

REQUESTS = Counter("http_requests_total", "HTTP requests answered", ["route", "method", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer a request",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
COMMANDS = Counter("commands_total", "Commands handled", ["command", "outcome"])
EVENTS = Counter("events_appended_total", "Events appended to the log and committed", ["type"])

routes = Blueprint("metrics", __name__)


class ProjectionCollector:
    """Projection lag and failures, read from the database at scrape time (one answer for all workers)."""

    def collect(self):
        lag = GaugeMetricFamily("projection_lag_events", "Events in the log not yet applied", labels=["projection"])
        failures = GaugeMetricFamily(
            "projection_failures", "Consecutive failures on the event a projection is stuck on", labels=["projection"]
        )
        position = GaugeMetricFamily(
            "read_model_position", "The log position every projection has applied (the lowest checkpoint)"
        )
        statuses = current_app.extensions["projector"].status()
        for status in statuses:
            lag.add_metric([status["name"]], status["lag"])
            failures.add_metric([status["name"]], (status["last_error"] or {}).get("retries", 0))
        position.add_metric([], min((status["checkpoint"] for status in statuses), default=0))
        yield lag
        yield failures
        yield position
        replica_lag = engine().replica_lag()
        if replica_lag is not None:
            yield GaugeMetricFamily(
                "replica_lag_seconds", "How far this standby replays behind its primary", value=replica_lag
            )


class ProcessManagerCollector:
    """Process managers' pending reactions and failures, read from the database at scrape time."""

    def collect(self):
        if engine().query_only:
            return  # they run in command processes, whose metrics show them
        pending = GaugeMetricFamily(
            "process_manager_pending_events", "Logged events a process manager has yet to react to", labels=["manager"]
        )
        failures = GaugeMetricFamily(
            "process_manager_failures",
            "Consecutive failures on the event a process manager is stuck on",
            labels=["manager"],
        )
        for status in current_app.extensions["process_managers"].status():
            pending.add_metric([status["name"]], status["pending"])
            failures.add_metric([status["name"]], (status["last_error"] or {}).get("retries", 0))
        yield pending
        yield failures


def _counters() -> CollectorRegistry:
    """Every worker's counts under gunicorn (multiprocess mode); this process's otherwise."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


@routes.get("/metrics")
@operation(
    "Prometheus metrics: requests, latency, commands, events, projection lag, process managers, failures",
    reply=Reply(
        "The Prometheus text format",
        {"type": "string"},
        example='http_requests_total{method="GET",route="/items",status="200"} 3.0\n',
        media_type="text/plain",
    ),
    errors=(503,),
    tag="operations",
)
def metrics():
    followers = CollectorRegistry()
    followers.register(ProjectionCollector())
    followers.register(ProcessManagerCollector())
    body = generate_latest(_counters()) + generate_latest(followers)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


class _Cell:
    """One value of a labelled metric, added to straight: prometheus_client's own ``inc`` takes
    its lock and looks for a fork at every call, and a histogram's ``observe`` walks its buckets
    (three such calls a request cost more than a read's SQL). Here ``_lock`` guards every write
    of this module's metrics, and the cells are made again after a fork (``_forget``).

    In multiprocess mode (gunicorn) the value is also written where prometheus_client keeps it
    in this process's file (prometheus-client 0.26: an mmap of ``(value, timestamp)`` doubles at
    a position that never moves; the mmap is replaced when the file grows, so it is looked up
    at each write)."""

    __slots__ = ("value", "file", "position")

    def __init__(self, value):
        self.value, self.file = value, getattr(value, "_file", None)
        if self.file is not None:
            self.file.read_value(value._key)  # makes its place in the file if it has none yet
            self.position = self.file._positions[value._key]

    def add(self, amount: float) -> None:
        value = self.value
        value._value += amount
        if self.file is not None:
            start = self.position
            self.file._m[start : start + 16] = _TWO_DOUBLES(value._value, 0.0)


class _Histogram:
    """A histogram child's sum and buckets as cells; ``observe`` adds to the first bucket that
    takes the amount, as prometheus_client stores them (the scrape adds them up)."""

    __slots__ = ("sum", "buckets", "bounds")

    def __init__(self, child):
        self.sum, self.buckets = _Cell(child._sum), [_Cell(bucket) for bucket in child._buckets]
        self.bounds = child._upper_bounds  # the last is +Inf

    def observe(self, amount: float) -> None:
        self.sum.add(amount)
        self.buckets[bisect.bisect_left(self.bounds, amount)].add(1)


_TWO_DOUBLES = struct.Struct("dd").pack
_lock = threading.Lock()
_cells: dict[tuple, tuple] = {}  # (metric, *label values) -> its cell(s), made once per process


def _made(key: tuple, make: Callable[[], tuple]) -> tuple:
    """The cells of ``key``, made by ``make`` (under ``_lock``) the first time. Reading a
    child's value first lets prometheus_client move it to this process's file after a fork."""
    if (cells := _cells.get(key)) is None:
        cells = _cells[key] = make()
    return cells


def _request_cells(route: str, method: str, status: int) -> tuple:
    requests, latency = REQUESTS.labels(route, method, str(status)), LATENCY.labels(route)
    requests._value.get()
    return _Cell(requests._value), _Histogram(latency)


def _count(environ: dict, status: int, seconds: float) -> None:
    rule = route(environ)
    key = (rule.rule if rule else "unmatched", environ["REQUEST_METHOD"], status)
    with _lock:
        cells = _cells.get(key) or _made(key, lambda: _request_cells(*key))
        cells[0].add(1)
        cells[1].observe(seconds)


def _counter_cell(counter: Counter, *labels: str) -> tuple:
    child = counter.labels(*labels)
    child._value.get()
    return (_Cell(child._value),)


def _count_command(command_name: str, outcome: str) -> None:
    key = (COMMANDS, command_name, outcome)
    with _lock:
        _made(key, lambda: _counter_cell(COMMANDS, command_name, outcome))[0].add(1)


def _count_events(_sender, events, **_) -> None:
    with _lock:
        for event in events:
            key = (EVENTS, event.type)
            _made(key, lambda: _counter_cell(EVENTS, event.type))[0].add(1)


def _forget() -> None:
    """In a forked child: the cells still write to the parent's files, so they are made again."""
    global _lock
    _lock = threading.Lock()
    _cells.clear()


os.register_at_fork(after_in_child=_forget)


def init_app(app: Flask) -> None:
    app.register_blueprint(routes)
    after_each_request(app, _count)
    command_handled.connect(_count_command)
    events_committed.connect(_count_events)


# Files of these kinds hold counts that only grow, so those of stopped processes can be added up.
_ADDITIVE = ("counter", "histogram", "summary")
RETIRED = "retired"  # in place of a process id in the file that holds stopped processes' counts


def retire(pid: int, folder: str) -> None:
    """Add a stopped process's counts into the folder's retired files and remove its own: every
    scrape reads every file, so files left by recycled workers would slow it down without end.
    Called by one process at a time (gunicorn's master)."""
    multiprocess.mark_process_dead(pid, folder)  # its live gauges simply go
    for kind in _ADDITIVE:
        own = os.path.join(folder, f"{kind}_{pid}.db")
        if not os.path.exists(own):
            continue
        retired = MmapedDict(os.path.join(folder, f"{kind}_{RETIRED}.db"))
        try:
            for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(own):
                retired.write_value(key, retired.read_value(key)[0] + value, timestamp)
        finally:
            retired.close()
        os.remove(own)


def clear(folder: str) -> None:
    """Remove every count from the folder (at start and stop: a new server counts from zero)."""
    for file in glob.glob(os.path.join(folder, "*.db")):
        os.remove(file)
