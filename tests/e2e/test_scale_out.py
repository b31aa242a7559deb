"""Scale-out on PostgreSQL: command hosts on a primary, query hosts on a streaming standby.

One primary and standby for the whole run (tests/postgres_replica.py), a database of each
test's own on it. Every host is a real gunicorn with a folder of its own (its log, TMPDIR
and METRICS_DIR). The standby lags the primary by a few milliseconds: a client that sends
the Log-Position of its write as Min-Log-Position reads it back; one that does not may not.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from app import create_app
from app.engines.postgresql import LEADS, NAMESPACE
from app.engines.postgresql import WRITERS as WRITERS_KEY
from tests.e2e.conftest import ROOT, database_environment, nginx_in_front, running_gunicorn
from tests.postgres_replica import database_name, postgres_cluster, running_cluster  # noqa: F401 (a fixture)
from tests.support import read_model

pytestmark = pytest.mark.postgresql

SWEEP_SECONDS = 1


@pytest.fixture
def database(postgres_cluster, request):  # noqa: F811 (the fixture imported above)
    """A new empty database of the test's own on the primary (and so on the standby)."""
    name = database_name(request.node.nodeid)
    postgres_cluster.create_database(name)
    yield SimpleNamespace(name=name, cluster=postgres_cluster)
    postgres_cluster.drop_database(name)


@contextmanager
def host(tmp_path: Path, name: str, role: str, url_setting: dict, workers: int = 2, **env):
    """A gunicorn of ``role`` in a folder of its own under ``tmp_path``."""
    folder = tmp_path / name
    (folder / "tmp").mkdir(parents=True)
    settings = {"TMPDIR": folder / "tmp", "METRICS_DIR": folder / "metrics", "APP_ROLE": role, **env}
    with running_gunicorn(folder, name, url_setting, workers, **settings) as server:
        yield server


def command_host(tmp_path, name, database, **env):
    """A command host on the primary: it applies the migrations as it starts."""
    url = {"DATABASE_URL": database.cluster.primary_url(database.name)}
    return host(tmp_path, name, "command", url, PROCESS_MANAGER_SWEEP_SECONDS=SWEEP_SECONDS, **env)


def query_host(tmp_path, name, database, **env):
    """A query host on the standby, once it has the schema the command host made."""
    database.cluster.wait_replayed()
    return host(tmp_path, name, "query", {"QUERY_DATABASE_URL": database.cluster.replica_url(database.name)}, **env)


