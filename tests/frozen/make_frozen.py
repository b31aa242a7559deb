"""Make a frozen set: a new database that this checkout's code fills through its HTTP API,
as clients would, until its log holds every event type of every module; then the files
that freeze it (see README.md beside this file).

    .venv/bin/python -m tests.frozen.make_frozen tests/frozen/<date> [--postgresql]

Run it from the root of a checkout of the code to freeze: it imports that checkout's ``app``.
``--postgresql`` also writes database.postgresql.sql, the same database on PostgreSQL.
"""

import argparse
import os
import shutil
import sqlite3
import subprocess
import tempfile
from contextlib import closing
from pathlib import Path

from app import create_app, eventlog
from app.db import dispose
from tests.engines import plain_connection
from tests.frozen.frozen_set import (
    read_events,
    read_model,
    read_read_model,
    stored_events,
    write_events,
    write_read_model,
)
from tests.postgres_server import BIN, running

BACON_ID = "12a33c84-ee60-45a1-848d-428ad3259abc"  # seed 000's item; seed 001's employee has the same id


def call(client, method: str, path: str, status: int, body=None, headers=None) -> dict | None:
    """One request that must answer ``status``; its JSON body, if any."""
    response = client.open(path, method=method, json=body, headers=headers or {})
    assert response.status_code == status, (method, path, response.status_code, response.get_data(as_text=True))
    return response.get_json(silent=True)


def fill_items(client) -> dict[str, str]:
    """Items created, updated (the seed too) and kept for orders; their ids by nickname."""
    creme = call(client, "POST", "/items", 201, {"name": "Crème brûlée", "description": "Caramélisée", "price": 4.5})
    dime, key = {"name": "Dime candy", "description": "", "price": 0.1}, {"Idempotency-Key": "frozen-dime"}
    dime_id = call(client, "POST", "/items", 201, dime, key)["id"]
    # The retry is answered from the stored response: no second item, and a row in idempotency_keys.
    assert call(client, "POST", "/items", 201, dime, key)["id"] == dime_id
    spare = call(client, "POST", "/items", 201, {"name": "Spare part", "description": "No price yet"})
    renamed = {"name": "Crème brûlée maison", "description": "Caramélisée à la minute", "price": 5.25}
    call(client, "PUT", f"/items/{creme['id']}", 200, renamed, {"If-Match": '"1"'})
    call(client, "PUT", f"/items/{BACON_ID}", 200, {"name": "Bacon", "description": "Smoked", "price": 3.99})
    return {"creme": creme["id"], "dime": dime_id, "spare": spare["id"], "bacon": BACON_ID}


def fill_employees(client) -> None:
    """Employees hired, one moved, one gone."""

    def employee(first: str, last: str, street: str, zip_code: str, city: str) -> dict:
        return {"firstName": first, "lastName": last, "address": {"street": street, "zip": zip_code, "city": city}}

    zoe = call(client, "POST", "/employees", 201, employee("Zoë", "Ångström", "Rue du Rhône 1", "1204", "Genève"))
    jose = call(client, "POST", "/employees", 201, employee("José", "Núñez", "Rua Augusta 5", "01305-000", "São Paulo"))
    moved = employee("Zoë", "Ångström", "Bahnhofstrasse 3", "8001", "Zürich")
    call(client, "PUT", f"/employees/{zoe['id']}", 200, moved)
    call(client, "DELETE", f"/employees/{jose['id']}", 204)


def fill_orders(client, items: dict[str, str]) -> None:
    """Two customers' orders: shipped, cancelled (with and without a reason), left placed; then
    one customer renamed, and the other deleted, which cancels her placed order (the compensation)."""

    def user(first: str, last: str, email: str) -> dict:
        return {"first_name": first, "last_name": last, "email": email}

    grace = call(client, "POST", "/users", 201, user("Grace", "Hopper", "grace@example.com"))
    amelie = call(client, "POST", "/users", 201, user("Amélie", "Poulain", "Amelie@Example.fr"))

    def order(user: dict, *lines: tuple[str, int]) -> str:
        body = {"user_id": user["id"], "lines": [{"item_id": items[name], "quantity": q} for name, q in lines]}
        return call(client, "POST", "/orders", 201, body)["id"]

    shipped = order(grace, ("dime", 2), ("dime", 1), ("creme", 1), ("bacon", 1))
    call(client, "POST", f"/orders/{shipped}/ship", 200, None, {"If-Match": '"1"'})
    call(client, "POST", f"/orders/{order(grace, ('creme', 2))}/cancel", 200, {"reason": "Trop cher, désolée"})
    call(client, "POST", f"/orders/{order(grace, ('bacon', 3))}/cancel", 200)
    order(grace, ("spare", 1))  # stays placed
    call(client, "POST", f"/orders/{order(amelie, ('spare', 4))}/ship", 200)
    left_placed = order(amelie, ("dime", 10), ("bacon", 1))
    call(client, "DELETE", f"/items/{items['spare']}", 204)  # the orders keep their snapshot of it
    call(client, "PUT", f"/users/{grace['id']}", 200, user("Grace Brewster", "Hopper", "grace@navy.mil"))
    call(client, "DELETE", f"/users/{amelie['id']}", 204)
    cancelled = call(client, "GET", f"/orders/{left_placed}", 200)
    assert (cancelled["status"], cancelled["cancellation_reason"]) == ("cancelled", "user deleted"), cancelled


