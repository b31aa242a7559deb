"""Following the event feed over real HTTP: the follower of docs/api.md against real gunicorn,
and long polls that leave a threaded worker's other requests answering."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import ROOT, connect, running_gunicorn

SERVICE = "http://127.0.0.1:3000"
FOLLOWER = next(
    block
    for block in re.findall(r"^```py\n(.*?)^```", (ROOT / "docs/api.md").read_text(encoding="utf-8"), re.S | re.M)
    if f"{SERVICE}/events" in block
)


def until(condition, seconds: float = 60) -> None:
    """Go on once ``condition()`` holds (a synchronisation, not a measure)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.05)


def positions(server) -> list[int]:
    conn = server.connect()
    try:
        return [position for (position,) in conn.execute("SELECT position FROM events ORDER BY position").fetchall()]
    finally:
        conn.close()


def burst(server, n: int, writers: int = 4) -> None:
    """``n`` items created by ``writers`` clients at once."""
    with ThreadPoolExecutor(writers) as pool:
        answers = pool.map(
            lambda i: requests.post(server("/items"), json={"name": f"Item {i}", "description": "A dozen"}, timeout=30),
            range(n),
        )
        assert {answer.status_code for answer in answers} == {201}


class Follower:
    """The docs' follower script, run as a process in ``folder`` (where it keeps its position)."""

    def __init__(self, server, folder: Path):
        self.folder, self.out = folder, folder / "follower.out"
        script = folder / "follow.py"
        script.write_text(FOLLOWER.replace(SERVICE, server.url), encoding="utf-8")
        with open(self.out, "ab") as out, open(folder / "follower.err", "ab") as err:
            self.process = subprocess.Popen([sys.executable, str(script)], cwd=folder, stdout=out, stderr=err)

    def saved(self) -> int:
        saved = self.folder / "feed-position"
        return int(saved.read_text() or 0) if saved.exists() else 0

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def printed(self) -> list[dict]:
        return [json.loads(line) for line in self.out.read_text(encoding="utf-8").splitlines()]


def test_the_docs_follower_sees_every_event_once_in_order_across_a_disconnect_and_a_restart(tmp_path):
    with running_gunicorn(tmp_path, workers=2, WORKER_THREADS=8) as server:
        follower = Follower(server, tmp_path)
        try:
            until(lambda: follower.saved() == positions(server)[-1])  # the seed, then it waits
            burst(server, 30)
            until(lambda: follower.saved() == positions(server)[-1])
            for pid in server.worker_pids():  # its long poll is cut off, and the workers start again
                os.kill(pid, signal.SIGKILL)
            burst(server, 30)
            until(lambda: follower.saved() == positions(server)[-1])
            follower.stop()
            burst(server, 30)  # while it is away
            follower = Follower(server, tmp_path)
            until(lambda: follower.saved() == positions(server)[-1])
        finally:
            follower.stop()
    assert [event["position"] for event in follower.printed()] == positions(server)
    assert len({event["event_id"] for event in follower.printed()}) == len(positions(server))


def test_fifty_waiting_followers_leave_a_threaded_worker_answering_other_requests(tmp_path):
    with running_gunicorn(tmp_path, workers=1, WORKER_THREADS=64) as server:
        (worker,) = server.worker_pids()
        threads = len(os.listdir(f"/proc/{worker}/task"))
        after = positions(server)[-1]
        with ThreadPoolExecutor(50) as followers:
            # The longest wait there is: a slow start on a loaded machine still leaves the waits
            # open for the requests below.
            waits = [
                followers.submit(requests.get, server("/events"), params={"after": after, "wait": 30}, timeout=50)
                for _ in range(50)
            ]
            # The worker makes a thread only when none is idle, so the count grows with the waits
            # held at once. The requests before may have left up to 3 idle threads behind (the
            # pool makes one when a request comes before the last is done): at least 47 new
            # threads, then, mean at least 47 waits at once and most likely all 50.
            until(lambda: len(os.listdir(f"/proc/{worker}/task")) >= threads + 47, seconds=25)
            for n in range(5):
                assert requests.get(server("/items"), timeout=5).status_code == 200
                assert (
                    requests.post(
                        server("/items"), json={"name": f"Item {n}", "description": "A dozen"}, timeout=5
                    ).status_code
                    == 201
                )
            pages = [wait.result() for wait in waits]
    assert all(page.status_code == 200 and page.json()[0]["position"] == after + 1 for page in pages)


@pytest.mark.parametrize("threads", [1, 8])
def test_a_stopping_server_ends_the_waits_with_an_empty_page(tmp_path, threads):
    """Without that, a wait of 30 s would outlast the 5 s the workers get to finish, and be cut off."""
    with running_gunicorn(tmp_path, workers=1, WORKER_THREADS=threads, GRACEFUL_TIMEOUT=5) as server:
        (worker,) = server.worker_pids()
        with connect(server.url, seconds=60) as follower:
            after = positions(server)[-1]
            follower.sendall(
                f"GET /events?after={after}&wait=30 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
            )
            until(lambda: _accepted(worker, follower.getsockname()[1]))
            server.process.send_signal(signal.SIGTERM)
            answer = b"".join(iter(lambda: follower.recv(65536), b""))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert json.loads(body) == []


def _accepted(pid: int, client_port: int) -> bool:
    """Whether the process holds the server's end of the connection from ``client_port``."""
    sockets = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            sockets.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:  # closed meanwhile
            pass
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[2].split(":")[1], 16) == client_port and f"socket:[{fields[9]}]" in sockets:
            return True
    return False


def test_a_sync_worker_waiting_longer_than_its_timeout_is_not_killed(tmp_path):
    """A sync worker is busy for all of a long poll; the master kills one silent for WORKER_TIMEOUT."""
    with running_gunicorn(tmp_path, workers=1, WORKER_TIMEOUT=3, CLIENT_TIMEOUT=2) as server:
        after = positions(server)[-1]
        answer = requests.get(server("/events"), params={"after": after, "wait": 6}, timeout=30)
    assert (answer.status_code, answer.json()) == (200, [])
