"""The README's seed 003 block, run as written: the command service and the query service
that follows it, each with its own database file in a folder of its own; the user
registered on the first is read on the second with the position its write answered."""

import json
import os
import re
import signal
import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT, free_port

pytestmark = pytest.mark.sqlite  # the block names its SQLite files, as written

SECTION = (ROOT / "README.md").read_text(encoding="utf-8").split("## Seed 003", 1)[1].split("\n## ", 1)[0]
(BLOCK,) = re.findall(r"^```bash\n(.*?)^```", SECTION, flags=re.S | re.M)


def test_the_readme_runs_seed_003_with_two_databases(tmp_path):
    command, query = free_port(), free_port()
    script = BLOCK.replace("127.0.0.1:3000", f"127.0.0.1:{command}").replace("127.0.0.1:3001", f"127.0.0.1:{query}")
    script = script.replace(".venv/bin/gunicorn -c gunicorn.conf.py", f"{sys.executable} -m gunicorn -c {ROOT}/gunicorn.conf.py")
    started = script.index("\nAT=")  # the servers start in the lines before: wait until both answer
    ready = f"for port in {command} {query}; do until curl -sf http://127.0.0.1:$port/healthz >/dev/null; do sleep 0.2; done; done"
    script = f"{script[:started]}\n{ready}{script[started:]}"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "APP_", "FOLLOW_"))}
    out, err = tmp_path / "out", tmp_path / "err"  # files: the servers it leaves running keep them open
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        process = subprocess.Popen(
            ["bash", "-c", script], cwd=tmp_path, env={**environ, "PYTHONPATH": str(ROOT)},
            stdout=stdout, stderr=stderr, start_new_session=True,
        )  # fmt: skip
    try:
        process.wait(timeout=120)
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the two servers it left running
    assert process.returncode == 0, err.read_text()[-3000:]
    (listed,) = [line for line in out.read_text().splitlines() if line.startswith("[")]  # the servers log objects
    (user,) = json.loads(listed)
    assert (user["first_name"], user["email"]) == ("Ada", "ada@example.com")
    assert (tmp_path / "command-db" / "cqrs.db").exists() and (tmp_path / "query-db" / "cqrs.db").exists()
