"""The follower phase's measurements (issue 26): seed 003's query service with a database of
its own (``APP_ROLE=query``, ``FOLLOW_URL``), following a command service's event feed, each
on its own database under the product's gunicorn.conf.py, as the README runs them: SQLite
files, or two databases of one PostgreSQL server.

1. Catch-up. The source's database is filled through the product's own commands and rebuilt;
   then a follower starts on an empty one. Its read model's position (``min(position)`` of
   ``projection_checkpoints``, as a query reads it) is polled with a plain sqlite3 (psycopg)
   connection until it reaches the source's head: events per second from the follower's
   launch, and over the span from its first page applied to its last; the CPU the
   follower's processes and the source's used meanwhile; then /projections must say lag 0
   at the source's head.
2. Lag under steady writes, as the replica phase measures a standby's (bench/replica.py's
   writers, reads and figures): writers send ``POST /items`` to the source at RATES; a
   process of its own polls the source's head (``max(position)`` of ``events``) and the
   follower's position from their databases; each write's lag runs from its acknowledgement to
   the first poll that saw the follower at its ``Log-Position``. Right after each write its
   writer reads the item from the follower, every other time with ``Min-Log-Position``.
3. Applied once. After the writes, the follower's feed (``event_history_view``) and item list
   hold as many rows as the source's log and item list, and no position twice.
"""

import operator
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import replica, servers

RATES = replica.RATES  # 50, 100 a second, then unpaced
WRITER_THREADS = replica.WRITER_THREADS
SOURCE_HEAD = "SELECT coalesce(max(position), 0) FROM events"
CATCH_UP_LIMIT = 900  # seconds: a follower that has not caught up by then has stalled
FIRST_SECONDS = 1.0  # the writes after these are the steady state (the long poll woken from idle)
SETTLE_LIMIT = 60  # seconds after the last write for the follower to reach it
# Each read table's (rows, highest position) on the follower, and what the source holds to
# match: the follower's feed against the source's log, its items against the source's items.
SAME_ROWS = {
    "event_history_view": (
        "SELECT count(*), coalesce(max(position), 0) FROM events",
        "SELECT count(*), coalesce(max(position), 0) FROM event_history_view",
    ),
    "item_list_view": ("SELECT count(*), 0 FROM item_list_view", "SELECT count(*), 0 FROM item_list_view"),
}


# ---------------------------------------------------------------- hosts and databases


def host(name: str, role: str, database: str, workers: int, work: Path, **env: str) -> servers.Server:
    """The product under its gunicorn.conf.py in ``role`` on ``database`` (an SQLite file or a PostgreSQL URL)."""
    setting = {"DATABASE_URL": database} if servers.is_url(database) else {"DATABASE_PATH": database}
    env = {"APP_ROLE": role, **setting, "METRICS_DIR": str(work / f"{name}-metrics"), **env}
    config = ["--config", "gunicorn.conf.py"]
    return servers.start(name, "wsgi:app", servers.ROOT, env, workers, work, "/healthz", config)


def connect(database: str):
    """A plain connection in autocommit (each statement reads what is committed now):
    sqlite3, read-only, on a file; psycopg on a PostgreSQL URL."""
    if servers.is_url(database):
        import psycopg

        return psycopg.connect(database.replace("+psycopg", ""), autocommit=True)
    return sqlite3.connect(f"file:{database}?mode=ro", uri=True, isolation_level=None, timeout=30)


@contextmanager
def reader(database: str) -> Iterator:
    """``connect``, closed after."""
    conn = connect(database)
    try:
        yield conn
    finally:
        conn.close()


def reader_once_migrated(database: str):
    """``connect`` once the database's migrations have made its checkpoints' table, else None."""
    if not servers.is_url(database) and not Path(database).exists():
        return None
    conn = connect(database)
    try:
        conn.execute("SELECT 1 FROM projection_checkpoints LIMIT 1").fetchone()
    except Exception as error:  # sqlite3's OperationalError, psycopg's UndefinedTable
        conn.close()
        if "projection_checkpoints" not in str(error):
            raise
        return None
    return conn


