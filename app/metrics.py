"""GET /metrics in the Prometheus text format.

Counted here: requests by route, method and status, request latency, commands by type
and outcome, events appended by type (counted after their commit). Read at scrape
time: each projection's lag and failures, each process manager's pending reactions and
failures. Under gunicorn, gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR so that every
worker's counts add up in one answer, and a stopped worker's counts move into one file of
retired counts (``retire``).
"""

import glob
import os

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


_children: dict[tuple, tuple] = {}  # (route, method, status) -> its request counter and latency histogram


def _count(environ: dict, status: int, seconds: float) -> None:
    rule = route(environ)
    key = (rule.rule if rule else "unmatched", environ["REQUEST_METHOD"], status)
    if (children := _children.get(key)) is None:  # .labels() validates and hashes its arguments on every call
        children = _children[key] = (REQUESTS.labels(key[0], key[1], str(status)), LATENCY.labels(key[0]))
    children[0].inc()
    children[1].observe(seconds)


def _count_command(command_name: str, outcome: str) -> None:
    COMMANDS.labels(command_name, outcome).inc()


def _count_events(_sender, events, **_) -> None:
    for event in events:
        EVENTS.labels(event.type).inc()


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
