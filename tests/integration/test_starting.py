"""A start that cannot go on stops at once: a non-zero exit and one line saying which
setting or path, what is wrong and what to do (no traceback). A start that can go on
leaves nothing in the way of the next, and the flask command lists without creating.

The service is started for real, as a subprocess: gunicorn with gunicorn.conf.py, or
``flask --app wsgi``. Run as root, these tests start it without root's power to read and
write any file (setpriv drops it), as a service user would run; files of "another user"
belong to nobody.
"""

import os
import pwd
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from app import create_app
from tests.e2e.conftest import free_port, stop, wait_until_answering

# Each test starts the service in a process of its own, on an SQLite file: what is checked here
# is that file, its folder and its owner (a PostgreSQL start that cannot reach its server:
# tests/integration/test_database.py).
pytestmark = [pytest.mark.slow, pytest.mark.sqlite]

ROOT = Path(__file__).resolve().parent.parent.parent
# make test runs as root (make deps installs with apt-get); here root gives files to another
# user, and runs the service without its power over files (setpriv, from util-linux, which
# every Debian has), so that permissions apply to it as to any user.
assert os.geteuid() == 0, "the start-up tests run as root, as make test does"
UNPRIVILEGED = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def _environment(database, **settings) -> dict:
    environ = {**os.environ, "DATABASE_PATH": str(database), "WEB_CONCURRENCY": "1", **settings}
    environ.pop("APP_SKIP_STARTUP", None)
    return environ