def position(conn, projections: int) -> int:
    """How far the read model is, as a query reads it (0 until every projection has a checkpoint)."""
    count, lowest = conn.execute(replica.STANDBY_POSITION).fetchone()
    return lowest if count >= projections else 0


# ---------------------------------------------------------------- catch-up


def catch_up(hosts: dict, databases: dict, projections: int, workers: int, work: Path, pids: dict, log) -> dict:
    """Start a follower of the source on an empty database (into ``hosts`` and ``pids``) and
    time it to the source's head: its figures."""
    cpu = cpu_of(pids)  # first: a connection of the harness's own is then no backend of it
    with reader(databases["source"]) as conn:
        head = conn.execute(SOURCE_HEAD).fetchone()[0]
    launched = time.monotonic()
    name = hosts["source"].name.replace("source", "follower")
    follower = host(name, "query", databases["follower"], workers, work, FOLLOW_URL=hosts["source"].url)
    hosts["follower"] = follower
    pids["follower"], cpu["follower"] = follower.process.pid, (0.0, frozenset())
    timeline, reached, at_first_page, conn = [], 0, None, None
    try:
        while reached < head:
            if follower.process.poll() is not None:
                raise RuntimeError(f"the follower exited:\n{follower.log.read_text()[-3000:]}")
            if time.monotonic() - launched > CATCH_UP_LIMIT:
                raise RuntimeError(f"the follower stalled at position {reached} of {head}")
            conn = conn or reader_once_migrated(databases["follower"])
            now = position(conn, projections) if conn else 0
            if now != reached:
                timeline.append((round(time.monotonic() - launched, 4), now))
                reached = now
                at_first_page = at_first_page or servers.tree_cpu(follower.process.pid)[0]
            time.sleep(0.01)
        done = time.monotonic() - launched
        used = cpu_used(cpu, cpu_of(pids))
        follower.wait_until_serving()
        status = servers.get_json(follower.url + "/projections")[0]
    except BaseException:
        follower.stop()
        raise
    finally:
        if conn:
            conn.close()
    first_at, first = timeline[0]
    figures = {
        "events": head,
        "seconds": round(done, 3),
        "events_per_second": round(head / done, 1),
        "first_page_at_s": first_at,
        "first_page_position": first,
        "applying_seconds": round(done - first_at, 3),
        "events_per_second_applying": round((head - first) / (done - first_at), 1) if done > first_at else None,
        "cpu_s": used,  # each one's processes; the follower's master and workers, booting included
        "follower_cpu_applying_s": round(used["follower"] - at_first_page, 2),  # after its first page
        "timeline": timeline,
        "projections": status,
        "caught_up": all(p["lag"] == 0 and p["head"] == head and p["checkpoint"] == head for p in status),
    }
    log(
        f"follower caught up with {head:,} events in {done:.1f}s ({figures['events_per_second']:,.0f} events/s;"
        f" first page at {first_at:.1f}s, then {figures['events_per_second_applying']:,.0f} events/s);"
        f" CPU s {used} ({figures['follower_cpu_applying_s']}s the follower's after its first page);"
        f" /projections lag 0 at the head: {figures['caught_up']}"
    )
    return figures


# ---------------------------------------------------------------- the follower, polled


def poll(source: str, follower: str, projections: int, stop, out) -> None:
    """replica.watch on the two databases: the source's head, then the follower's position."""
    with reader(source) as head_conn, reader(follower) as conn:
        replica.watch(
            lambda: head_conn.execute(SOURCE_HEAD).fetchone()[0], lambda: position(conn, projections), stop, out
        )


def follower_poller(source: str, follower: str, projections: int) -> replica.Poller:
    """``poll`` in a spawned process for the length of a ``with`` block."""
    return replica.Poller(source, follower, projections, target=poll)


