"""Seed 003's layout: a query service with a database of its own, fed over HTTP by the
command service's event feed (FOLLOW_URL), each a real gunicorn, on either engine.

Where a test compares answers, the command service (the source) runs APP_ROLE=all, so that
both answer the same routes; seed 003's APP_ROLE=command source has a test of its own. The
tests that only read and write through the API share one source and one follower.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import requests

from app import create_app
from app.bus import UnitOfWork
from app.db import transaction
from app.ids import new_id
from app.messages.items import CreateItem, UpdateItem
from tests.e2e.conftest import (
    ROOT,
    database_environment,
    free_port,
    running_gunicorn,
    stop,
)
from tests.engines import database_config
from tests.support import BACON_ID, JOHN_DOE_ID, next_link, read_model

FOLLOW_WAIT = 2  # seconds: the follower's long poll on the source's feed
SOURCE = {"WORKER_THREADS": 8}  # a follower's long poll holds a thread, not a whole worker


# Services.


@contextmanager
def serving(folder: Path, name: str, database: dict | None = None, workers: int = 2, port: int | None = None, **env):
    """A gunicorn with a folder of its own (its log and metrics), on ``database`` (by default
    the folder's own), on ``port`` when given (to start again where clients expect it)."""
    folder.mkdir(parents=True, exist_ok=True)
    database = database or database_config(folder)
    env = {"METRICS_DIR": folder / f"{name}-metrics", **env}
    with running_gunicorn(folder, name, database, workers, port=port, **env) as server:
        yield server


def following(folder: Path, source, name: str = "follower", database: dict | None = None, **env):
    """A query service in ``folder`` on its own database, following ``source`` (anything with a ``url``)."""
    settings = {"APP_ROLE": "query", "FOLLOW_URL": source.url, "FOLLOW_WAIT_SECONDS": FOLLOW_WAIT, **env}
    return serving(folder, name, database, **settings)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """One source (APP_ROLE=all) and one follower for the tests that only go through the API."""
    folder = tmp_path_factory.mktemp("pair")
    with serving(folder / "source", "source", **SOURCE) as source, following(folder / "follower", source) as follower:
        yield SimpleNamespace(source=source, follower=follower)


def kill_whole(server) -> None:
    """kill -9 a gunicorn's workers and its master: nothing of it runs any more, nothing ends cleanly."""
    for pid in [*server.worker_pids(), server.process.pid]:
        os.kill(pid, signal.SIGKILL)
    server.process.wait()


# Where things are.


def head(server) -> int:
    """The last position of ``server``'s own event log."""
    conn = server.connect()
    try:
        return conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0]
    finally:
        conn.close()


def until(condition: Callable, seconds: float = 30, pause: float = 0.1, what: str = "the condition"):
    """``condition()``'s first true value, asked again every ``pause`` for ``seconds`` at most."""
    deadline = time.monotonic() + seconds
    while True:
        if value := condition():
            return value
        assert time.monotonic() < deadline, f"{what} did not hold within {seconds}s"
        time.sleep(pause)


def projections(server) -> list[dict] | None:
    try:
        answer = requests.get(server("/projections"), timeout=5)
    except requests.RequestException:
        return None
    return answer.json() if answer.status_code == 200 else None


def caught_up(server, position: int, seconds: float = 60) -> list[dict]:
    """``server``'s /projections once every checkpoint has reached ``position``."""
    return until(
        lambda: (s := projections(server)) and all(p["checkpoint"] >= position for p in s) and s,
        seconds,
        what=f"every projection of {server.url} at {position} (now {projections(server)})",
    )


def ready(server) -> int:
    try:
        return requests.get(server("/readyz"), timeout=5).status_code
    except requests.RequestException:
        return 0


def database_of(server) -> SimpleNamespace:
    """What tests/support.py's database helpers take for an app: its settings."""
    return SimpleNamespace(config=server.database)


def history_positions(server) -> tuple[int, int, list[int]]:
    """event_history_view's rows, its distinct positions, and the positions in order."""
    conn = server.connect()
    try:
        rows, distinct = conn.execute("SELECT count(*), count(DISTINCT position) FROM event_history_view").fetchone()
        positions = [p for (p,) in conn.execute("SELECT position FROM event_history_view ORDER BY position")]
    finally:
        conn.close()
    return rows, distinct, positions