def fill_devices(client) -> None:
    """Three devices, readings in batches (out of order, equal times, any timezone, one
    reading alone, one without a time), and one device decommissioned."""
    boiler = call(client, "POST", "/devices", 201, {"name": "Chaudière n°1", "kind": "sensor"})["id"]
    meter = call(client, "POST", "/devices", 201, {"name": "Compteur toit", "kind": "meter"})["id"]
    gateway = call(client, "POST", "/devices", 201, {"name": "Passerelle Ouest", "kind": "gateway"})["id"]

    def reading(metric: str, value: float, recorded_at: str) -> dict:
        return {"metric": metric, "value": value, "recorded_at": recorded_at}

    def record(device: str, body: dict) -> None:
        call(client, "POST", f"/devices/{device}/telemetry", 202, body)

    record(boiler, reading("temperature", 21.5, "2026-12-05T08:00:00Z"))
    record(boiler, {"readings": [
        reading("temperature", 22.25, "2026-12-05T09:00:00+01:00"),  # the same time as the one before
        reading("humidity", 0.45, "2026-12-05T07:30:00Z"),
        reading("temperature", -3, "2026-12-05T06:00:00.123456Z"),
    ]})  # fmt: skip
    record(meter, {"readings": [
        reading("power.kw", 3.2, "2026-12-05T08:00:00Z"),
        reading("power.kw", 2.9, "2026-12-05T07:00:00Z"),
        reading("energy_kwh", 1234.5678, "2026-12-05T08:00:00Z"),
    ]})  # fmt: skip
    record(gateway, {"readings": [{"metric": "uptime", "value": 1e-7}]})  # recorded at its arrival
    call(client, "POST", f"/devices/{meter}/decommission", 200, None, {"If-Match": '"2"'})


def check_log(events: list[dict]) -> None:
    """Every registered event type is in the log, and the compensation is the one the process
    manager made: "user deleted", caused by the UserDeleted event."""
    missing = set(eventlog.registered_types()) - {event["type"] for event in events}
    assert not missing, f"the log has no {', '.join(sorted(missing))}"
    deleted = {e["event_id"] for e in events if e["type"] == "UserDeleted"}
    compensations = [e for e in events if e["type"] == "OrderCancelled" and e["causation_id"] in deleted]
    assert len(compensations) == 1 and '"user deleted"' in compensations[0]["payload"], compensations
    assert any(not event["payload"].isascii() for event in events)


def fill(database_path: str) -> None:
    """A new database at ``database_path``, filled through the API, its read model caught up."""
    app = create_app({"DATABASE_PATH": database_path, "LOG_LEVEL": "WARNING"})
    client = app.test_client()
    items = fill_items(client)
    fill_employees(client)
    fill_orders(client, items)
    fill_devices(client)
    with app.app_context():
        app.extensions["projector"].catch_up(force=True)
        failing = [s for s in app.extensions["projector"].status() if s["last_error"]]
        assert not failing, failing
        dispose()


def freeze(database_path: str, out: Path) -> None:
    """database.sqlite3, events.jsonl and read_model.json in ``out``, all from one closed file."""
    target = out / "database.sqlite3"
    with closing(sqlite3.connect(database_path, isolation_level=None)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM INTO ?", (str(target),))
    with closing(sqlite3.connect(target, isolation_level=None)) as conn:
        # A rollback journal, not WAL: opening the file (even read-only) then leaves nothing beside it.
        conn.execute("PRAGMA journal_mode = DELETE")
        events = stored_events(conn)
        check_log(events)
        write_events(out, events)
        write_read_model(out, read_model(conn))
    assert not [path for path in out.iterdir() if path.name.startswith("database.sqlite3-")]


def freeze_on_postgresql(out: Path) -> None:
    """database.postgresql.sql: the frozen SQLite file moved to a new PostgreSQL database by this
    code's own copy (migrated by its migrations.postgresql.sql; the write tables, the log, the read
    tables and the checkpoints as they are), checked against the frozen files and dumped as plain SQL."""
    with running() as server:
        server.create_database("frozen")
        config = {"DATABASE_URL": server.url("frozen"), "DATABASE_PATH": "/nonexistent/unused.db"}
        copy_into(config, out / "database.sqlite3")
        check_against(config, out)
        dsn = f"host=127.0.0.1 port={server.port} user=postgres dbname=frozen"
        dump = [BIN / "pg_dump", "--no-owner", "--no-privileges", "--schema=public"]
        subprocess.run([*dump, "--file", out / "database.postgresql.sql", dsn], check=True)


def copy_into(config: dict, source: Path) -> None:
    """``flask database copy-to-postgresql``: every table as in ``source``, verified row by row.
    No start follows, which would move the process managers' checkpoint: both files hold the same rows."""
    copier = create_app({**config, "LOG_LEVEL": "WARNING"}, start=False)
    copied = copier.test_cli_runner().invoke(args=["database", "copy-to-postgresql", "--from", str(source)])
    assert copied.exit_code == 0, copied.output


def check_against(config: dict, out: Path) -> None:
    """The database of ``config`` holds the frozen log and the frozen read model."""
    with closing(plain_connection(config)) as conn:
        assert stored_events(conn) == read_events(out)
        assert read_model(conn) == read_read_model(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the new frozen set's folder, named by the date of the code")
    parser.add_argument("--postgresql", action="store_true", help="also write database.postgresql.sql")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="frozen-")
    try:
        database_path = os.path.join(scratch, "cqrs.db")
        fill(database_path)
        freeze(database_path, args.out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if args.postgresql:
        freeze_on_postgresql(args.out)


if __name__ == "__main__":
    main()