def lag_run(
    hosts: dict, databases: dict, projections: int, pids: dict, rate: float | None, seconds: float, log
) -> dict:
    """One steady write load at ``rate`` (None: unpaced) for ``seconds``, the follower polled all along."""
    cpu = cpu_of(pids)
    with follower_poller(databases["source"], databases["follower"], projections) as poller:
        records = replica.write_and_read(
            hosts["source"].url, hosts["follower"].url, rate or replica.UNPACED, seconds, WRITER_THREADS
        )
        last = max((r["position"] for r in records if "position" in r), default=0)
        settled = settle(databases["follower"], projections, last)
    run = replica.summarize_run(rate, seconds, records, poller.result, [])
    run.pop("replica_lag_seconds_metric")
    run["source_to_follower_ms"] = run.pop("replication_lag_ms")
    run.update(_from_idle(records, poller.result["changes"]))
    run["settled_after_last_write_s"] = settled
    used = cpu_used(cpu, cpu_of(pids))
    run["cpu_ms_per_write"] = {n: round(1000 * s / run["acknowledged"], 2) for n, s in used.items() if s is not None}
    log(
        f"{replica._asked(rate)} writes/s asked, {run['achieved_rate']:.0f} done: lag p50 {run['lag_ms']['p50']} ms"
        f" p99 {run['lag_ms']['p99']} ms; behind p50 {run['positions_behind']['p50']} p99"
        f" {run['positions_behind']['p99']} positions; stale reads with the header"
        f" {run['read_with_header']['stale']} ({run['read_with_header']['statuses']}),"
        f" without {run['read_without_header']['stale']}"
    )
    return run


def _from_idle(records: list[dict], changes: list[tuple]) -> dict:
    """The run's first write, which finds the follower's long poll idle (on SQLite the feed's
    wait polls the log 20 ms after it starts, then twice as long each time up to 1 s), and
    the lag of the writes acknowledged after the run's first FIRST_SECONDS (the steady state)."""
    acked = [r for r in records if "position" in r]
    if not acked:
        return {}
    since = operator.itemgetter("acked")
    first = replica.lags_ms(acked[:1], changes, since)[1]
    steady = [r for r in acked if r["acked"] >= acked[0]["acked"] + FIRST_SECONDS]
    return {
        "first_write_lag_ms": round(first[0], 2) if first else None,
        "lag_after_first_second_ms": replica._spread(replica.lags_ms(steady, changes, since)[1]),
    }


def settle(database: str, projections: int, last: int) -> float | None:
    """Seconds until the follower reaches ``last`` (None if it does not within SETTLE_LIMIT)."""
    started = time.monotonic()
    with reader(database) as conn:
        while position(conn, projections) < last:
            if time.monotonic() - started > SETTLE_LIMIT:
                return None
            time.sleep(0.01)
    time.sleep(0.2)  # the poller sees it too
    return round(time.monotonic() - started, 3)


def cpu_of(pids: dict) -> dict:
    """servers.tree_cpu of each named process: a gunicorn master, a PostgreSQL server."""
    return {name: servers.tree_cpu(pid) for name, pid in pids.items()}


def cpu_used(before: dict, after: dict) -> dict:
    """CPU seconds each used between two ``cpu_of``; None for one whose processes went meanwhile
    (taking their CPU time with them; one that came is counted whole)."""
    return {n: round(after[n][0] - before[n][0], 3) if before[n][1] <= after[n][1] else None for n in before}


# ---------------------------------------------------------------- applied once


def same_rows(databases: dict) -> dict:
    """Each read table's (rows, highest position) on the follower beside the source's;
    ``same`` if they agree (the follower applied every event, once: the tables' keys refuse a
    second copy, so an event applied twice would stop the follower instead)."""
    out = {}
    with reader(databases["source"]) as source, reader(databases["follower"]) as follower:
        for table, (on_source, on_follower) in SAME_ROWS.items():
            out[table] = {
                "source": list(source.execute(on_source).fetchone()),
                "follower": list(follower.execute(on_follower).fetchone()),
            }
    out["same"] = all(v["source"] == v["follower"] for v in out.values())
    return out


# ---------------------------------------------------------------- figures


