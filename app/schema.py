"""The schema's versions: what a new database is made from, and the steps that bring an older one up to date.

- ``migrations.sql`` (``migrations.postgresql.sql``): the whole schema as it is now, and the
  seed rows; a new database is made from it and recorded at the current version.
- ``migrations/NNNN-<what>.<engine>.sql``: the step from version NNNN - 1 to NNNN, one file
  per engine, for the databases made before. Changing a write table (or the log) means a
  step and the same change in both baselines; tests/integration/test_schema_versions.py
  holds an upgraded database equal to a new one. A read table needs no step: its
  projection's version goes up and it is rebuilt (app/projector.py).

Each engine's ``migrate`` runs ``plan`` in one transaction under a lock, after reading the
recorded version: the highest in ``schema_migrations``, 1 for a database made before
versions were kept, None for a new one.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from app.config import StartupError
from app.times import utc_now

ROOT = Path(__file__).resolve().parent.parent
STEPS = ROOT / "migrations"
BASELINES = {"sqlite": ROOT / "migrations.sql", "postgresql": ROOT / "migrations.postgresql.sql"}
_STEP_NAME = re.compile(r"(\d{4})-([a-z0-9-]+)\.(\w+)\.sql")


@dataclass(frozen=True, order=True)
class Step:
    version: int
    name: str
    path: Path

    def sql(self) -> str:
        """The step's statements, then the row that records it."""
        return (
            f"{self.path.read_text(encoding='utf-8')}\n"
            "INSERT INTO schema_migrations (version, name, applied_at)"
            f" VALUES ({self.version}, '{self.name}', '{utc_now()}');\n"
        )


def steps(engine: str) -> list[Step]:
    """The engine's steps in order: versions 2, 3, ... with none missing."""
    found = sorted(
        Step(int(match[1]), match[2], path)
        for path in STEPS.glob(f"*.{engine}.sql")
        if (match := _STEP_NAME.fullmatch(path.name))
    )
    if [step.version for step in found] != list(range(2, len(found) + 2)):
        raise RuntimeError(f"migrations/ must number the {engine} steps 0002, 0003, ... without gaps")
    return found


def current(engine: str) -> int:
    """The version this code's schema is at."""
    return 1 + len(steps(engine))


def pending(engine: str, recorded: int | None) -> list[Step]:
    """The steps a database at ``recorded`` still needs; StartupError if it is newer than this code."""
    newest = current(engine)
    if recorded is not None and recorded > newest:
        raise StartupError(
            f"the database's schema is at version {recorded}, newer than this code's ({newest}):"
            " run the code that upgraded it (or newer)"
        )
    return [step for step in steps(engine) if recorded is not None and step.version > recorded]


def plan(engine: str, recorded: int | None) -> str:
    """The SQL that brings a database at ``recorded`` (None: a new one) to the current version."""
    if recorded is None:
        return (
            BASELINES[engine].read_text(encoding="utf-8")
            + "\nINSERT INTO schema_migrations (version, name, applied_at)"
            f" VALUES ({current(engine)}, 'baseline', '{utc_now()}');\n"
        )
    return "".join(step.sql() for step in pending(engine, recorded))


def describe(engine: str, recorded: int | None) -> str:
    """One line per fact, for ``flask db status``."""
    lines = [f"schema version: {'none (a new database)' if recorded is None else recorded}"]
    lines.append(f"this code's version: {current(engine)}")
    if recorded is None:
        lines.append(f"pending: the baseline, {BASELINES[engine].name}")
    else:
        lines += [f"pending: {step.path.name}" for step in pending(engine, recorded)] or ["pending: none"]
    return "\n".join(lines)


def definition(engine: str, table: str) -> list[str]:
    """How the baseline makes ``table`` (a read table): its CREATE TABLE, then its indexes'
    CREATE INDEX, without IF NOT EXISTS. A rebuild makes a projection's tables anew from
    them when its version changed."""
    baseline = BASELINES[engine].read_text(encoding="utf-8")
    made = re.search(rf"^CREATE TABLE IF NOT EXISTS {table} \(\n.*?^\)[^;\n]*;", baseline, re.MULTILINE | re.DOTALL)
    if made is None:
        raise LookupError(f"{BASELINES[engine].name} has no CREATE TABLE IF NOT EXISTS {table}")
    if engine == "sqlite":
        indexes = re.findall(rf"^CREATE (?:UNIQUE )?INDEX IF NOT EXISTS \w+ ON {table} [^;]*;", baseline, re.MULTILINE)
    else:  # made through pg_temp.create_index('...') or ($$...$$): see the baseline
        quoted = re.findall(rf"create_index\(('|\$\$)(CREATE (?:UNIQUE )?INDEX \w+ ON {table} .*?)\1\);", baseline)
        indexes = [sql.replace("''", "'") if quote == "'" else sql for quote, sql in quoted]
    return [statement.replace(" IF NOT EXISTS", "", 1) for statement in (made[0], *indexes)]
