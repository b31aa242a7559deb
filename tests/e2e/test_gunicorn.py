"""The items API over real HTTP, served by gunicorn with two workers on one database."""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import pytest
import requests

from app import create_app
from app.projections import ALL
from tests.e2e.conftest import ROOT, database_environment, free_port, running_gunicorn, wait_until_answering
from tests.engines import ENGINE, database_config
from tests.support import BACON_ID, read_model


def test_the_seed_000_flow_works_over_real_http(gunicorn):
    assert requests.get(gunicorn("/items")).json() == [{"id": BACON_ID, "name": "Bacon"}]
    assert requests.get(gunicorn(f"/items/{BACON_ID}")).json()["description"] == "Everything tastes better, with bacon 🥓"

    created = requests.post(gunicorn("/items"), json={"name": "Eggs", "description": "A dozen"})
    assert created.status_code == 201
    item = created.json()
    assert created.headers["Location"] == f"/items/{item['id']}"
    assert requests.get(gunicorn(created.headers["Location"])).json() == item

    updated = requests.put(gunicorn(f"/items/{item['id']}"), json={"name": "Ham", "description": "", "price": 9.99})
    assert updated.status_code == 200
    assert requests.get(gunicorn(f"/items/{item['id']}")).json()["price"] == 9.99
    assert [i["name"] for i in requests.get(gunicorn("/items")).json()] == ["Bacon", "Ham"]

    assert requests.delete(gunicorn(f"/items/{item['id']}")).status_code == 204
    assert requests.get(gunicorn(f"/items/{item['id']}")).status_code == 404
    assert requests.get(gunicorn("/items/not-a-uuid")).status_code == 400


