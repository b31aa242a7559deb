"""Real servers for end-to-end tests: gunicorn (with gunicorn.conf.py) and nginx, on loopback,
on the database of the engine under test (tests/engines.py).

Every process a test starts is stopped when the test ends, whatever happened: on PostgreSQL
a gunicorn's workers each hold a pool of connections per role, which only a stop gives back.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.engines import database_config, plain_connection

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_environment(database: dict, **env) -> dict:
    """This process's environment with ``database``'s settings (and ``env``) in place of any of its own."""
    environ = {key: value for key, value in os.environ.items() if key not in ("DATABASE_PATH", "DATABASE_URL")}
    return {**environ, **database, **{key: str(value) for key, value in env.items()}}


class Server:
    """A running gunicorn: its base URL, database settings, log file and process."""

    def __init__(self, url: str, database: dict, log: Path, process: subprocess.Popen):
        self.url, self.database, self.log, self.process = url, database, log, process

    def __call__(self, path: str) -> str:
        return self.url + path

    def connect(self):
        """A plain connection to its database (no role, ``?`` placeholders): close it when done."""
        return plain_connection(self.database)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children]


@contextmanager
def running_gunicorn(
    tmp_path: Path, name: str = "app", database: dict | None = None, workers: int = 2, port: int | None = None, **env
):
    """gunicorn -c gunicorn.conf.py wsgi:app on ``port`` (a free one by default: a given one starts
    a server again where its clients expect it), on ``database`` (settings; by default the test
    database of ``tmp_path``); extra settings arrive as environment."""
    port = port or free_port()
    database = database or database_config(tmp_path)
    log = tmp_path / f"{name}.log"
    # Its temporary files (the metrics folder among them) in the test's folder: a server killed
    # whole leaves them behind, and pytest removes that folder.
    scratch = tmp_path / f"{name}-tmp"
    scratch.mkdir(exist_ok=True)
    environ = database_environment(
        database, BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY=workers, **{"TMPDIR": scratch, **env}
    )
    environ.pop("APP_SKIP_STARTUP", None)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", database, log, process)
    try:
        wait_until_answering(server("/healthz"), process, log)
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_answering(url: str, process: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited:\n{log.read_text(errors='replace')}")
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # not bound yet, or workers still booting
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer:\n{log.read_text(errors='replace')}")


@pytest.fixture
def gunicorn(tmp_path):
    with running_gunicorn(tmp_path) as server:
        yield server


def nginx_binary() -> str:
    """nginx from the system's packages (`make deps` installs it)."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    assert found, "nginx is missing: run `make deps`"
    return found


def connect(url: str, seconds: float = 30) -> socket.socket:
    """A raw TCP connection to the host and port of ``url``."""
    address = urlsplit(url)
    return socket.create_connection((address.hostname, address.port), timeout=seconds)


def exchange(url: str, data: bytes, seconds: float = 60) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes and read one answer: its status, headers (lower-case names) and body (as
    long as its Content-Length says, else until the server closes)."""
    with connect(url, seconds) as client:
        client.sendall(data)
        answer = b""
        while b"\r\n\r\n" not in answer and (chunk := client.recv(65536)):
            answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        length = headers.get("content-length")
        while (length is None or len(body) < int(length)) and (chunk := client.recv(65536)):
            body += chunk
    return int(status_line.split()[1]), headers, body


@contextmanager
def nginx_in_front(tmp_path: Path, command: "Server", query: "Server") -> Iterator[tuple[str, str]]:
    """deploy/nginx.conf on free ports: GET and HEAD (and the feed) to ``query``, the rest to
    ``command``; yields the public base URL (…/api) and the operators' one."""
    port, private_port = free_port(), free_port()
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    for old, new in [
        ("127.0.0.1:3000", command.url.removeprefix("http://")),
        ("127.0.0.1:3001", query.url.removeprefix("http://")),
        ("listen 127.0.0.1:8080", f"listen 127.0.0.1:{port}"),
        ("listen 127.0.0.1:8081", f"listen 127.0.0.1:{private_port}"),
    ]:
        assert old in conf
        conf = conf.replace(old, new)
    (tmp_path / "nginx.conf").write_text(conf)
    log = tmp_path / "nginx.log"
    globals_ = f"daemon off; pid {tmp_path}/nginx.pid; error_log {log};"
    nginx = subprocess.Popen([nginx_binary(), "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", globals_])
    try:
        base = f"http://127.0.0.1:{port}/api"
        wait_until_answering(f"{base}/healthz", nginx, log)
        yield base, f"http://127.0.0.1:{private_port}/api"
    finally:
        stop(nginx)
