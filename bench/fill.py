"""Fill a fresh SQLite file (or PostgreSQL database) for each target with the same logical
data (see data.py).

The product is filled through its own code: each row is a command run by the module's
own handler (write rows and events in one transaction per chunk), and its read model is
then made by ``Projector.rebuild()``, exactly as an operator's rebuild would make it.
The baseline gets the same rows with plain ``executemany``; where the product's clock
stamped a row (an order's placed_at, a device's registered_at), it copies the product's
write rows instead. On PostgreSQL (the postgres phase) the product is filled the same way,
through its own handlers on its own engine; the baseline's rows go in with COPY; then both
databases are vacuumed and analyzed, so neither is planned without statistics.
"""

import itertools
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import data

CHUNK = 10_000  # commands per write transaction while filling
READINGS_PER_BATCH = 1_000  # the API's largest telemetry batch
BATCHES_PER_TRANSACTION = 100  # 100,000 readings per write transaction
BASELINE_SCHEMA = Path(__file__).resolve().parent / "baseline" / "schema.sql"


def _chunks(rows: Iterable, size: int) -> Iterator[list]:
    rows = iter(rows)
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


def product_app(path: str):
    """The product's app on ``path`` (created and migrated if new), quiet while filling."""
    from app import create_app

    return create_app({"DATABASE_PATH": path, "LOG_LEVEL": "WARNING"})


def product_app_postgresql(url: str):
    """The product's app on the PostgreSQL database at ``url`` (migrated if new), quiet while filling."""
    from app import create_app

    return create_app({"DATABASE_URL": url, "LOG_LEVEL": "WARNING"})


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


def run_commands(app, commands: Iterable, chunk: int = CHUNK) -> float:
    """Run each command through its module's handler, ``chunk`` commands per write transaction;
    the read model is left to ``rebuild_product``. Returns the seconds it took."""
    from app.bus import UnitOfWork
    from app.db import transaction

    handlers = app.extensions["bus"].handlers
    started = time.perf_counter()
    with app.app_context():
        for commands_of_chunk in _chunks(commands, chunk):
            with transaction("command") as tx:
                for command in commands_of_chunk:  # a unit of work each: one person's data per command
                    handlers[type(command)](UnitOfWork(tx, "bench-fill"), command)
    return time.perf_counter() - started


def fill_product(app, items: int = 0, employees: int = 0, users: int = 0, employees_start: int = 0) -> float:
    """Items, employees and users from data.py, one command per row."""
    return run_commands(app, _commands(items, employees, users, employees_start))


def fill_product_orders(app, users: int, items: int, orders: Iterable[data.Order]) -> float:
    """``users`` users and ``items`` items, then each order placed, and shipped or
    cancelled as its ``fate`` says."""
    from app.messages.orders import CancelOrder, PlaceOrder, ShipOrder

    def commands() -> Iterator:
        yield from _commands(items, 0, users, 0)
        for order in orders:
            yield PlaceOrder(order_id=order.id, user_id=order.user_id, lines=order.lines)
            if order.fate == "shipped":
                yield ShipOrder(order_id=order.id)
            elif order.fate == "cancelled":
                yield CancelOrder(order_id=order.id)

    return run_commands(app, commands())


def fill_product_devices(app, devices: list[data.Device]) -> float:
    """Each device registered, then its readings as telemetry arrives: batches of
    READINGS_PER_BATCH, one TelemetryRecorded event each."""
    from app.messages.devices import RecordTelemetry, RegisterDevice

    def commands() -> Iterator:
        for device in devices:
            yield RegisterDevice(device_id=device.id, name=device.name, kind=device.kind)
            for batch in _chunks(data.readings(device.readings), READINGS_PER_BATCH):
                yield RecordTelemetry(device_id=device.id, readings=batch)

    return run_commands(app, commands(), chunk=BATCHES_PER_TRANSACTION)


def rebuild_product(app, cpu: list | None = None) -> tuple[int, float]:
    """Replay the whole log into every projection, timed in-process: (events in the log, seconds).

    Speed is events in the log per second of rebuilding all projections, whatever
    ``rebuild()`` counts (it may count each event once per projection)."""
    projector = app.extensions["projector"]
    with app.app_context():
        events = _count_events(app)
        started, cpu_started = time.perf_counter(), time.process_time()
        projector.rebuild()
        if cpu is not None:  # this process's CPU seconds: on a shared machine, wall time includes waiting for a core
            cpu.append(time.process_time() - cpu_started)
        return events, time.perf_counter() - started


def _count_events(app) -> int:
    if app.config.get("DATABASE_URL"):
        from app.db import transaction

        with transaction("projector", read_only=True) as tx:
            return tx.scalar("SELECT count(*) FROM events")
    with sqlite3.connect(app.config["DATABASE_PATH"]) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


def close_product(app) -> None:
    from app.db import dispose

    with app.app_context():
        dispose()