def created(session, base: str, name: str) -> tuple[str, int]:
    """POST /items that must succeed: the new item's id and the command's Log-Position."""
    response = session.post(f"{base}/items", json={"name": name, "description": ""}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["id"], int(response.headers["Log-Position"])


def renamed(session, base: str, item_id: str, name: str) -> int:
    """PUT /items/<id> that must succeed: the command's Log-Position."""
    response = session.put(f"{base}/items/{item_id}", json={"name": name, "description": ""}, timeout=30)
    assert response.status_code == 200, response.text
    return int(response.headers["Log-Position"])


def kill_whole(server) -> None:
    """kill -9 a gunicorn's workers and its master: nothing of it runs any more, nothing ends cleanly."""
    for pid in [*server.worker_pids(), server.process.pid]:
        os.kill(pid, signal.SIGKILL)
    server.process.wait()


# 1. Reading one's own writes through nginx while others write.

READS = 200
# Through nginx a read follows its write by a few milliseconds, about as long as the idle
# standby takes to apply it: a delay makes stale reads likely, so that none is a finding.
REPLAY_DELAY_MS = 10


def test_a_client_sending_its_log_position_never_reads_stale_data_under_writes(tmp_path, database):
    with (
        command_host(tmp_path, "command", database, PROXY_HOPS=1) as command,
        query_host(tmp_path, "query", database, PROXY_HOPS=1) as query,
        nginx_in_front(tmp_path, command, query) as (base, _),
    ):
        stopping = threading.Event()
        writer = threading.Thread(target=write_until, args=(base, stopping))
        writer.start()
        try:
            undelayed = read_own_writes(base, "idle", False)
            with ThreadPoolExecutor(2) as pool, database.cluster.replay_delayed(REPLAY_DELAY_MS):
                consistent = pool.submit(read_own_writes, base, "own", True)
                eventual = pool.submit(read_own_writes, base, "any", False)
                consistent, eventual = consistent.result(), eventual.result()
        finally:
            stopping.set()
            writer.join()
    print(
        f"\nwithout Min-Log-Position, {undelayed['stale']} of {READS} reads stale; the standby {REPLAY_DELAY_MS} ms"
        f" behind: {eventual['stale']}; with it: {consistent['stale']}"
    )
    assert consistent["other"] == [] and eventual["other"] == [] and undelayed["other"] == []
    assert consistent["stale"] == 0
    assert consistent["behind"] == 0  # no answer said its read model was short of the position asked


def write_until(base: str, stopping: threading.Event) -> None:
    """Keep creating and renaming items until told to stop."""
    with requests.Session() as session:
        n = 0
        while not stopping.is_set():
            item_id, _ = created(session, base, f"Writer {n}")
            renamed(session, base, item_id, f"Writer {n} again")
            n += 1


def read_own_writes(base: str, who: str, sends_position: bool) -> dict:
    """READS times: write (a rename, or every fourth time a new item), then read it back at
    once. Counts the reads that missed the write, those whose Log-Position was short of the
    one asked for, and keeps any answer other than 200."""
    counts = {"stale": 0, "behind": 0, "other": []}
    with requests.Session() as session:
        item_id, _ = created(session, base, f"{who} 0")
        for n in range(READS):
            name = f"{who} {n}"
            if n % 4 == 0:
                item_id, position = created(session, base, name)
            else:
                position = renamed(session, base, item_id, name)
            headers = {"Min-Log-Position": str(position)} if sends_position else {}
            read = session.get(f"{base}/items/{item_id}", headers=headers, timeout=30)
            if read.status_code not in (200, 404):
                counts["other"].append((read.status_code, read.text))
                continue
            counts["stale"] += read.status_code == 404 or read.json()["name"] != name
            counts["behind"] += sends_position and int(read.headers["Log-Position"]) < position
    return counts


# 2. The standby stopped and started again.


def test_query_hosts_answer_503_while_the_standby_is_down_and_recover_without_restart(tmp_path, database):
    cluster = database.cluster
    with command_host(tmp_path, "command", database) as command, query_host(tmp_path, "query", database) as query:
        with requests.Session() as client:
            item_id, position = created(client, command.url, "Eggs")
            read = client.get(query(f"/items/{item_id}"), headers={"Min-Log-Position": str(position)}, timeout=10)
            assert read.status_code == 200
            cluster.stop_replica()
            try:
                for _ in range(6):  # each worker, each of their pooled connections, and new ones
                    down = client.get(query(f"/items/{item_id}"), timeout=5)  # the answer comes quickly
                    assert down.status_code == 503, down.text
                    assert down.headers["Content-Type"] == "application/problem+json"
                assert client.get(query("/readyz"), timeout=5).status_code == 503
                later_id, later = created(client, command.url, "Ham")  # the primary still takes commands
            finally:
                cluster.start_replica()
            answers = consecutive_ok(client, query(f"/items/{later_id}"), {"Min-Log-Position": str(later)})
            assert answers[-10:] == [200] * 10, answers
            assert client.get(query("/readyz"), timeout=5).status_code == 200
            assert client.get(query(f"/items/{later_id}"), timeout=5).json()["name"] == "Ham"


def consecutive_ok(client, url: str, headers: dict, wanted: int = 10, seconds: float = 15) -> list[int]:
    """GET ``url`` until it answers 200 ``wanted`` times in a row, for ``seconds`` at most: every status."""
    statuses: list[int] = []
    deadline = time.monotonic() + seconds
    while statuses[-wanted:] != [200] * wanted and time.monotonic() < deadline:
        try:
            statuses.append(client.get(url, headers=headers, timeout=5).status_code)
        except requests.Timeout:
            statuses.append(0)
        if statuses[-1] != 200:
            time.sleep(0.1)
    return statuses


def test_a_query_host_on_a_standby_that_stops_replaying_waits_then_answers_503_and_is_not_ready(tmp_path, database):
    cluster = database.cluster
    settings = {"READ_WAIT_MS": 500, "READY_MAX_REPLICA_LAG_SECONDS": 1}
    with (
        command_host(tmp_path, "command", database) as command,
        query_host(tmp_path, "query", database, **settings) as query,
        requests.Session() as client,
    ):
        created(client, command.url, "Eggs")
        cluster.wait_replayed()
        metrics = client.get(query("/metrics"), timeout=5).text
        assert "replica_lag_seconds" in metrics and "read_model_position" in metrics
        cluster.pause_replay()
        try:
            item_id, position = created(client, command.url, "Ham")
            late = client.get(query(f"/items/{item_id}"), headers={"Min-Log-Position": str(position)}, timeout=5)
            assert late.status_code == 503, late.text
            assert late.headers["Content-Type"] == "application/problem+json" and "Retry-After" in late.headers
            assert int(late.headers["Log-Position"]) < position
            time.sleep(1.5)  # past READY_MAX_REPLICA_LAG_SECONDS
            assert client.get(query("/readyz"), timeout=5).status_code == 503
        finally:
            cluster.resume_replay()
        read = client.get(query(f"/items/{item_id}"), headers={"Min-Log-Position": str(position)}, timeout=5)
        assert read.status_code == 200 and int(read.headers["Log-Position"]) >= position
        assert client.get(query("/readyz"), timeout=5).status_code == 200


def test_a_query_host_on_a_standby_without_the_schema_refuses_to_start_in_one_line(database):
    database.cluster.wait_replayed()  # the new database, empty: no command host has migrated it
    url = {"QUERY_DATABASE_URL": database.cluster.replica_url(database.name)}
    started = subprocess.run(
        [sys.executable, "-c", "import wsgi"],  # what gunicorn's master does first (preload_app)
        cwd=ROOT,
        env=database_environment(url, APP_ROLE="query"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 1
    assert len(started.stderr.strip().splitlines()) == 1, started.stderr
    assert started.stderr.startswith("Error: ")


# 3. A command worker killed mid-write.

WRITERS, WRITES = 6, 40


def test_a_command_worker_killed_mid_write_loses_nothing_acknowledged_and_a_rebuild_agrees(tmp_path, database):
    cluster = database.cluster
    with command_host(tmp_path, "command", database) as command, query_host(tmp_path, "query", database) as query:
        acknowledged, refused = burst_with_a_kill(command, database)
        assert refused, "the kill ended no request"
        assert len(acknowledged) >= WRITES, "too few writes were acknowledged to tell anything"
        last = max(position for _, position in acknowledged.values())
        items = requests.get(query("/items?limit=1000"), headers={"Min-Log-Position": str(last)}, timeout=10)
        assert items.status_code == 200, items.text
        readable = {item["id"]: item["name"] for item in items.json()}
        lost = {item_id: name for item_id, (name, _) in acknowledged.items() if readable.get(item_id) != name}
        assert lost == {}

        primary = SimpleNamespace(config={"DATABASE_URL": cluster.primary_url(database.name)})
        before = read_model(primary)
        rebuild = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", "projections", "rebuild"],
            cwd=ROOT,
            env=database_environment(primary.config),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert rebuild.returncode == 0, rebuild.stdout + rebuild.stderr
        assert read_model(primary) == before
        cluster.wait_replayed()
        assert read_model(SimpleNamespace(config={"DATABASE_URL": cluster.replica_url(database.name)})) == before


def burst_with_a_kill(command, database) -> tuple[dict, list]:
    """WRITERS threads each POST WRITES items; once a few are acknowledged, kill -9 the worker
    whose write transaction has appended its events but not committed them. Returns
    {id: (name, Log-Position)} of the acknowledged writes, and the requests that failed."""
    acknowledged, refused, lock = {}, [], threading.Lock()
    kill_after = threading.Event()

    def write(writer: int) -> None:
        with requests.Session() as session:
            for n in range(WRITES):
                name = f"Burst {writer}-{n}"
                try:
                    response = session.post(command("/items"), json={"name": name, "description": ""}, timeout=30)
                except requests.ConnectionError as error:  # the killed worker's connection
                    with lock:
                        refused.append((name, repr(error)))
                    continue
                with lock:
                    if response.status_code == 201:
                        acknowledged[response.json()["id"]] = (name, int(response.headers["Log-Position"]))
                    else:
                        refused.append((name, response.status_code))
                    if len(acknowledged) == WRITERS * 3:
                        kill_after.set()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    kill_after.wait(30)
    with commits_held(database):
        os.kill(worker_writing(command, database), signal.SIGKILL)
    for thread in threads:
        thread.join()
    return acknowledged, refused


WRITER = (  # the client's port of the connection that holds the writers' lock and waits for another lock
    "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory'"
    f" AND l.classid = {NAMESPACE} AND l.objid = {WRITERS_KEY} AND l.objsubid = 2 AND l.granted AND a.datname = %s"
    " AND a.wait_event_type = 'Lock'"
)


@contextmanager
def commits_held(database):
    """For the block, a write transaction that has appended its events and written the read
    tables waits before it moves the projections' checkpoints (and so before it commits)."""
    with database.cluster.primary.connect(database.name) as conn:
        conn.execute("LOCK TABLE projection_checkpoints IN SHARE MODE")
        yield
        conn.rollback()


def worker_writing(server, database, seconds: float = 10) -> int:
    """The pid of the worker of ``server`` whose write transaction waits (commits_held): the
    one whose connection to the primary holds the writers' lock."""
    deadline = time.monotonic() + seconds
    with database.cluster.primary.connect(autocommit=True) as conn:
        while time.monotonic() < deadline:
            for (port,) in conn.execute(WRITER, (database.name,)).fetchall():
                if pid := owner_of_port(server.worker_pids(), port):
                    return pid
            time.sleep(0.01)
    raise AssertionError(f"no worker was in a write transaction within {seconds}s")


def owner_of_port(pids: list[int], port: int) -> int | None:
    """Which of ``pids`` has a TCP socket bound to local ``port`` (from /proc), if any."""
    sockets = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port:
            sockets.add(f"socket:[{fields[9]}]")
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) in sockets:
                    return pid
            except OSError:  # closed meanwhile
                continue
    return None


# 4. Two command hosts, their process managers' lead, and a lead that dies.

USERS = 8
LEAD_LOCK = (  # the session advisory lock of the process managers' lead
    "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE l.locktype = 'advisory'"
    f" AND l.classid = {NAMESPACE} AND l.objid = {LEADS['process-managers']} AND l.objsubid = 2 AND l.granted"
    " AND d.datname = %s"
)


def test_two_command_hosts_cancel_each_order_once_and_the_survivor_sweeps_what_the_dead_left(tmp_path, database):
    with command_host(tmp_path, "a", database) as a:
        first_lead = lead_backend(database, other_than=None)  # A's: the only host yet
        with command_host(tmp_path, "b", database) as b, query_host(tmp_path, "query", database) as query:
            item = post(a, "/items", {"name": "Eggs", "description": "", "price": 0.1})
            users = [user_with_orders(a, item["id"], n) for n in range(USERS)]
            with ThreadPoolExecutor(USERS) as pool:
                hosts = [(a, b)[n % 2] for n in range(USERS)]
                statuses = list(pool.map(lambda h, u: delete(h, f"/users/{u['id']}"), hosts, users))
            assert statuses == [204] * USERS
            placed = [order for user in users for order in user["placed"]]
            assert cancellations(query, database, until=len(placed)) == {order: 1 for order in placed}

            kill_whole(a)
            lead_backend(database, other_than=first_lead)  # B takes the lead over
            late = [user_with_orders(b, item["id"], USERS + n) for n in range(2)]
            delete_without_reactions(database, [user["id"] for user in late])  # a host dying after its commits
            placed += [order for user in late for order in user["placed"]]
            assert cancellations(query, database, until=len(placed)) == {order: 1 for order in placed}
            assert "Traceback" not in b.log_text()


def post(server, path: str, body: dict | None = None) -> dict:
    response = requests.post(server(path), json=body, timeout=30)
    assert response.status_code in (200, 201), response.text
    return response.json()


def delete(server, path: str) -> int:
    return requests.delete(server(path), timeout=30).status_code


def user_with_orders(server, item_id: str, n: int) -> dict:
    """A user with three orders, the first shipped: {"id", "placed": [the two left placed]}."""
    user = post(server, "/users", {"first_name": "Ada", "last_name": f"No {n}", "email": f"u{n}@example.com"})
    orders = [
        post(server, "/orders", {"user_id": user["id"], "lines": [{"item_id": item_id, "quantity": q}]})["id"]
        for q in (1, 2, 3)
    ]
    post(server, f"/orders/{orders[0]}/ship")
    return {"id": user["id"], "placed": orders[1:]}


def lead_backend(database, other_than: int | None, seconds: float = 10) -> int:
    """The server process of the connection that holds the process managers' lead, once it
    is one other than ``other_than``."""
    deadline = time.monotonic() + seconds
    with database.cluster.primary.connect(autocommit=True) as conn:
        while time.monotonic() < deadline:
            held = [pid for (pid,) in conn.execute(LEAD_LOCK, (database.name,)).fetchall()]
            if held and held[0] != other_than:
                return held[0]
            time.sleep(0.1)
    raise AssertionError(f"no new lead of the process managers within {seconds}s (held by {held})")


def cancellations(query, database, until: int, seconds: float = 10) -> dict[str, int]:
    """OrderCancelled events per order in the query host's feed, once there are ``until`` of
    them (or ``seconds`` passed), and again after two more sweeps, read at the primary's head."""
    deadline = time.monotonic() + seconds
    while sum(cancelled_per_order(query, database).values()) < until and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2 * SWEEP_SECONDS)  # time for a second cancellation, were there one
    return cancelled_per_order(query, database)


def cancelled_per_order(query, database) -> dict[str, int]:
    with database.cluster.primary.connect(database.name, autocommit=True) as conn:
        (head,) = conn.execute("SELECT max(position) FROM events").fetchone()
    feed = requests.get(
        query("/events?type=OrderCancelled&limit=1000"), headers={"Min-Log-Position": str(head)}, timeout=10
    )
    assert feed.status_code == 200, feed.text
    counts: dict[str, int] = {}
    for event in feed.json():
        counts[event["stream_id"]] = counts.get(event["stream_id"], 0) + 1
    return counts


def delete_without_reactions(database, user_ids: list[str]) -> None:
    """Delete users from a command app in this process whose process managers do nothing
    when run (and that has no sweep: only gunicorn's workers start one), as a host killed
    right after committing would leave them: their reactions wait for another host's sweep."""
    app = create_app({"DATABASE_URL": database.cluster.primary_url(database.name), "APP_ROLE": "command"})
    app.extensions["process_managers"].run = lambda force=False: None  # the host is dead by then
    client = app.test_client()
    for user_id in user_ids:
        assert client.delete(f"/users/{user_id}").status_code == 204


# 5. The PostgreSQL settings deploy/ ships.


def test_the_shipped_settings_make_a_primary_and_a_standby_that_streams():
    shipped = ROOT / "deploy" / "postgresql"
    with running_cluster(
        {"include": f"'{shipped / 'primary.conf'}'"}, {"include": f"'{shipped / 'replica.conf'}'"}
    ) as cluster:
        cluster.create_database("shipped")
        with cluster.primary.connect("shipped", autocommit=True) as conn:
            conn.execute("CREATE TABLE t AS SELECT 1 AS one")
        cluster.wait_replayed()
        with cluster.replica.connect("shipped", autocommit=True) as conn:
            assert conn.execute("SELECT one FROM t").fetchall() == [(1,)]