def test_bad_requests_get_problem_json_from_the_real_server(gunicorn):
    response = requests.post(gunicorn("/items"), data="{", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert requests.post(gunicorn("/items"), data="name=x").status_code == 415


def test_concurrent_writers_on_both_workers_lose_nothing_and_keep_the_log_in_order(gunicorn):
    def create(n: int) -> requests.Response:
        return requests.post(gunicorn("/items"), json={"name": f"Item {n:03}", "description": ""}, timeout=30)

    def rename(n: int) -> requests.Response:
        return requests.put(gunicorn(f"/items/{BACON_ID}"), json={"name": f"Bacon {n}", "description": ""}, timeout=30)

    with ThreadPoolExecutor(max_workers=16) as pool:
        created = list(pool.map(create, range(120)))
        renamed = list(pool.map(rename, range(40)))

    assert [r.status_code for r in created] == [201] * 120
    assert [r.status_code for r in renamed] == [200] * 40
    listed = requests.get(gunicorn("/items?limit=1000")).json()
    assert {r.json()["id"] for r in created} <= {i["id"] for i in listed}

    with closing(gunicorn.connect()) as db:
        bacon = "SELECT version FROM events WHERE stream_type = 'item' AND stream_id = ? ORDER BY position"
        versions = [v for (v,) in db.execute(bacon, (BACON_ID,))]
        assert versions == list(range(1, 42))  # the seed, then 40 renames: no gap, no duplicate
        (head,) = db.execute("SELECT max(position) FROM events").fetchone()
        (seeded,) = db.execute("SELECT count(*) FROM events WHERE correlation_id = 'seed'").fetchone()
        assert head == seeded + 120 + 40
        assert dict(db.execute("SELECT name, position FROM projection_checkpoints")) == {
            projection.name: head for projection in ALL
        }

    log = open(gunicorn.log).read()
    assert "database is locked" not in log and "Traceback" not in log

    app = create_app(gunicorn.database)
    live = read_model(app)
    with app.app_context():
        app.extensions["projector"].rebuild()
    assert read_model(app) == live


def reaches_the_database_file(server, name: str, tmp_path, seconds: float = 15) -> bool:
    """Whether an item of that name shows in the database file alone (without its -wal) in time."""
    copy = tmp_path / "file-only.db"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        shutil.copyfile(server.database["DATABASE_PATH"], copy)
        with closing(sqlite3.connect(copy)) as conn:
            if conn.execute("SELECT count(*) FROM items WHERE name = ?", (name,)).fetchone() == (1,):
                return True
        time.sleep(0.2)
    return False


def checkpoint_lead(server) -> tuple[int | None, set[int]]:
    """Who holds the checkpointer's lead (its flock on <db>-checkpointer) and who waits for it, from /proc/locks."""
    file = os.stat(f"{server.database['DATABASE_PATH']}-checkpointer")
    device_inode = f"{os.major(file.st_dev):02x}:{os.minor(file.st_dev):02x}:{file.st_ino}"
    holder, waiting = None, set()
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if fields[1] == "->" and fields[6] == device_inode:
            waiting.add(int(fields[5]))
        elif fields[1] == "FLOCK" and fields[5] == device_inode:
            holder = int(fields[4])
    return holder, waiting


@pytest.mark.sqlite  # SQLite's WAL: PostgreSQL checkpoints by itself
def test_workers_checkpoint_the_wal_into_the_database_file_in_the_background(gunicorn, tmp_path):
    name = "Checkpointed"
    assert requests.post(gunicorn("/items"), json={"name": name, "description": ""}, timeout=10).status_code == 201
    # Far below the WAL length at which a commit would checkpoint by itself: only the
    # workers' background thread moves the item into the database file proper.
    assert reaches_the_database_file(gunicorn, name, tmp_path), "the item never reached the database file"


@pytest.mark.sqlite  # the lead is a flock on a file beside SQLite's database
def test_the_checkpointer_s_lead_passes_on_when_its_worker_is_killed(gunicorn, tmp_path):
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # both workers up: one leads, the other waits for the lock
        leader, waiting = checkpoint_lead(gunicorn)
        if leader and len(waiting) == 1:
            break
        time.sleep(0.1)
    assert {leader, *waiting} == set(gunicorn.worker_pids())
    os.kill(leader, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while (successor := checkpoint_lead(gunicorn)[0]) in (leader, None) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert {successor} == waiting  # at once, not when gunicorn has replaced the killed worker
    name = "Checkpointed after the leader died"
    assert requests.post(gunicorn("/items"), json={"name": name, "description": ""}, timeout=10).status_code == 201
    assert reaches_the_database_file(gunicorn, name, tmp_path), "no worker checkpoints since the leader died"


# ---------------------------------------------------------------- several instances on one machine


def test_gunicorn_writes_nothing_into_the_user_s_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    with running_gunicorn(tmp_path, HOME=home, XDG_RUNTIME_DIR=""):
        assert list(home.iterdir()) == []


def appears(path: Path, seconds: float = 15) -> bool:
    """Whether the path exists in time (gunicorn opens its control socket once it serves)."""
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return path.exists()


def test_each_instance_keeps_its_own_control_socket_when_another_stops(tmp_path):
    first, second = tmp_path / "first.ctl", tmp_path / "second.ctl"
    with running_gunicorn(tmp_path, "first", CONTROL_SOCKET=first, HOME=tmp_path, XDG_RUNTIME_DIR=""):
        with running_gunicorn(tmp_path, "second", CONTROL_SOCKET=second, HOME=tmp_path, XDG_RUNTIME_DIR=""):
            assert appears(first) and appears(second)
        assert first.is_socket()


# ---------------------------------------------------------------- the metrics folder


def metric_files(folder: Path) -> set[str]:
    return {file.name for file in folder.glob("*.db")}


def requests_counted(server, route: str = "/items") -> float:
    """http_requests_total of GET `route` with status 200, as /metrics adds it up over the workers."""
    prefix = f'http_requests_total{{method="GET",route="{route}",status="200"}} '
    lines = requests.get(server("/metrics"), timeout=10).text.splitlines()
    return next((float(line.removeprefix(prefix)) for line in lines if line.startswith(prefix)), 0.0)


# An idle sync worker notices a SIGTERM within half its timeout: short ones make replacing quick.
QUICK_TO_STOP = {"WORKER_TIMEOUT": 4, "CLIENT_TIMEOUT": 2}


def replace_the_workers(server, workers: int = 2) -> None:
    """Stop every worker (as recycling does) once all ``workers`` are there, and wait until
    gunicorn has started as many new ones. A worker still booting keeps the master's signal
    handlers for a moment and lets a SIGTERM pass: each one still there is told again."""
    old = wait_for_workers(server, workers, lambda pids: len(pids) == workers)

    def replaced(pids: set[int]) -> bool:
        for pid in pids & old:
            os.kill(pid, signal.SIGTERM)
        return len(pids) == workers and not pids & old

    wait_for_workers(server, workers, replaced)


def wait_for_workers(server, workers: int, ready) -> set[int]:
    deadline = time.monotonic() + 30
    while not ready(pids := set(server.worker_pids())):
        assert time.monotonic() < deadline, f"expected {workers} workers, found {pids}"
        time.sleep(0.2)
    return pids


def test_a_stopped_server_leaves_no_metrics_folder_in_the_temporary_directory(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    with running_gunicorn(tmp_path, TMPDIR=temporary) as server:
        requests.get(server("/items"), timeout=10)
    assert list(temporary.iterdir()) == []


def unusable_database(tmp_path) -> dict:
    """Settings the app refuses at start: SQLite's file a folder, or no PostgreSQL server at the URL."""
    if ENGINE == "postgresql":
        return {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"}
    return {"DATABASE_PATH": str(tmp_path)}


def test_a_start_that_fails_leaves_no_metrics_folder_in_the_temporary_directory(tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    environ = database_environment(unusable_database(tmp_path), TMPDIR=temporary, BIND=f"127.0.0.1:{free_port()}")
    started = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        timeout=60,
    )
    assert started.returncode != 0
    assert list(temporary.iterdir()) == []


def test_the_metrics_folder_is_emptied_at_start(tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_999999.db").write_bytes(b"\0" * 16)
    with running_gunicorn(tmp_path, METRICS_DIR=folder):
        assert "counter_999999.db" not in metric_files(folder)


def test_the_metrics_folder_is_emptied_at_stop(tmp_path):
    folder = tmp_path / "metrics"
    with running_gunicorn(tmp_path, METRICS_DIR=folder) as server:
        requests.get(server("/items"), timeout=10)
        assert metric_files(folder)
    assert metric_files(folder) == set()


def test_dead_workers_leave_no_metric_files_of_their_own(tmp_path):
    folder = tmp_path / "metrics"
    with running_gunicorn(tmp_path, METRICS_DIR=folder, **QUICK_TO_STOP) as server:
        for _ in range(3):
            for _ in range(4):
                requests.get(server("/items"), timeout=10)
            replace_the_workers(server)
        living = {str(pid) for pid in [server.process.pid, *server.worker_pids()]}
        owners = {name.removesuffix(".db").rpartition("_")[2] for name in metric_files(folder)}
        assert owners - living <= {"retired"}


def test_dead_workers_counts_still_add_up_in_metrics(tmp_path):
    with running_gunicorn(tmp_path, METRICS_DIR=tmp_path / "metrics", **QUICK_TO_STOP) as server:
        for _ in range(6):
            requests.get(server("/items"), timeout=10)
        counted = requests_counted(server)
        replace_the_workers(server)
        assert counted >= 6
        assert requests_counted(server) == counted


def test_make_serve_listens_on_loopback_at_the_port_it_is_given(tmp_path):
    port, log = free_port(), tmp_path / "serve.log"
    environ = database_environment(database_config(tmp_path), WEB_CONCURRENCY=1)
    for name in ("BIND", "HOST"):
        environ.pop(name, None)
    with open(log, "wb") as out:
        make = subprocess.Popen(
            ["make", "--no-print-directory", "serve", f"PORT={port}"],
            cwd=ROOT,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # make and its gunicorn, stopped together
        )
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/healthz", make, log)
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        make.wait(timeout=30)
    assert f"Listening at: http://127.0.0.1:{port} " in log.read_text()


def test_a_client_timeout_past_the_worker_timeout_stops_the_start_in_one_line(tmp_path):
    environ = database_environment(
        database_config(tmp_path), BIND=f"127.0.0.1:{free_port()}", CLIENT_TIMEOUT=40, WORKER_TIMEOUT=30
    )
    started = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 1
    errors = [line for line in started.stderr.splitlines() if not line.startswith(("{", "["))]
    assert errors == ["Error: CLIENT_TIMEOUT must be seconds above 0 and below WORKER_TIMEOUT (30), got '40'"]
