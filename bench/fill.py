"""Fill a fresh SQLite file for each target with the same logical data (see data.py).

The product is filled through its own code: each row is a command run by the module's
own handler (write rows and events in one transaction per chunk), and its read model is
then made by ``Projector.rebuild()``, exactly as an operator's rebuild would make it.
The baseline gets the same rows with plain ``executemany``.
"""

import itertools
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from bench import data

CHUNK = 10_000  # commands per write transaction while filling
BASELINE_SCHEMA = Path(__file__).resolve().parent / "baseline" / "schema.sql"


def _chunks(rows: Iterable, size: int) -> Iterator[list]:
    rows = iter(rows)
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


def product_app(path: str):
    """The product's app on ``path`` (created and migrated if new), quiet while filling."""
    from app import create_app

    return create_app({"DATABASE_PATH": path, "LOG_LEVEL": "WARNING"})


def _commands(items: int, employees: int, users: int, employees_start: int) -> Iterator:
    from app.messages.employees import HireEmployee
    from app.messages.items import CreateItem
    from app.messages.users import RegisterUser

    for i in data.items(items):
        yield CreateItem(item_id=i.id, name=i.name, description=i.description, price_cents=i.price_cents)
    for e in data.employees(employees, start=employees_start):
        yield HireEmployee(
            employee_id=e.id, first_name=e.first_name, last_name=e.last_name, street=e.street, zip=e.zip, city=e.city
        )
    for u in data.users(users):
        yield RegisterUser(user_id=u.id, first_name=u.first_name, last_name=u.last_name, email=u.email)


def fill_product(app, items: int = 0, employees: int = 0, users: int = 0, employees_start: int = 0) -> float:
    """Run one command per row through the module handlers, CHUNK commands per transaction;
    the read model is left to ``rebuild_product``. Returns the seconds it took."""
    from app.bus import UnitOfWork
    from app.db import transaction

    handlers = app.extensions["bus"].handlers
    started = time.perf_counter()
    with app.app_context():
        for chunk in _chunks(_commands(items, employees, users, employees_start), CHUNK):
            with transaction("command") as tx:
                uow = UnitOfWork(tx, "bench-fill")
                for command in chunk:
                    handlers[type(command)](uow, command)
    return time.perf_counter() - started


def rebuild_product(app, cpu: list | None = None) -> tuple[int, float]:
    """Replay the whole log into every projection, timed in-process: (events in the log, seconds).

    Speed is events in the log per second of rebuilding all projections, whatever
    ``rebuild()`` counts (it may count each event once per projection)."""
    projector = app.extensions["projector"]
    with sqlite3.connect(app.config["DATABASE_PATH"]) as conn:
        (events,) = conn.execute("SELECT count(*) FROM events").fetchone()
    with app.app_context():
        started, cpu_started = time.perf_counter(), time.process_time()
        projector.rebuild()
        if cpu is not None:  # this process's CPU seconds: on a shared machine, wall time includes waiting for a core
            cpu.append(time.process_time() - cpu_started)
        return events, time.perf_counter() - started


def close_product(app) -> None:
    from app.db import db

    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


def fill_baseline(path: str, items: int = 0, employees: int = 0, users: int = 0, employees_start: int = 0) -> float:
    """The same rows, written the plain way. Returns the seconds it took."""
    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.executescript(BASELINE_SCHEMA.read_text(encoding="utf-8"))
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO items (id, name, description, price_cents) VALUES (?, ?, ?, ?)",
            ((i.id, i.name, i.description, i.price_cents) for i in data.items(items)),
        )
        for chunk in _chunks(data.employees(employees, start=employees_start), CHUNK):
            conn.executemany(
                "INSERT INTO employees (id, first_name, last_name) VALUES (?, ?, ?)",
                ((e.id, e.first_name, e.last_name) for e in chunk),
            )
            conn.executemany(
                "INSERT INTO addresses (id, street, zip, city) VALUES (?, ?, ?, ?)",
                ((e.id, e.street, e.zip, e.city) for e in chunk),
            )
        conn.executemany(
            "INSERT INTO users (id, first_name, last_name, email) VALUES (?, ?, ?, ?)",
            ((u.id, u.first_name, u.last_name, u.email) for u in data.users(users)),
        )
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()
    return time.perf_counter() - started
