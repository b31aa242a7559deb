"""What the writers' advisory lock costs on PostgreSQL: a pgbench-like loop of the product's
append, with the lock and without it, on the same server.

Each of N threads holds its own connection as the command role and runs, as fast as it can,
the transaction a command opens and closes: ``BEGIN`` and the writers' lock in one round trip
(as app/engines/postgresql.py's ``begin`` sends them), the event log's INSERT ... RETURNING
(app/eventlog.py's statement, through the engine's own translation), and COMMIT. Without the
lock the BEGIN goes alone. The product never runs without the lock: it is what keeps
positions committing in order, so this loop is the only place the "without" exists.
"""

import json
import threading
import time

import psycopg

from app.engines.postgresql import NAMESPACE, WRITERS, _pyformat, role_name
from app.eventlog import _APPEND
from app.ids import new_id
from app.times import utc_now

BEGIN = {True: f"BEGIN; SELECT pg_advisory_xact_lock({NAMESPACE}, {WRITERS})", False: "BEGIN"}
APPEND = _pyformat(_APPEND)


def _event() -> dict:
    """An ItemCreated as a POST /items appends it: a new stream at version 1."""
    item = {"name": "Bench lock item", "description": "Appended by bench/append_lock.py", "price_cents": 1250}
    return {
        "event_id": new_id(),
        "stream_type": "item",
        "stream_id": new_id(),
        "version": 1,
        "type": "ItemCreated",
        "schema_version": 1,
        "payload": json.dumps(item, separators=(",", ":")),
        "occurred_at": utc_now(),
        "correlation_id": "bench-append-lock",
        "causation_id": None,
    }


def _writer(url: str, lock: bool, start: threading.Barrier, stop: threading.Event, counts: list, slot: int) -> None:
    with psycopg.connect(url, autocommit=True, application_name="bench-append-lock") as conn:
        conn.execute(f"SET ROLE {role_name('command')}")
        begin, done = BEGIN[lock], 0
        start.wait()
        while not stop.is_set():
            conn.execute(begin)
            conn.execute(APPEND, _event()).fetchone()
            conn.execute("COMMIT")
            done += 1
        counts[slot] = done


def run(url: str, threads: int, seconds: float, lock: bool) -> dict:
    """``threads`` writers for ``seconds`` against the migrated database at ``url`` (libpq's
    form): transactions committed per second."""
    counts = [0] * threads
    start, stop = threading.Barrier(threads + 1), threading.Event()
    workers = [
        threading.Thread(target=_writer, args=(url, lock, start, stop, counts, n), daemon=True) for n in range(threads)
    ]
    for worker in workers:
        worker.start()
    start.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    return {"threads": threads, "lock": lock, "commits": sum(counts), "seconds": elapsed, "tps": sum(counts) / elapsed}
