"""gunicorn settings for production (`make serve`, or `gunicorn -c gunicorn.conf.py wsgi:app`).

Every value can be overridden from the environment. Migrations and the projections'
catch-up run once in the master before any worker starts, not once per worker.
"""

import glob
import multiprocessing
import os
import tempfile

bind = os.environ.get("BIND", "127.0.0.1:3000")
# 2 x cores + 1 keeps the cores busy while some workers wait on SQLite's write lock;
# past 8, workers only queue on that one lock.
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 8)))
worker_class = "sync"
timeout = int(os.environ.get("WORKER_TIMEOUT", 30))
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", 30))  # SIGTERM: finish requests in flight
keepalive = 5
max_requests = 10_000  # recycle workers now and then, jittered so they do not all restart at once
max_requests_jitter = 1_000
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# The app writes one JSON access line per request (with its request id), so gunicorn's
# own access log stays off; its error log goes to stderr.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# Only the app's ProxyFix (PROXY_HOPS) decides whether X-Forwarded-* is trusted.
forwarded_allow_ips = ""
secure_scheme_headers = {}


def on_starting(server):
    """Apply migrations.sql and catch projections up once, then let workers skip it.

    Also give the workers one folder for their metrics, so /metrics adds them all up.
    """
    metrics = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="cqrs-metrics-"))
    os.makedirs(metrics, exist_ok=True)
    for stale in glob.glob(os.path.join(metrics, "*.db")):
        os.remove(stale)  # counts from an earlier run of the server

    from app import create_app
    from app.db import dispose

    app = create_app()
    with app.app_context():
        dispose()  # no connection may cross the fork into the workers
    os.environ["APP_SKIP_STARTUP"] = "1"


def post_worker_init(worker):
    """Each worker checkpoints the WAL from a thread of its own, off the requests' path."""
    from app.writers import checkpoint_in_background

    checkpoint_in_background(worker.wsgi.config["DATABASE_PATH"])
