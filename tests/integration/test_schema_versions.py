"""The schema's versions (app/schema.py): a database made by an earlier build is brought up to
this code's version at start, losing nothing, and ends with the very schema a new database
gets from the baseline; a database newer than the code is refused; the CLI says where it is."""

import re
import shlex
import shutil
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from app import create_app
from app.config import StartupError
from app.db import is_read_table
from app.schema import STEPS, current, steps
from tests import engines
from tests.e2e.conftest import ROOT, database_environment
from tests.engines import plain_connection
from tests.postgres_server import BIN
from tests.support import as_schema_version_1, make_app, read_model, shape

FROZEN = Path(__file__).resolve().parent.parent / "frozen"
SETS = sorted(p for p in FROZEN.iterdir() if (p / "database.sqlite3").is_file())


def rows(config: dict, tables_and_columns: dict[str, list[str]]) -> dict[str, list[tuple]]:
    """Each table's rows, of the columns given, sorted."""
    with closing(plain_connection(config)) as conn:
        return {
            table: sorted(conn.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall(), key=repr)
            for table, columns in tables_and_columns.items()
        }


def columns_of(config: dict) -> dict[str, list[str]]:
    with closing(plain_connection(config)) as conn:
        if config.get("DATABASE_URL"):
            found = conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
                " ORDER BY table_name, ordinal_position"
            ).fetchall()
        else:
            found = conn.execute(
                "SELECT t.name, c.name FROM sqlite_schema t, pragma_table_info(t.name) c"
                " WHERE t.type = 'table' AND t.name NOT LIKE 'sqlite_%' ORDER BY t.name, c.cid"
            ).fetchall()
    by_table: dict[str, list[str]] = {}
    for table, column in found:
        by_table.setdefault(table, []).append(column)
    return by_table


def frozen_database(folder: Path, tmp_path: Path) -> dict:
    """The settings of a copy of the frozen set's database, on the engine under test."""
    if engines.ENGINE == "sqlite":
        shutil.copy(folder / "database.sqlite3", tmp_path / "cqrs.db")
        return {"DATABASE_PATH": str(tmp_path / "cqrs.db")}
    server = engines.server()
    name = f"frozen_{folder.name.replace('-', '_')}_{abs(hash(str(tmp_path))) % 10**8}"
    server.create_database(name)
    with closing(server.connect(name, autocommit=True)) as conn:
        conn.execute("DROP SCHEMA public")
    # The dump has no roles, grants or rebuild schema: that day's code made them by applying its
    # baseline at every start, so the restore ends the same way.
    for script in ("database.postgresql.sql", "migrations.postgresql.sql"):
        subprocess.run(
            [
                BIN / "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "--single-transaction",
                server.url(name).replace("+psycopg", ""),
                "-f",
                folder / script,
            ],
            check=True,
            capture_output=True,
        )
    return {"DATABASE_PATH": str(tmp_path / "unused.db"), "DATABASE_URL": server.url(name)}


@pytest.mark.parametrize("folder", SETS, ids=lambda p: p.name)
def test_a_frozen_database_is_upgraded_at_start_to_the_baselines_schema_with_nothing_lost(folder, tmp_path):
    old = frozen_database(folder, tmp_path)
    before_columns = columns_of(old)
    assert "schema_migrations" not in before_columns  # made before versions were kept: version 1
    # The data: the log and the write tables (a start may move the process managers' checkpoint).
    # The read tables are what today's code makes of the log (test_frozen_log): a projection
    # whose version went up since is rebuilt at the start.
    kept = {t: c for t, c in before_columns.items() if not is_read_table(t) and t != "process_checkpoints"}
    before = rows(old, kept)

    upgraded = create_app(old)
    new = make_app(tmp_path / "new")

    assert upgraded.extensions["engine"].schema_version() == current(engines.ENGINE)
    assert shape(old) == shape(new.config)
    assert rows(old, kept) == before
    client = upgraded.test_client()
    assert {s["state"] for s in client.get("/projections").get_json()} == {"live"}
    live = read_model(upgraded)
    with upgraded.app_context():
        upgraded.extensions["projector"].rebuild()
    assert read_model(upgraded) == live
    assert client.post("/items", json={"name": "After", "description": "the upgrade"}).status_code == 201


def test_the_steps_are_the_same_on_both_engines_and_the_baselines_are_at_the_last():
    assert [(s.version, s.name) for s in steps("sqlite")] == [(s.version, s.name) for s in steps("postgresql")]
    assert current("sqlite") == current("postgresql") == 1 + len(list(STEPS.glob("*.sqlite.sql")))


def test_a_new_database_is_recorded_at_this_codes_version(app):
    with closing(plain_connection(app.config)) as conn:
        recorded = conn.execute("SELECT version, name FROM schema_migrations").fetchall()
    assert recorded == [(current(engines.ENGINE), "baseline")]


def test_a_database_at_version_1_gets_every_step_recorded(app, tmp_path):
    with closing(plain_connection(app.config)) as conn:
        as_schema_version_1(conn)
        conn.commit()
    make_app(tmp_path)
    with closing(plain_connection(app.config)) as conn:
        recorded = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert recorded == [(s.version, s.name) for s in steps(engines.ENGINE)]


def test_a_database_newer_than_the_code_is_refused_and_left_as_it_is(app, tmp_path):
    with closing(plain_connection(app.config)) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'from-the-future', '')")
        conn.commit()
    with pytest.raises(StartupError, match="schema is at version 99, newer than this code's"):
        make_app(tmp_path)


def test_the_cli_shows_the_version_and_what_is_pending_then_upgrades(app, tmp_path):
    with closing(plain_connection(app.config)) as conn:
        as_schema_version_1(conn)
        conn.commit()
    unstarted = create_app({**engines.database_of(app)}, start=False)
    runner = unstarted.test_cli_runner()

    status = runner.invoke(args=["database", "status"])
    assert status.exit_code == 0, status.output
    assert "schema version: 1\n" in status.output
    assert f"this code's version: {current(engines.ENGINE)}" in status.output
    assert f"pending: {steps(engines.ENGINE)[0].path.name}" in status.output

    upgrade = runner.invoke(args=["database", "upgrade"])
    assert upgrade.exit_code == 0, upgrade.output
    assert f"upgraded from version 1 to {current(engines.ENGINE)}" in upgrade.output
    again = runner.invoke(args=["database", "status"])
    assert "pending: none" in again.output
    assert "already" in runner.invoke(args=["database", "upgrade"]).output


def test_the_documented_commands_run_as_written(app, tmp_path):
    """docs/evolution.md's shell block, line by line, on a database at version 1."""
    with closing(plain_connection(app.config)) as conn:
        as_schema_version_1(conn)
        conn.commit()
    document = (ROOT / "docs" / "evolution.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"^```bash\n(.*?)^```", document, flags=re.S | re.M)
    outputs = []
    for line in block.splitlines():
        command = shlex.split(line.split("#", 1)[0].replace(".venv/bin/flask", f"{sys.executable} -m flask"))
        done = subprocess.run(
            command, cwd=ROOT, env=database_environment(engines.database_of(app)), capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert "schema version: 1\n" in outputs[0] and f"upgraded from version 1 to {current(engines.ENGINE)}" in outputs[1]