def log_lines(server) -> list[str]:
    return server.log_text().splitlines()


def warnings_in(lines: list[str]) -> list[str]:
    """The lines logged at WARNING or above (the app logs one JSON object per line)."""
    found = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            if "Traceback" in line or "ERROR" in line or "WARNING" in line:
                found.append(line)
            continue
        if isinstance(record, dict) and str(record.get("level", "")).upper() in ("WARNING", "ERROR", "CRITICAL"):
            found.append(line)
    return found


def followed(snapshot: dict) -> dict:
    """A read model without the follower's own notes on its source (where, how far, since when)."""
    return {table: rows for table, rows in snapshot.items() if table != "projection_source"}


def assert_same_read_model(source, follower) -> None:
    """Every read table's rows alike, and the follower's history holds each event of the source's log once."""
    assert followed(read_model(database_of(follower))) == followed(read_model(database_of(source)))
    rows, distinct, positions = history_positions(follower)
    conn = source.connect()
    try:
        logged = [p for (p,) in conn.execute("SELECT position FROM events ORDER BY position")]
    finally:
        conn.close()
    assert rows == distinct == len(logged) and positions == logged


# Commands.


def sent(session, method: str, url: str, body: dict | None = None, **headers) -> requests.Response:
    answer = session.request(method, url, json=body, headers=headers, timeout=30)
    assert answer.status_code in (200, 201, 202, 204), f"{method} {url}: {answer.status_code} {answer.text}"
    return answer


def position_of(answer: requests.Response) -> int:
    return int(answer.headers["Log-Position"])


def register(session, server, last_name: str, email: str, first_name: str = "Ada") -> requests.Response:
    body = {"first_name": first_name, "last_name": last_name, "email": email}
    return sent(session, "POST", server("/users"), body)


def write_until(server, stopping: threading.Event, who: str) -> None:
    """Keep creating and renaming items and sending a device telemetry (whose statistics would
    count a reading applied twice) until told to stop."""
    with requests.Session() as session:
        device = sent(session, "POST", server("/devices"), {"name": f"Sensor {new_id()}", "kind": "sensor"}).json()
        n = 0
        while not stopping.is_set():
            item = sent(session, "POST", server("/items"), {"name": f"{who} {n}", "description": ""}).json()
            sent(session, "PUT", server(f"/items/{item['id']}"), {"name": f"{who} {n} again", "description": ""})
            readings = [{"metric": "temperature", "value": n + k / 10} for k in range(5)]
            sent(session, "POST", server(f"/devices/{device['id']}/telemetry"), {"readings": readings})
            n += 1


@contextmanager
def writing(server, writers: int = 2):
    """``writers`` threads writing to ``server`` (write_until) until the block ends or it calls
    what it is given; any write that failed fails the test."""
    stopping = threading.Event()
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            write_until(server, stopping, f"Writer {n}")
        except BaseException as error:  # noqa: BLE001 -- reported after the block
            failures.append(error)

    def stop_writing() -> None:
        stopping.set()
        for thread in threads:
            thread.join()
        assert failures == []

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    try:
        yield stop_writing
    finally:
        stopping.set()
        for thread in threads:
            thread.join()
    assert failures == []


# 1. Seed 003's users flow: written on the command service, read on the follower.

COMPARED_HEADERS = ("Content-Type", "ETag", "Link", "Log-Position")


def answered(server, path: str) -> tuple:
    """What a GET of ``path`` answers that must not depend on which service answers it."""
    answer = requests.get(server(path), timeout=10)
    body = answer.json() if answer.status_code == 200 else answer.json().get("title")
    return answer.status_code, {name: answer.headers.get(name) for name in COMPARED_HEADERS}, body


def pages(server, path: str) -> list[str]:
    """``path`` and each next page's path after it, as ``server`` links them."""
    paths = [path]
    while link := next_link(requests.get(server(paths[-1]), timeout=10)):
        paths.append(link)
    return paths


