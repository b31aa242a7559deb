"""The examples of the README and docs/, run as written against a real server: every shell
block that calls the service on 127.0.0.1:3000 (servers it would start aside), in the
order of DOCUMENTS, in one shell, and the Python script.

Each curl's status is noted. None may go unanswered, nor be a 5xx its paragraph does not
name; the statuses a paragraph's comments name ("# Create: 201 ...", "200; later telemetry gets 409") must come
among its curls' answers in that order, and each error answered must be named as often as
it comes: a renamed route or a changed rule shows here as the documents going stale.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter

import pytest

from tests.e2e.conftest import ROOT, database_environment

DOCUMENTS = ("README.md", "docs/api.md", "docs/operations.md", "docs/design.md", "docs/scale-out.md")
TEXT = "\n".join((ROOT / name).read_text(encoding="utf-8") for name in DOCUMENTS)
SERVICE = "http://127.0.0.1:3000"
STATUS = re.compile(r"\b([1-5][0-9]{2})\b")
MARK = "@@ paragraph "
# Each curl notes its status on stderr, where the captures of $(...) do not take it.
CURL = """curl() { command curl -q --max-time 30 --noproxy '*' -w '%{stderr}status %{http_code}\\n' "$@"; }"""


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", TEXT, flags=re.S | re.M)


def calls_the_service(block: str) -> bool:
    starts_a_server = re.search(r"\bmake (run|serve)\b|\bgunicorn\b|&\s*$", block, flags=re.M)
    return SERVICE in block and not starts_a_server


def paragraphs() -> list[str]:
    return [p for b in blocks("bash") if calls_the_service(b) for p in re.split(r"\n\s*\n", b) if p.strip()]


def comments(paragraph: str) -> str:
    """The comment text of a paragraph: whole comment lines, and the ends of command lines."""
    return "\n".join(line.split("#", 1)[1] for line in paragraph.splitlines() if re.search(r"(^|\s)#", line))


def curls(paragraph: str) -> int:
    """How many times the paragraph calls curl (comments aside)."""
    return sum(len(re.findall(r"(?:^|[\s($|])curl\s", line.split("#", 1)[0])) for line in paragraph.splitlines())


def in_order(named: list[int], statuses: list[int]) -> bool:
    """Whether ``named`` comes among ``statuses`` in that order."""
    answers = iter(statuses)
    return all(status in answers for status in named)


def run_script(script: str, cwd, env: dict, timeout: float) -> subprocess.CompletedProcess:
    """bash -c script; on timeout its whole process group is killed (a curl left behind would
    keep the pipes open)."""
    with subprocess.Popen(
        ["bash", "-c", script], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def runnable(paragraph: str, url: str) -> str:
    """The paragraph as the test runs it: against ``url``; the CLI from this interpreter;
    ``less`` as ``cat``; a command the README says runs until stopped, stopped after 2 s."""
    lines = []
    for line in paragraph.replace(SERVICE, url).splitlines():
        line = line.replace(".venv/bin/flask", '"$PYTHON" -m flask').replace("| less", "| cat")
        if "Ctrl-C stops" in line:
            line = f"timeout 2 {line.split('#')[0].strip()} || [ $? -eq 124 ]"
        lines.append(line)
    return "\n".join(lines)


def curl_binary() -> str:
    """curl from the system's packages (`make deps` installs it)."""
    found = shutil.which("curl")
    assert found, "curl is missing: run `make deps`"
    return found


def test_the_readme_has_examples_to_run():
    assert len(paragraphs()) >= 30
    assert any("python3 -m json.tool" in p for p in paragraphs())
    assert [b for b in blocks("python") if SERVICE in b]


def test_every_shell_example_in_the_readme_answers_as_documented(gunicorn, tmp_path):
    curl_binary()
    found = paragraphs()
    script = ["set -euo pipefail", CURL]
    for n, paragraph in enumerate(found):
        script += [f"echo '{MARK}{n}' >&2", runnable(paragraph, gunicorn.url)]
    path = f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"  # python3 is this interpreter
    # The CLI's lines open the server's database.
    env = database_environment(gunicorn.database, PATH=path, PYTHON=sys.executable, PYTHONPATH=ROOT)
    done = run_script("\n".join(script), tmp_path, env, timeout=300)  # openapi.json lands in tmp_path
    assert done.returncode == 0, f"{done.stderr[-3000:]}\n{done.stdout[-3000:]}"

    answered: dict[int, list[int]] = {}
    for line in done.stderr.splitlines():
        if line.startswith(MARK):
            current = answered.setdefault(int(line[len(MARK) :]), [])
        elif line.startswith("status "):
            current.append(int(line.split()[1]))
    assert sorted(answered) == list(range(len(found))), "the script stopped early"
    for n, paragraph in enumerate(found):
        statuses, named = answered[n], [int(s) for s in STATUS.findall(comments(paragraph))]
        context = f"\n{paragraph}\nanswered {statuses}"
        assert len(statuses) == curls(paragraph), f"not every curl answered:{context}"
        # A 5xx only where the paragraph names it (a read waiting for a position the log never reaches).
        assert all(100 < s < 500 or s in named for s in statuses), f"an answer was missing or a server error:{context}"
        assert in_order(named, statuses), f"the comments name {named}, in that order:{context}"
        errors = Counter(s for s in statuses if s >= 400)
        assert errors <= Counter(named), f"an error the README does not mention:{context}"


@pytest.mark.parametrize("script", [b for b in blocks("python") if SERVICE in b], ids=["telemetry"])
def test_the_readme_s_python_script_runs(gunicorn, tmp_path, script):
    path = tmp_path / "example.py"
    path.write_text(script.replace(SERVICE, gunicorn.url), encoding="utf-8")
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    accepted, statistics = done.stdout.splitlines()
    assert accepted == "{'accepted': 100}"
    assert "'count': 100" in statistics
