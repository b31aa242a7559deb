"""Processes that start at the same moment on the same new database all come up."""

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.engines.sqlite import migrate
from tests.e2e.conftest import free_port, stop, wait_until_answering

# Each test starts several processes, servers among them, on new SQLite files (PostgreSQL's
# starts take turns on an advisory lock: tests/integration/test_database.py).
pytestmark = [pytest.mark.slow, pytest.mark.sqlite]

ROOT = Path(__file__).resolve().parent.parent.parent

PROCESSES = 6
ROUNDS = 40


def _start(barrier, path: str) -> None:
    barrier.wait()  # every process leaves the barrier at once, as when an orchestrator starts them together
    migrate(path, busy_timeout_ms=10_000)  # a start's first touch of the database (create_app)


def test_any_number_of_processes_starting_together_on_a_new_database_all_come_up(tmp_path):
    """Setting the journal mode takes an exclusive lock that SQLite's busy timeout does not
    wait for: now and then a start failed with "database is locked" before they took turns."""
    forked = multiprocessing.get_context("fork")  # cheap to start, so many rounds fit
    for round_ in range(ROUNDS):
        barrier = forked.Barrier(PROCESSES)
        path = str(tmp_path / f"round-{round_}" / "cqrs.db")
        starts = [forked.Process(target=_start, args=(barrier, path)) for _ in range(PROCESSES)]
        for start in starts:
            start.start()
        for start in starts:
            start.join(timeout=120)
        assert [start.exitcode for start in starts] == [0] * PROCESSES, f"round {round_}"


def _gunicorn(database: str, role: str, log) -> subprocess.Popen:
    port = free_port()
    environ = {**os.environ, "DATABASE_PATH": database, "APP_ROLE": role, "BIND": f"127.0.0.1:{port}"}
    environ.update(WEB_CONCURRENCY="1")
    environ.pop("APP_SKIP_STARTUP", None)
    command = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
    process = subprocess.Popen(command, cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT)
    process.url = f"http://127.0.0.1:{port}"
    return process


@pytest.mark.parametrize("round_", range(3))
def test_a_command_and_a_query_server_started_together_on_a_new_database_both_come_up(tmp_path, round_):
    """The two-service layout, for real (the test above is the one that caught the race)."""
    database, logs = str(tmp_path / "cqrs.db"), {role: tmp_path / f"{role}.log" for role in ("command", "query")}
    with open(logs["command"], "wb") as command_log, open(logs["query"], "wb") as query_log:
        servers = {role: _gunicorn(database, role, log) for role, log in (("command", command_log), ("query", query_log))}
    try:
        for role, server in servers.items():
            wait_until_answering(f"{server.url}/healthz", server, logs[role])
    finally:
        for server in servers.values():
            stop(server)