def test_seed_003s_users_flow_reads_on_the_follower_as_on_the_command_service(pair):
    source, follower = pair.source, pair.follower
    with requests.Session() as client:
        ada = register(client, source, "Lovelace", "Ada@Example.com")
        ada_id, ada_created = ada.json()["id"], position_of(ada)
        renamed = sent(
            client,
            "PUT",
            source(f"/users/{ada_id}"),
            {"first_name": "Augusta Ada", "last_name": "King", "email": "ada@example.com"},
        )
        bob = register(client, source, "Byron", "bob@example.com", first_name="Bob").json()
        register(client, source, "Babbage", "charles@example.com", first_name="Charles")
        deleted = sent(client, "DELETE", source(f"/users/{bob['id']}"))
        read = client.get(
            follower(f"/users/{ada_id}"), headers={"Min-Log-Position": str(position_of(deleted))}, timeout=10
        )
        assert read.status_code == 200, read.text
        assert read.json() == renamed.json() and read.headers["ETag"] == renamed.headers["ETag"]
        assert int(read.headers["Log-Position"]) >= position_of(deleted)

    last = head(source)
    caught_up(source, last)
    statuses = caught_up(follower, last)
    assert {(s["head"], s["lag"], s["state"]) for s in statuses} == {(last, 0, "live")}
    paths = [
        *pages(source, "/users?limit=1"),
        "/users",
        "/users?email=ADA@EXAMPLE.COM",
        f"/users/{ada_id}",
        f"/users/{ada_id}/history",
        f"/users/{ada_id}?as_of={ada_created}",
        f"/users/{bob['id']}",
        f"/users/{bob['id']}/history",
        f"/users/{bob['id']}?as_of={position_of(deleted) - 1}",
        *pages(source, "/events?after=0&limit=3"),
        "/events?stream_type=user",
        "/events?type=UserDeleted",
        f"/events?after={last}",
        "/items",
        f"/items/{BACON_ID}",
        f"/items/{BACON_ID}/history",
        "/employees",
        f"/employees/{JOHN_DOE_ID}",
        "/devices",
        "/orders?status=placed",
    ]
    differing = {path: (answered(source, path), answered(follower, path)) for path in paths}
    differing = {path: both for path, both in differing.items() if both[0] != both[1]}
    assert differing == {}
    assert {answered(follower, path)[1]["Log-Position"] for path in paths} == {str(last)}
    etag = requests.get(source(f"/users/{ada_id}"), timeout=10).headers["ETag"]
    assert requests.get(follower(f"/users/{ada_id}"), headers={"If-None-Match": etag}, timeout=10).status_code == 304
    assert ready(follower) == 200
    lags = [line for line in requests.get(follower("/metrics"), timeout=10).text.splitlines()]
    assert any(line.startswith("projection_lag_events{") for line in lags)
    assert all(line.endswith(" 0.0") for line in lags if line.startswith("projection_lag_events{"))


def test_seed_003_as_it_is_a_command_only_service_feeds_a_query_service_behind_a_token(tmp_path):
    token = {"QUERY_TOKENS": "feed-secret"}
    with (
        serving(tmp_path / "command", "command", APP_ROLE="command", **token, **SOURCE) as command,
        following(tmp_path / "query", command, FOLLOW_TOKEN="feed-secret") as query,
        requests.Session() as client,
    ):
        feed = client.get(command("/events"), headers={"Authorization": "Bearer feed-secret"}, timeout=10)
        assert feed.status_code == 200, f"the command service's feed: {feed.status_code} {feed.text}"
        ada = register(client, command, "Lovelace", "ada@example.com").json()
        body = {"first_name": "Augusta Ada", "last_name": "King", "email": "ada@example.com"}
        renamed = sent(client, "PUT", command(f"/users/{ada['id']}"), body)
        bob = register(client, command, "Byron", "bob@example.com", first_name="Bob").json()
        deleted = position_of(sent(client, "DELETE", command(f"/users/{bob['id']}")))
        wait = {"Min-Log-Position": str(deleted)}
        users = client.get(query("/users"), headers=wait, timeout=10)
        assert users.status_code == 200, users.text
        assert users.json() == [renamed.json()]
        one = client.get(query(f"/users/{ada['id']}"), headers=wait, timeout=10)
        assert (one.json(), one.headers["ETag"]) == (renamed.json(), renamed.headers["ETag"])
        assert client.get(query(f"/users/{bob['id']}"), timeout=10).status_code == 404
        caught_up(query, head(command))
        assert ready(query) == 200


# 2. Reading one's own writes on the follower while others write.

READS = 200