def gunicorn(database, privileged: bool = False, **settings) -> subprocess.Popen:
    """gunicorn -c gunicorn.conf.py wsgi:app on a free port; its stderr in ``.log``, its address in ``.url``."""
    command = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
    bind = f"127.0.0.1:{free_port()}"
    log = tempfile.TemporaryFile("w+")  # not a pipe: a full pipe would block a server that logs on
    process = subprocess.Popen(
        [*([] if privileged else UNPRIVILEGED), *command],
        cwd=ROOT,
        env=_environment(database, BIND=bind, **settings),
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    process.url, process.log = f"http://{bind}", log
    return process


@contextmanager
def serving(database, privileged: bool = False) -> Iterator[subprocess.Popen]:
    """gunicorn on ``database`` for the block, stopped after it; whether it answers is the test's."""
    process = gunicorn(database, privileged)
    try:
        yield process
    finally:
        stop(process)


def failed_start(database, **settings) -> str:
    """Start gunicorn, expect it to stop by itself with a non-zero exit; the one line it printed."""
    process = gunicorn(database, **settings)
    try:
        process.wait(timeout=60)
    finally:
        stop(process)
    process.log.seek(0)
    err = process.log.read()
    assert process.returncode != 0, err
    return one_line(err)


def flask(database, *args, **settings) -> subprocess.CompletedProcess:
    command = [*UNPRIVILEGED, sys.executable, "-m", "flask", "--app", "wsgi", *args]
    return subprocess.run(
        command, cwd=ROOT, env=_environment(database, **settings), capture_output=True, text=True, timeout=60
    )


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def another_user_s(path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
    path.chmod(0o600)


# ---------------------------------------------------------------- settings


def test_an_invalid_setting_stops_gunicorn_with_one_line_naming_it_and_its_values(tmp_path):
    line = failed_start(tmp_path / "cqrs.db", APP_ROLE="bogus")
    assert "APP_ROLE must be one of all, command, query, got 'bogus'" in line


def test_an_invalid_setting_stops_a_flask_command_with_one_line_naming_it(tmp_path):
    result = flask(tmp_path / "cqrs.db", "routes", APP_ROLE="bogus")
    assert result.returncode != 0
    assert "APP_ROLE must be one of all, command, query, got 'bogus'" in one_line(result.stderr)


def test_flask_help_with_an_invalid_setting_names_it_in_one_line(tmp_path):
    result = flask(tmp_path / "cqrs.db", "--help", APP_ROLE="bogus")
    assert "APP_ROLE must be one of all, command, query, got 'bogus'" in one_line(result.stderr)


@pytest.mark.parametrize("args", [("--help",), ("routes",)])
def test_listing_commands_or_routes_creates_no_database(tmp_path, args):
    result = flask(tmp_path / "new" / "cqrs.db", *args)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "new").exists()


def test_flask_help_lists_the_project_s_commands(tmp_path):
    result = flask(tmp_path / "cqrs.db", "--help")
    assert {"init-db", "projections", "process-managers", "events"} <= set(result.stdout.split())


def test_a_project_command_on_a_new_database_applies_the_migrations_first(tmp_path):
    result = flask(tmp_path / "cqrs.db", "projections", "status")
    assert result.returncode == 0, result.stderr
    assert "item_list" in result.stdout


# ---------------------------------------------------------------- the database and its folder


def test_a_read_only_database_stops_the_start_with_one_line_naming_it(tmp_path):
    database = tmp_path / "cqrs.db"
    create_app({"DATABASE_PATH": str(database)})
    database.chmod(0o444)
    line = failed_start(database)
    assert str(database) in line and "read and write" in line


def test_a_read_only_database_starts_once_it_is_made_writable(tmp_path):
    """SQLite, given a read-only database, made a read-only -shm that failed every later start."""
    database = tmp_path / "cqrs.db"
    create_app({"DATABASE_PATH": str(database)})
    database.chmod(0o444)
    failed_start(database)
    database.chmod(0o644)
    with serving(database) as process:
        assert answering(process)


def answering(process: subprocess.Popen) -> bool:
    """Whether the started gunicorn came to answer /healthz (False: it exited first)."""
    try:
        wait_until_answering(f"{process.url}/healthz", process, Path(os.devnull))
    except RuntimeError:
        return False
    return True


def test_a_database_folder_the_service_cannot_write_stops_the_start_with_one_line_naming_it(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    folder.chmod(0o555)
    line = failed_start(folder / "cqrs.db")
    assert str(folder) in line and "write" in line


def test_a_folder_given_as_the_database_path_stops_the_start_with_one_line_naming_it(tmp_path):
    line = failed_start(tmp_path)
    assert str(tmp_path) in line and "folder" in line


def test_a_file_that_is_not_a_database_stops_the_start_with_one_line_naming_it(tmp_path):
    database = tmp_path / "notes.txt"
    database.write_text("not a database, but a few lines of notes\n" * 100)
    line = failed_start(database)
    assert str(database) in line and "not an SQLite database" in line


# ---------------------------------------------------------------- files beside the database


@pytest.mark.parametrize("suffix", ["-writers", "-checkpointer", "-wal", "-shm"])
def test_a_side_file_of_another_user_stops_the_start_with_one_line_naming_it(tmp_path, suffix):
    database = tmp_path / "cqrs.db"
    create_app({"DATABASE_PATH": str(database)})
    side = Path(f"{database}{suffix}")
    side.touch()
    another_user_s(side)
    line = failed_start(database)
    assert str(side) in line and "read and write" in line



def test_lock_files_made_by_root_belong_to_the_database_s_owner(tmp_path):
    """As SQLite's -wal and -shm do: a later start as the owner can open them."""
    database = tmp_path / "cqrs.db"
    create_app({"DATABASE_PATH": str(database)})
    for made in tmp_path.glob("cqrs.db-*"):
        made.unlink()
    another_user_s(database)
    with serving(database, privileged=True) as process:
        assert answering(process)
        assert requests.post(f"{process.url}/items", json={"name": "Eggs", "description": ""}, timeout=10).ok
    owners = {path.name: path.stat().st_uid for path in tmp_path.glob("cqrs.db-*")}
    assert {"cqrs.db-writers", "cqrs.db-checkpointer"} <= set(owners)
    assert set(owners.values()) == {pwd.getpwnam("nobody").pw_uid}, owners


@pytest.mark.parametrize("endpoint", ["/healthz", "/readyz"])
def test_health_and_readiness_answer_503_naming_a_side_file_commands_cannot_open(tmp_path, endpoint):
    database = tmp_path / "cqrs.db"
    with serving(database) as process:
        assert answering(process)
        another_user_s(Path(f"{database}-writers"))  # as a run of a command as root used to leave it
        response = requests.get(f"{process.url}{endpoint}", timeout=10)
    assert response.status_code == 503
    assert f"{database}-writers" in response.json()["reason"]
