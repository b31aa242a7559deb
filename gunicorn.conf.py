"""gunicorn settings for production (`make serve`, or `gunicorn -c gunicorn.conf.py wsgi:app`).

Every value can be overridden from the environment. The master loads the app once
(preload_app): migrations and the projections' catch-up run there, before any worker
starts, and every worker is a fork of it.
"""

import atexit
import gc
import multiprocessing
import os
import shutil
import sys
import tempfile
import time

bind = os.environ.get("BIND", "127.0.0.1:3000")
# 2 x cores + 1 keeps the cores busy while some workers wait on SQLite's write lock;
# past 8, workers only queue on that one lock.
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 8)))


def _worker_threads() -> int:
    raw = os.environ.get("WORKER_THREADS") or "1"
    if not (raw.isascii() and raw.isdigit() and int(raw) >= 1):
        sys.exit(f"Error: WORKER_THREADS must be a whole number of at least 1, got {raw!r}")
    return int(raw)


# gunicorn's sync worker, but what gunicorn refuses itself is answered as problem+json, and a
# request that stops arriving for CLIENT_TIMEOUT seconds (default 10) is answered 408. One
# request at a time per worker costs the least per request. WORKER_THREADS above 1 runs
# gunicorn's threaded worker instead (the same answers), that many requests at a time per
# worker: for the processes that serve GET /events?wait=, whose long polls each hold a
# thread for up to FEED_MAX_WAIT_SECONDS, where they would hold a whole sync worker.
threads = _worker_threads()
worker_class = "app.gunicorn_worker.ProblemWorker" if threads == 1 else "app.gunicorn_worker.ProblemThreadWorker"
timeout = int(os.environ.get("WORKER_TIMEOUT", 30))
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", 30))  # SIGTERM: finish requests in flight
keepalive = 5
max_requests = 10_000  # recycle workers now and then, jittered so they do not all restart at once
max_requests_jitter = 1_000
# A worker forked from a master that has the app loaded starts at once; one that imported
# and built the app itself would pay for it again at every recycling.
preload_app = True
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# The app writes one JSON access line per request (with its request id), so gunicorn's
# own access log stays off; its error log goes to stderr.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# Only the app's ProxyFix (PROXY_HOPS) decides whether X-Forwarded-* is trusted.
forwarded_allow_ips = ""
secure_scheme_headers = {}


# gunicorn 27 opens a control socket for gunicornc, by default one per user in $HOME or
# $XDG_RUNTIME_DIR: a second instance (the two-service layout) takes it over and deletes it
# on exit. Each instance names its own with CONTROL_SOCKET; without it there is none.
if os.environ.get("CONTROL_SOCKET"):
    control_socket = os.environ["CONTROL_SOCKET"]
else:
    control_socket_disable = True


def _remove_made_folder(folder: str, master: int) -> None:
    """At the master's exit, a stop or a failed start alike (the workers, its forks, exit too).
    A metrics file written while the folder is being removed keeps it (rmtree's last rmdir
    fails): so try again, for a second at most."""
    if os.getpid() != master:
        return
    deadline = time.monotonic() + 1
    while os.path.exists(folder) and time.monotonic() < deadline:
        shutil.rmtree(folder, ignore_errors=True)
        if os.path.exists(folder):
            time.sleep(0.05)


# Every worker's metrics in one folder, so /metrics adds them all up: set before the app
# (and prometheus_client with it) is loaded. METRICS_DIR is emptied at start and stop; one
# made in the temporary directory when it is not set goes when the master exits. (A reload
# of this file finds PROMETHEUS_MULTIPROC_DIR set by the first load and keeps that folder.)
METRICS_DIR = os.environ.get("METRICS_DIR") or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if not METRICS_DIR:
    METRICS_DIR = tempfile.mkdtemp(prefix="cqrs-metrics-")
    atexit.register(_remove_made_folder, METRICS_DIR, os.getpid())
os.makedirs(METRICS_DIR, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = METRICS_DIR


def on_starting(server):
    """The master has loaded the app (preload_app), which applied migrations.sql and caught
    the projections up; its connections are closed before the workers fork from it, and
    counts left in the metrics folder by an earlier run of the server are cleared. A
    CLIENT_TIMEOUT the workers could not use stops the start here, in one line."""
    from app import metrics
    from app.db import dispose
    from app.gunicorn_worker import client_timeout

    try:
        client_timeout(server.cfg.timeout)
    except ValueError as error:
        sys.exit(f"Error: {error}")
    with server.app.wsgi().app_context():
        dispose()  # no connection may cross the fork into the workers
    # The app's objects live as long as the workers: frozen, they are out of the garbage
    # collector's sight, and a worker's full collections pass over its own objects only
    # (a full pass over them all holds a request up).
    gc.collect()
    gc.freeze()
    metrics.clear(METRICS_DIR)


def post_worker_init(worker):
    """Each worker's threads off the requests' path: SQLite's WAL checkpoints, the process managers' sweep.
    In a sync worker, a request waiting on the feed tells the master the worker is alive: it is
    busy for all of a long poll, and the master kills one silent for WORKER_TIMEOUT. (A threaded
    worker's main loop tells it, and only that loop's silence means the worker is stuck.)"""
    from app import start_background_tasks

    start_background_tasks(worker.wsgi)
    if worker.cfg.threads == 1 and "feed" in worker.wsgi.extensions:
        worker.wsgi.extensions["feed"].heartbeat = worker.notify


def child_exit(server, worker):
    """A worker that stopped (recycled, killed or timed out) leaves its counts in one shared
    file: its own files would be read at every scrape for as long as the server runs."""
    from app import metrics

    try:
        metrics.retire(worker.pid, METRICS_DIR)
    except Exception:  # the master must outlive any trouble with a metrics file
        server.log.exception("Could not retire the metrics of worker %s", worker.pid)


def on_exit(server):
    """Counts do not outlive the server: the next start counts from zero anyway."""
    from app import metrics

    metrics.clear(METRICS_DIR)