def test_reads_sent_with_the_commands_log_position_are_never_stale_under_writes(pair):
    source, follower = pair.source, pair.follower
    with writing(source, writers=1):
        results: dict[str, dict] = {}
        threads = [
            threading.Thread(
                target=lambda who, sends: results.update({who: read_own_writes(source, follower, who, sends)}),
                args=args,
            )
            for args in (("own", True), ("any", False))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    consistent, eventual = results["own"], results["any"]
    print(
        f"\non the follower under writes: with Min-Log-Position {consistent['stale']} of {READS} reads stale"
        f" (waits p50 {consistent['p50']:.1f} ms, max {consistent['max']:.1f} ms);"
        f" without it {eventual['stale']} of {READS} stale"
    )
    assert consistent["other"] == [] and eventual["other"] == []
    assert consistent["stale"] == 0
    assert consistent["behind"] == 0  # no answer said its read model was short of the position asked


def read_own_writes(source, follower, who: str, sends_position: bool) -> dict:
    """READS times: write on the source (a rename, or every fourth time a new user), then
    read it back from the follower at once. Counts the reads that missed the write and those
    whose Log-Position was short of the one asked for, keeps any other answer than 200 or 404."""
    counts: dict = {"stale": 0, "behind": 0, "other": [], "waits": []}
    with requests.Session() as session:
        for n in range(READS):
            last_name = f"{who} {n}"
            if n % 4 == 0:
                written = register(session, source, last_name, f"{who}{n}@example.com")
                user_id = written.json()["id"]
            else:
                body = {"first_name": "Ada", "last_name": last_name, "email": f"{who}{n - n % 4}@example.com"}
                written = sent(session, "PUT", source(f"/users/{user_id}"), body)
            position = position_of(written)
            headers = {"Min-Log-Position": str(position)} if sends_position else {}
            started = time.perf_counter()
            read = session.get(follower(f"/users/{user_id}"), headers=headers, timeout=30)
            counts["waits"].append((time.perf_counter() - started) * 1000)
            if read.status_code not in (200, 404):
                counts["other"].append((read.status_code, read.text))
                continue
            counts["stale"] += read.status_code == 404 or read.json()["last_name"] != last_name
            counts["behind"] += sends_position and int(read.headers["Log-Position"]) < position
    waits = sorted(counts.pop("waits"))
    return {**counts, "p50": waits[len(waits) // 2], "max": waits[-1]}


# 3. The follower killed with kill -9 under writes, and started again.


KILLED_AFTER = (0.3, 0.7, 1.1)  # seconds of following under writes before each kill -9


def test_a_follower_killed_whole_under_writes_converges_after_a_restart_applying_each_event_once(pair, tmp_path):
    source = pair.source
    folder, database = tmp_path / "follower", database_config(tmp_path / "follower")
    applied = head(source)  # the first run catches up this far before its kill
    with writing(source) as stop_writing:
        for run, seconds in enumerate(KILLED_AFTER):
            with following(folder, source, f"run{run}", database) as follower:
                until(lambda: (s := projections(follower)) and min(p["checkpoint"] for p in s) > applied)
                time.sleep(seconds)  # pages applied under the writes
                applied = min(p["checkpoint"] for p in projections(follower))
                kill_whole(follower)
            time.sleep(0.3)  # writes it misses while it is away
        with following(folder, source, "restarted", database) as restarted:
            time.sleep(1)
            stop_writing()
            last = head(source)
            caught_up(source, last)
            statuses = caught_up(restarted, last)
            assert {(s["head"], s["lag"]) for s in statuses} == {(last, 0)}
            assert_same_read_model(source, restarted)


# 4. The command service stopped and started again under the follower.


def test_a_follower_waits_out_a_stopped_source_not_ready_and_converges_once_it_is_back(tmp_path):
    port, database = free_port(), database_config(tmp_path / "source")
    token = {"QUERY_TOKENS": "feed-secret", **SOURCE}  # its feed too: the follower sends FOLLOW_TOKEN
    with (
        serving(tmp_path / "source", "source", database, port=port, **token) as source,
        following(tmp_path / "follower", source, FOLLOW_TOKEN="feed-secret", READ_WAIT_MS=500) as follower,
        requests.Session() as client,
    ):
        for n in range(5):
            register(client, source, f"Before {n}", f"before{n}@example.com")
        before = head(source)
        caught_up(follower, before)
        until(lambda: ready(follower) == 200, what="ready before the stop")
        mark = len(log_lines(follower))
        stop(source.process)
        until(lambda: ready(follower) == 503, seconds=3 * FOLLOW_WAIT + 10, what="/readyz 503 with the source down")
        assert client.get(follower("/users"), timeout=10).status_code == 200  # what it has, it still serves
        late = client.get(follower("/users"), headers={"Min-Log-Position": str(before + 1)}, timeout=10)
        assert (late.status_code, late.headers["Content-Type"]) == (503, "application/problem+json"), late.text
        assert "Retry-After" in late.headers and late.headers["Log-Position"] == str(before)
        time.sleep(2.5)  # a few more tries, further and further apart
        assert ready(follower) == 503
        outage = warnings_in(log_lines(follower)[mark:])
        assert 1 <= len(outage) <= 2, outage  # once per outage, not once per try
        with serving(tmp_path / "source", "source-again", database, port=port, **token) as again:
            for n in range(5):
                register(client, again, f"After {n}", f"after{n}@example.com")
            caught_up(follower, head(again), seconds=30)
            until(lambda: ready(follower) == 200, what="ready once the source is back")
            caught_up(again, head(again))
            assert_same_read_model(again, follower)
        assert follower.process.poll() is None


# 5. A follower started on an empty database after many events.

MANY = 10_000


def filled(folder: Path, events: int) -> dict:
    """The database of ``folder`` with ``events`` more events (items created, then renamed),
    run through the items' handlers in one transaction, as bench/fill.py fills its databases;
    the source's start catches its read model up."""
    database = database_config(folder)
    app = create_app({**database, "LOG_LEVEL": "WARNING"})
    handlers = app.extensions["bus"].handlers
    ids = [new_id() for _ in range(events // 2)]
    commands = [CreateItem(item_id=i, name=f"Item {n}", description="") for n, i in enumerate(ids)]
    commands += [UpdateItem(item_id=i, name=f"Item {n} again", description="x") for n, i in enumerate(ids)]
    with app.app_context():
        with transaction("command") as tx:
            uow = UnitOfWork(tx, "filled")
            for command in commands:
                handlers[type(command)](uow, command)
        app.extensions["engine"].dispose()
    return database


def test_a_follower_started_empty_after_ten_thousand_events_catches_up_to_lag_zero(tmp_path):
    database = filled(tmp_path / "source", MANY)
    with serving(tmp_path / "source", "source", database, **SOURCE) as source:
        last = head(source)
        assert last >= MANY
        started = time.monotonic()
        with following(tmp_path / "follower", source) as follower:
            statuses = caught_up(follower, last, seconds=90)
            took = time.monotonic() - started
            assert {(s["checkpoint"], s["head"], s["lag"]) for s in statuses} == {(last, last, 0)}
            until(lambda: ready(follower) == 200, what="ready once caught up")
            metrics = requests.get(follower("/metrics"), timeout=10).text.splitlines()
            lags = [line for line in metrics if line.startswith("projection_lag_events{")]
            assert lags and all(line.endswith(" 0.0") for line in lags), lags
            caught_up(source, last)
            assert_same_read_model(source, follower)
    print(f"\nthe follower applied {last:,} events in {took:.1f}s from its start")


# 6. A source that sends what the follower cannot use.


class _Passing(BaseHTTPRequestHandler):
    """Passes each GET on to the proxy's target, and /events pages through its ``spoil``."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 -- http.server's name
        proxy = self.server.proxy
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        try:
            answer = requests.get(proxy.target + self.path, headers=headers, timeout=60)
        except requests.RequestException:
            self.send_error(502)
            return
        body, spoil = answer.content, proxy.spoil
        if spoil is not None and urlsplit(self.path).path == "/events" and answer.status_code == 200:
            body = spoil(answer.json())
            proxy.spoiled += 1
        self.send_response(answer.status_code)
        for name in ("Content-Type", "Link", "Log-Position", "Retry-After"):
            if name in answer.headers:
                self.send_header(name, answer.headers[name])
        self.send_header("Content-Length", str(len(body)))
        try:
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the follower stopped while it waited
            pass

    def log_message(self, *args) -> None:
        pass


class Proxy:
    """A stand-in for the source on a port of its own: it passes every GET on to ``target``
    and, while ``spoil`` is set, serves what it makes of each /events page (a list) instead."""

    def __init__(self, target: str):
        self.target, self.spoil, self.spoiled = target, None, 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Passing)
        self.server.proxy = self
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Proxy":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def not_json(page: list) -> bytes:
    return b"<html><body>502 Bad Gateway</body></html>"


def wrong_shape(page: list) -> bytes:
    return json.dumps({"events": page, "next": None}).encode()


def fields_missing(page: list) -> bytes:
    return json.dumps([{"position": str(event["position"]), "kind": event["type"]} for event in page]).encode()


def test_a_follower_fed_malformed_pages_stays_up_reports_it_and_resumes_once_the_source_is_fixed(pair, tmp_path):
    source = pair.source
    with (
        Proxy(source.url) as proxy,
        following(tmp_path / "follower", proxy, FOLLOW_WAIT_SECONDS=1) as follower,
        requests.Session() as client,
    ):
        caught_up(follower, head(source))
        for n, spoil in enumerate((not_json, wrong_shape, fields_missing)):
            until(lambda: ready(follower) == 200, what=f"ready before {spoil.__name__}")
            mark = len(log_lines(follower))
            proxy.spoil, proxy.spoiled = spoil, 0
            written = position_of(register(client, source, spoil.__name__, f"spoilt{n}@example.com"))
            until(lambda: ready(follower) == 503, what=f"/readyz 503 on {spoil.__name__} pages")
            until(lambda: proxy.spoiled >= 2, what="a second try")  # it went on asking, and still stands
            assert follower.process.poll() is None and len(follower.worker_pids()) == 2
            assert client.get(follower("/users"), timeout=10).status_code == 200
            assert max(p["checkpoint"] for p in projections(follower)) < written
            assert warnings_in(log_lines(follower)[mark:]), f"nothing logged about {spoil.__name__} pages"
            proxy.spoil = None
            caught_up(follower, written)
        until(lambda: ready(follower) == 200, what="ready once the pages are whole again")
    caught_up(source, head(source))
    assert_same_read_model(source, follower)


UNKNOWN = "UserTeleported"


def test_an_event_of_an_unknown_type_from_the_source_fails_its_projection_and_is_not_skipped(pair, tmp_path):
    source = pair.source

    def unknown_type(page: list) -> bytes:
        return json.dumps(
            [{**e, "type": UNKNOWN} if e["data"].get("last_name") == "Teleported" else e for e in page]
        ).encode()

    with (
        Proxy(source.url) as proxy,
        following(tmp_path / "follower", proxy, FOLLOW_WAIT_SECONDS=1, PROJECTION_RETRY_SECONDS=1) as follower,
        requests.Session() as client,
    ):
        caught_up(follower, head(source))
        proxy.spoil = unknown_type
        odd = position_of(register(client, source, "Teleported", "teleported@example.com"))
        after = position_of(register(client, source, "Grounded", "grounded@example.com"))
        statuses = until(
            lambda: (s := projections(follower)) and any(p["state"] == "failing" for p in s) and s,
            what="a failing projection",
        )
        time.sleep(2.5)  # retried at least once meanwhile
        statuses = projections(follower)
        failing = [p for p in statuses if p["state"] == "failing"]
        assert failing, statuses
        for p in failing:
            assert p["checkpoint"] < odd, p  # not skipped
            assert p["last_error"]["position"] == odd, p
            assert UNKNOWN in json.dumps(p["last_error"]), p
        assert ready(follower) == 503
        proxy.spoil = None  # the source sends the event as it is: the failing projections go on
        caught_up(follower, after, seconds=30)
        assert all(p["state"] == "live" and p["last_error"] is None for p in projections(follower))
    caught_up(source, head(source))
    assert_same_read_model(source, follower)


# 7. Rebuilding the follower's read model.


def test_rebuilding_the_followers_read_model_from_the_source_leaves_it_as_it_was(pair):
    source, follower = pair.source, pair.follower
    last = head(source)
    caught_up(source, last)
    caught_up(follower, last)
    before = read_model(database_of(follower))
    assert followed(before) == followed(read_model(database_of(source)))
    settings = {"APP_ROLE": "query", "FOLLOW_URL": source.url, "LOG_LEVEL": "WARNING"}
    rebuild = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "projections", "rebuild"],
        cwd=ROOT,
        env=database_environment(follower.database, **settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rebuild.returncode == 0, rebuild.stdout + rebuild.stderr
    assert followed(read_model(database_of(follower))) == followed(before)
    assert [s["checkpoint"] for s in projections(follower)] == [last] * len(before["projection_checkpoints"])