def table(figures: dict) -> str:
    """The phase's figures on one engine as markdown lines (printed by bench/run.py)."""
    c = figures["catch_up"]
    lines = [
        f"Catch-up from an empty database: {c['events']:,} events in {c['seconds']:.1f} s,"
        f" {c['events_per_second']:,.0f} events/s from launch ({c['events_per_second_applying']:,.0f}/s"
        f" from the first page at {c['first_page_at_s']:.1f} s); CPU s: {c['cpu_s']}"
        f" ({c['follower_cpu_applying_s']} s the follower's after its first page);"
        f" /projections lag 0 at the head: {c['caught_up']}",
        "",
        "| writes/s asked (achieved) | POST p50 / p99 ms | lag after the ack p50 / p99 (max) ms, at most (at least)"
        " | after the first second p50 / p99 (max) ms | first write ms"
        " | source to follower p50 / p99 ms | positions behind p50 / p99 (max)"
        " | read with Min-Log-Position p50 / p99 ms (stale, statuses) | read without p50 / p99 ms (stale)"
        " | poll interval p99 / max ms | CPU ms a write |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for run in figures["lag"]:
        w, p, lag, least = run["read_with_header"], run["read_without_header"], run["lag_ms"], run["lag_at_least_ms"]
        steady = run.get("lag_after_first_second_ms", {})
        lines.append(
            f"| {replica._asked(run['rate'])} ({run['achieved_rate']:.0f})"
            f" | {run['post_ms']['p50']} / {run['post_ms']['p99']}"
            f" | {lag['p50']} / {lag['p99']} ({lag['max']}), ({least['p50']} / {least['p99']})"
            f" | {steady.get('p50')} / {steady.get('p99')} ({steady.get('max')}) | {run.get('first_write_lag_ms')}"
            f" | {run['source_to_follower_ms']['p50']} / {run['source_to_follower_ms']['p99']}"
            f" | {run['positions_behind']['p50']:.0f} / {run['positions_behind']['p99']:.0f}"
            f" ({run['positions_behind']['max']:.0f})"
            f" | {w['latency_ms']['p50']} / {w['latency_ms']['p99']} ({w['stale']} of {w['latency_ms']['n']},"
            f" {w['statuses']})"
            f" | {p['latency_ms']['p50']} / {p['latency_ms']['p99']} ({p['stale']} of {p['latency_ms']['n']})"
            f" | {run['poll_interval_ms']['p99']} / {run['poll_interval_ms']['max']}"
            f" | {run['cpu_ms_per_write']} |"
        )
    lines += ["", f"Applied once (rows, highest position): {figures['same_rows']}"]
    return "\n".join(lines)


def tables(result: dict) -> str:
    """Each engine's ``table``, or why it was skipped."""
    out = []
    for engine, figures in result.items():
        out.append(f"On {engine}: " + (figures["skipped"] if "skipped" in figures else "\n" + table(figures)))
    return "\n\n".join(out)


# ---------------------------------------------------------------- the phase


def measure(
    engine: str, databases: dict, projections: int, seconds: float, work: Path, workers: int, log, server_pid=None
) -> dict:
    """The three measurements, with a command host on ``databases["source"]`` (filled and
    rebuilt) and a follower started on ``databases["follower"]`` (empty), each ``seconds`` of
    writes; ``server_pid``: the PostgreSQL server's, whose CPU is counted beside theirs."""
    hosts = {"source": host(f"{engine}-source", "command", databases["source"], workers, work)}
    pids = {"source": hosts["source"].process.pid, **({"database": server_pid} if server_pid else {})}
    try:
        hosts["source"].wait_until_serving()
        figures = {"catch_up": catch_up(hosts, databases, projections, workers, work, pids, log), "lag": []}
        for rate in RATES:
            figures["lag"].append(lag_run(hosts, databases, projections, pids, rate, seconds, log))
        figures["same_rows"] = same_rows(databases)
        log(f"applied once: {figures['same_rows']['same']} ({figures['same_rows']})")
    finally:
        for server in hosts.values():
            server.terminate()
        for server in hosts.values():
            server.stop()
    return figures
