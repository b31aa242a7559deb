"""The development server (`make run`: flask run, werkzeug's server) over real HTTP."""

import subprocess
import sys

import requests

from tests.e2e.conftest import ROOT, database_environment, free_port, stop, wait_until_answering
from tests.engines import database_config


def test_the_development_server_logs_each_request_once(tmp_path):
    port, log = free_port(), tmp_path / "flask.log"
    environ = database_environment(database_config(tmp_path), LOG_FORMAT="text")
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "run", "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/healthz", server, log)
        assert requests.get(f"http://127.0.0.1:{port}/items", timeout=10).status_code == 200
    finally:
        stop(server)
    lines = [line for line in log.read_text().splitlines() if "/items" in line]
    assert len(lines) == 1, lines
    assert "app.access: GET /items 200" in lines[0]
