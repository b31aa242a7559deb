"""A real gunicorn with two workers on a free loopback port, on its own SQLite file."""

import os
import socket
import subprocess
import sys
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, database: str, log: str):
        self.url, self.database, self.log = url, database, log

    def __call__(self, path: str) -> str:
        return self.url + path


@pytest.fixture
def gunicorn(tmp_path):
    port = free_port()
    database, log = str(tmp_path / "cqrs.db"), tmp_path / "gunicorn.log"
    env = {**os.environ, "DATABASE_PATH": database}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", database, log)
    try:
        _wait_until_serving(server, process)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(server: Server, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{open(server.log).read()}")
        try:
            if requests.get(server("/items"), timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # not bound yet, or workers still booting
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not start:\n{open(server.log).read()}")