@contextmanager
def _baseline(path: str, attach: str | None = None) -> Iterator[sqlite3.Connection]:
    """A fresh baseline file with its schema, written in one transaction; ``attach``: the
    product's file, attached as ``product`` to copy rows from."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.executescript(BASELINE_SCHEMA.read_text(encoding="utf-8"))
        if attach:
            conn.execute("ATTACH DATABASE ? AS product", (attach,))
        conn.execute("BEGIN")
        yield conn
        conn.execute("COMMIT")
        conn.execute("ANALYZE main")
    finally:
        conn.close()


def fill_baseline(path: str, items: int = 0, employees: int = 0, users: int = 0, employees_start: int = 0) -> float:
    """The same rows, written the plain way. Returns the seconds it took."""
    started = time.perf_counter()
    with _baseline(path) as conn:
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
    return time.perf_counter() - started


# What the baseline copies of the product's write tables for orders (the seeded item is in both).
_ORDER_TABLES = {
    "users": "id, first_name, last_name, email",
    "items": "id, name, description, price_cents",
    "orders": "id, user_id, status, placed_at, shipped_at, cancelled_at, cancellation_reason, version",
    "order_lines": "order_id, line_no, item_id, name, quantity, unit_price_cents",
}


def fill_baseline_orders(path: str, product_path: str) -> float:
    """Users, items, orders and their lines copied from the product's write tables: placed_at
    (and shipped_at, cancelled_at) are the product's clock when it ran each command."""
    started = time.perf_counter()
    with _baseline(path, attach=product_path) as conn:
        for table, columns in _ORDER_TABLES.items():
            conn.execute(f"INSERT OR IGNORE INTO {table} ({columns}) SELECT {columns} FROM product.{table}")
    return time.perf_counter() - started


def fill_baseline_devices(path: str, product_path: str, devices: list[data.Device]) -> float:
    """The devices copied from the product's write table (registered_at is its clock), and
    their readings from data.py, one row each."""
    started = time.perf_counter()
    with _baseline(path, attach=product_path) as conn:
        conn.execute(
            "INSERT INTO devices (id, name, kind, status, registered_at)"
            " SELECT id, name, kind, status, registered_at FROM product.devices"
        )
        for device in devices:
            conn.executemany(
                "INSERT INTO readings (device_id, metric, value, recorded_at) VALUES (?, ?, ?, ?)",
                ((device.id, *reading) for reading in data.readings(device.readings)),
            )
    return time.perf_counter() - started


# The samples' seed rows, as the product has them: the floor must answer what it answers.
_SEED_ID = "12a33c84-ee60-45a1-848d-428ad3259abc"
_SEED_ITEM = data.Item(_SEED_ID, "Bacon", "Everything tastes better, with bacon 🥓", None)
_SEED_EMPLOYEE = data.Employee(_SEED_ID, "John", "Doe", "1234 Main Street", "02112", "Boston")
_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _item_document(item: data.Item) -> str:
    document = {"id": item.id, "name": item.name, "description": item.description}
    if item.price_cents is not None:
        document["price"] = item.price_cents // 100 if item.price_cents % 100 == 0 else item.price_cents / 100
    return _compact(document)


def fill_floor(path: str, items: int = 0, employees: int = 0) -> float:
    """The floor's tables (floor.py): each item's document (at version 1, as created) and list
    row, each employee's list row, rendered here from the same rows. Returns the seconds it took."""
    from bench.floor import SCHEMA

    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.executescript(SCHEMA)
        conn.execute("BEGIN")
        for chunk in _chunks(itertools.chain([_SEED_ITEM], data.items(items)), CHUNK):
            conn.executemany(
                "INSERT INTO item_documents (id, version, document) VALUES (?, 1, ?)",
                ((i.id, _item_document(i)) for i in chunk),
            )
            conn.executemany(
                "INSERT INTO item_rows (name, id, row) VALUES (?, ?, ?)",
                ((i.name, i.id, _compact({"id": i.id, "name": i.name})) for i in chunk),
            )
        for chunk in _chunks(itertools.chain([_SEED_EMPLOYEE], data.employees(employees)), CHUNK):
            names = [f"{e.last_name}, {e.first_name}" for e in chunk]
            conn.executemany(
                "INSERT INTO employee_rows (name, id, row) VALUES (?, ?, ?)",
                ((name, e.id, _compact({"id": e.id, "name": name, "city": e.city})) for name, e in zip(names, chunk)),
            )
        conn.execute("COMMIT")
        conn.execute("ANALYZE main")
    finally:
        conn.close()
    return time.perf_counter() - started


BASELINE_SCHEMA_POSTGRESQL = BASELINE_SCHEMA.with_name("schema.postgresql.sql")


def fill_baseline_postgresql(url: str, items: int = 0, employees: int = 0, users: int = 0) -> float:
    """The same rows as ``fill_baseline``, into the PostgreSQL database at ``url`` (libpq's
    form) with COPY, then VACUUM ANALYZE. Returns the seconds it took."""
    import psycopg

    started = time.perf_counter()
    tables = {
        "items (id, name, description, price_cents)": (
            (i.id, i.name, i.description, i.price_cents) for i in data.items(items)
        ),
        "employees (id, first_name, last_name)": ((e.id, e.first_name, e.last_name) for e in data.employees(employees)),
        "addresses (id, street, zip, city)": ((e.id, e.street, e.zip, e.city) for e in data.employees(employees)),
        "users (id, first_name, last_name, email)": (
            (u.id, u.first_name, u.last_name, u.email) for u in data.users(users)
        ),
    }
    with psycopg.connect(url) as conn:
        conn.execute(BASELINE_SCHEMA_POSTGRESQL.read_text(encoding="utf-8"))
        for table, rows in tables.items():
            with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    vacuum_analyze(url)
    return time.perf_counter() - started


def vacuum_analyze(url: str) -> None:
    """VACUUM ANALYZE the database at ``url``: statistics for the planner, and the visibility
    map that index-only scans need, as autovacuum would make them some time after a fill."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
