"""The replica phase's measurements (issue 22): a command gunicorn on a PostgreSQL primary and
a query gunicorn on its streaming standby, as docs/scale-out.md deploys them.

1. Lag under a steady write load. Writer threads send ``POST /items`` to the command host
   at RATES (open loop: write i is due at i / rate, a late one goes at once, none after the
   run's seconds; or unpaced). A process of its own polls, about once a millisecond, the
   primary's head (the highest position in ``events``), then the standby's read model
   (``min(position)`` of ``projection_checkpoints``, as a query reads it), with plain
   psycopg connections. A write's lag runs from its acknowledgement to the end of the first
   poll that saw the standby at its ``Log-Position`` (0 when that poll ended before it), and
   at least to the end of the last poll that did not; "primary to standby" from the first
   poll that saw the position on the primary. Positions behind: the head minus the standby's
   position at every poll. ``replica_lag_seconds`` of the query host's /metrics is read once
   a second beside them.
2. Reads that wait. Right after each acknowledged POST its writer thread reads the new item
   from the query host on the standby: every other time with ``Min-Log-Position`` (which
   must answer 200, never 404), else without (a 404 is a stale read).
3. Reads per second. wrk ``GET /items/<id>`` against a query host on the standby and one on
   the primary, alternating in rounds, with the CPU each used per request.
"""

import bisect
import http.client
import itertools
import json
import multiprocessing
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench import fill, servers

# POST /items a second; None: unpaced, each writer sending its next write as soon as it has
# read the last, the most this machine sustains (a probe first, to cap fixed rates, varied
# threefold from one minute to the next beside other engineers' test runs)
RATES = (50, 100, None)
UNPACED = 100_000  # a rate no writer reaches
WRITER_THREADS = 16
POLL_PAUSE = 0.0005  # seconds between polls of the standby
STANDBY_POSITION = "SELECT count(*), coalesce(min(position), 0) FROM projection_checkpoints"
PRIMARY_HEAD = "SELECT coalesce(max(position), 0) FROM events"


# ---------------------------------------------------------------- hosts


def host(name: str, role: str, url_setting: dict, workers: int, work: Path) -> servers.Server:
    """The product under its gunicorn.conf.py in ``role``, with a metrics folder of its own."""
    env = {"APP_ROLE": role, "METRICS_DIR": str(work / f"{name}-metrics"), **url_setting}
    ready = "/healthz" if role == "command" else "/items?limit=1"
    config = ["--config", "gunicorn.conf.py"]
    return servers.start(name, "wsgi:app", servers.ROOT, env, workers, work, ready, config)


# ---------------------------------------------------------------- the standby, polled


def poll(primary: str, standby: str, projections: int, stop, out) -> None:
    """In a process of its own (a child, so the writers' threads do not delay it): ``watch`` the
    primary's head and the standby's position."""
    import psycopg

    with psycopg.connect(primary, autocommit=True) as head_conn, psycopg.connect(standby, autocommit=True) as conn:

        def standby_position() -> int:
            count, lowest = conn.execute(STANDBY_POSITION).fetchone()
            return lowest if count >= projections else 0

        watch(lambda: head_conn.execute(PRIMARY_HEAD).fetchone()[0], standby_position, stop, out)


def watch(head, position, stop, out) -> None:
    """Poll ``head()``, then ``position()``, until ``stop`` is set; then send to ``out`` each
    one's changes, as (end of the last poll before, end of the poll that saw it, position),
    and every poll's (end, head, position). Sends "ready" first."""
    out.send("ready")
    heads, changes, samples = [], [], []
    last_head, last_position, last_end = -1, -1, time.monotonic()
    while not stop.is_set():
        at_head = head()
        head_seen = time.monotonic()
        at = position()
        ended = time.monotonic()
        if at_head != last_head:
            heads.append((last_end, head_seen, at_head))
            last_head = at_head
        if at != last_position:
            changes.append((last_end, ended, at))
            last_position = at
        samples.append((ended, at_head, at))
        last_end = ended
        time.sleep(POLL_PAUSE)
    out.send({"heads": heads, "changes": changes, "samples": samples})


class Poller:
    """``poll`` in a spawned process for the length of a ``with`` block; ``result`` after it."""

    def __init__(self, primary: str, standby: str, projections: int, target=poll):
        context = multiprocessing.get_context("spawn")
        self.stop, (self.receiver, sender) = context.Event(), context.Pipe(duplex=False)
        self.process = context.Process(target=target, args=(primary, standby, projections, self.stop, sender))
        self.result: dict = {}

    def __enter__(self) -> "Poller":
        """Once the poller is connected: spawned, it imports and connects, which takes a
        second or more on a busy machine, and a write before its first poll would seem to lag."""
        self.process.start()
        if not self.receiver.poll(60) or self.receiver.recv() != "ready":
            self.process.kill()
            raise RuntimeError(f"the standby's poller did not start (exit code {self.process.exitcode})")
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        if self.receiver.poll(30):
            self.result = self.receiver.recv()
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
        if not self.result and exc[0] is None:
            raise RuntimeError(f"the standby's poller sent nothing (exit code {self.process.exitcode})")


# ---------------------------------------------------------------- the writers


def _request(conn: http.client.HTTPConnection, method: str, path: str, body=None, headers=None) -> tuple:
    """(status, headers, body) of one request on a kept-alive connection."""
    conn.request(method, path, body=body, headers=headers or {})
    reply = conn.getresponse()
    return reply.status, reply, reply.read()


def write_and_read(command: str, query: str, rate: float, seconds: float, threads: int) -> list[dict]:
    """``rate`` POST /items a second for ``seconds`` (none sent past them, however far behind),
    each followed by its read on ``query``, by ``threads`` writers that each take the next
    write due: one record per write (sent, acknowledged, its position; the read's status,
    latency and whether it sent Min-Log-Position)."""
    records: list[dict] = []
    start = time.monotonic() + 0.2
    end = start + seconds
    numbers, taking = itertools.count(), threading.Lock()

    def writer() -> None:
        post = http.client.HTTPConnection(command.removeprefix("http://"), timeout=60)
        get = http.client.HTTPConnection(query.removeprefix("http://"), timeout=60)
        while True:
            with taking:
                i = next(numbers)
            due = start + i / rate
            if due >= end or time.monotonic() > end:
                return
            time.sleep(max(0.0, due - time.monotonic()))
            records.append(_one_write(post, get, i, waits=i % 2 == 0))

    pool = [threading.Thread(target=writer) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sorted(records, key=lambda r: r["i"])


def _one_write(post, get, i: int, waits: bool) -> dict:
    # bytes: http.client sends a str body in a second segment, which Nagle's algorithm holds
    # for the server's delayed ACK (~40 ms on loopback)
    body = json.dumps({"name": f"Replica bench {i}", "description": "steady writes"}).encode()
    sent = time.monotonic()
    status, reply, raw = _request(post, "POST", "/items", body, {"Content-Type": "application/json"})
    acked = time.monotonic()
    record = {"i": i, "sent": sent, "acked": acked, "status": status, "waits": waits}
    if status != 201:
        return record
    record["position"] = int(reply.headers["Log-Position"])
    headers = {"Min-Log-Position": str(record["position"])} if waits else {}
    status, reply, _ = _request(get, "GET", f"/items/{json.loads(raw)['id']}", headers=headers)
    record["read_status"], record["read_ms"] = status, (time.monotonic() - acked) * 1000
    record["read_position"] = int(reply.headers.get("Log-Position", -1))
    return record


def replica_lag_metric(query: str, stop: threading.Event, out: list) -> None:
    """``replica_lag_seconds`` from the query host's /metrics once a second until ``stop``."""
    while not stop.wait(1):
        with servers.urllib.request.urlopen(query + "/metrics", timeout=30) as reply:
            for line in reply.read().decode().splitlines():
                if line.startswith("replica_lag_seconds "):
                    out.append(float(line.split()[1]))


# ---------------------------------------------------------------- figures


def _pct(values: list[float], share: float) -> float | None:
    """The value at ``share`` (0.5, 0.99) of the sorted values, nearest rank; None if there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def _spread(values: list[float], digits: int = 2) -> dict:
    figures = {"n": len(values)}
    for name, share in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
        value = _pct(values, share)
        figures[name] = None if value is None else round(value, digits)
    return figures


def lags_ms(records: list[dict], changes: list[tuple], since: Callable[[dict], float | None]) -> tuple[list, list]:
    """Each acknowledged write's lag in ms from ``since(record)``, bracketed by the polls: at
    least until the end of the last poll that did not see the standby's read model at its
    position, at most until the end of the first that did (0 where a bound falls before it)."""
    positions = [position for _, _, position in changes]
    least, most = [], []
    for record in records:
        at = bisect.bisect_left(positions, record.get("position", 0))
        start = since(record) if "position" in record else None
        if start is not None and at < len(changes):  # one never seen is counted by the caller
            before, seen, _ = changes[at]
            least.append(max(0.0, (before - start) * 1000))
            most.append(max(0.0, (seen - start) * 1000))
    return least, most


def first_seen(changes: list[tuple]) -> Callable[[dict], float | None]:
    """When a poll of the primary first saw a record's position (the end of that poll)."""
    positions = [position for _, _, position in changes]

    def seen(record: dict) -> float | None:
        at = bisect.bisect_left(positions, record["position"])
        return changes[at][1] if at < len(changes) else None

    return seen


def _asked(rate: float | None) -> str:
    return "unpaced" if rate is None else f"{rate:.0f}"


def summarize_run(rate: float | None, seconds: float, records: list[dict], polled: dict, metric: list[float]) -> dict:
    """One rate's figures: the writes, the lag in ms and positions, the reads."""
    acked = [r for r in records if "position" in r]
    least, lags = lags_ms(records, polled["changes"], lambda record: record["acked"])
    replication = lags_ms(records, polled["changes"], first_seen(polled["heads"]))[1]
    first, last = min(r["sent"] for r in records), max(r["acked"] for r in records)
    ends = [t for t, _, _ in polled["samples"] if first <= t <= last]
    span = last - first
    late = [r["sent"] - (records[0]["sent"] + r["i"] / rate) for r in records] if rate else []
    waited = [r for r in acked if r["waits"]]
    plain = [r for r in acked if not r["waits"]]
    return {
        "rate": rate,
        "seconds": seconds,
        "writes": len(records),
        "acknowledged": len(acked),
        "failed_writes": len(records) - len(acked),
        "achieved_rate": round(len(acked) / span, 1),
        "post_ms": _spread([(r["acked"] - r["sent"]) * 1000 for r in records]),
        "behind_schedule_ms": _spread([max(0.0, x) * 1000 for x in late]),
        "lag_ms": _spread(lags),  # at most this long
        "lag_at_least_ms": _spread(least),
        "lag_unseen": len(acked) - len(lags),
        "lag_zero": sum(1 for lag in lags if lag == 0),
        "replication_lag_ms": _spread(replication),
        "positions_behind": _spread([head - at for t, head, at in polled["samples"] if first <= t <= last], 0),
        "poll_interval_ms": _spread([(b - a) * 1000 for a, b in zip(ends, ends[1:])]),
        "replica_lag_seconds_metric": _spread(metric, 4),
        "read_with_header": _reads(waited),
        "read_without_header": _reads(plain),
    }


def _reads(records: list[dict]) -> dict:
    """Latency and answers of the reads that followed writes: stale is a 404 (the item not there yet)."""
    statuses: dict[str, int] = {}
    for r in records:
        statuses[str(r["read_status"])] = statuses.get(str(r["read_status"]), 0) + 1
    behind = sum(1 for r in records if r["read_status"] == 200 and r["read_position"] < r["position"])
    return {
        "latency_ms": _spread([r["read_ms"] for r in records]),
        "statuses": statuses,
        "stale": statuses.get("404", 0),
        "answered_behind_position": behind,
    }


# ---------------------------------------------------------------- reads per second


def read_rounds(
    targets: dict[str, servers.Server], pids: dict[str, int], paths: Path, size, load: dict, wrk: Callable, log
) -> dict:
    """``GET /items/<id>`` by wrk on each target in turn, ``size.rounds`` times, the first of
    a round alternating; each run with the CPU µs a request of the target's workers and of
    its database server (``pids``)."""
    runs: dict[str, list[dict]] = {name: [] for name in targets}
    for name, target in targets.items():
        if size.warmup:
            wrk(target.url + "/", "paths.lua", str(paths), size.warmup, **load)
            target.wait_idle()
    for round_no in range(1, size.rounds + 1):
        order = list(targets) if round_no % 2 else list(reversed(targets))  # neither always runs first
        for name in order:
            target = targets[name]
            before = target.cpu_seconds(), servers.tree_cpu(pids[name])
            figures = wrk(target.url + "/", "paths.lua", str(paths), size.duration, **load)
            after = target.cpu_seconds(), servers.tree_cpu(pids[name])
            figures["idle_wait_s"] = target.wait_idle()
            figures["cpu_us_per_request"] = _cpu(before, after, figures["requests"])
            runs[name].append(figures)
            log(
                f"round {round_no} GET /items/<id> on the {name:<7} {figures['rps']:8.0f} req/s"
                f"  p50 {figures['p50_us'] / 1000:6.2f} ms  p99 {figures['p99_us'] / 1000:6.2f} ms"
                + (f"  ERRORS {figures['errors']}" if figures["errors"] else "")
            )
    return runs


def _cpu(before: tuple, after: tuple, requests: int) -> dict | None:
    """µs of CPU a request: workers, database; None if a database process went meanwhile,
    taking its CPU time with it (one that came is counted whole)."""
    if not before[1][1] <= after[1][1] or not requests:
        return None
    return {
        "workers": round((after[0] - before[0]) * 1e6 / requests),
        "database": round((after[1][0] - before[1][0]) * 1e6 / requests),
    }


def summarize_reads(runs: dict[str, list[dict]]) -> dict:
    """Medians over the rounds per target, and the standby's req/s over the primary's."""
    out = {}
    for name, figures in runs.items():
        cpu = [f["cpu_us_per_request"] for f in figures if f.get("cpu_us_per_request")]
        out[name] = {
            "rps": round(statistics.median(f["rps"] for f in figures), 1),
            "p50_ms": round(statistics.median(f["p50_us"] for f in figures) / 1000, 2),
            "p99_ms": round(statistics.median(f["p99_us"] for f in figures) / 1000, 2),
            "errors": sum(f["errors"] for f in figures),
            "rounds_rps": [round(f["rps"], 1) for f in figures],
            "cpu_us_per_request": {k: statistics.median(c[k] for c in cpu) for k in ("workers", "database")}
            if cpu
            else None,
        }
    out["standby_over_primary"] = round(out["standby"]["rps"] / out["primary"]["rps"], 3)
    return out


def table(figures: dict) -> str:
    """The phase's figures as markdown lines (printed by bench/run.py)."""
    lines = [
        "| writes/s asked (achieved) | lag after the ack p50 / p99 ms, at most (at least) | positions behind p50 / p99 | read with Min-Log-Position"
        " p50 / p99 ms (stale) | read without p50 / p99 ms (stale) | primary to standby p50 / p99 ms"
        " | replica_lag_seconds p99 | poll interval p99 / max ms |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for run in figures["lag"]:
        w, p = run["read_with_header"], run["read_without_header"]
        lines.append(
            f"| {_asked(run['rate'])} ({run['achieved_rate']:.0f}) | {run['lag_ms']['p50']} / {run['lag_ms']['p99']}"
            f" ({run['lag_at_least_ms']['p50']} / {run['lag_at_least_ms']['p99']})"
            f" | {run['positions_behind']['p50']:.0f} / {run['positions_behind']['p99']:.0f}"
            f" | {w['latency_ms']['p50']} / {w['latency_ms']['p99']} ({w['stale']} of {w['latency_ms']['n']})"
            f" | {p['latency_ms']['p50']} / {p['latency_ms']['p99']} ({p['stale']} of {p['latency_ms']['n']})"
            f" | {run['replication_lag_ms']['p50']} / {run['replication_lag_ms']['p99']}"
            f" | {run['replica_lag_seconds_metric']['p99']}"
            f" | {run['poll_interval_ms']['p99']} / {run['poll_interval_ms']['max']} |"
        )
    reads = figures["reads"]
    lines.append("")
    lines.append(
        f"GET /items/<id>, one query host each: standby {reads['standby']['rps']:,.0f} req/s"
        f" (p50 {reads['standby']['p50_ms']} ms), primary {reads['primary']['rps']:,.0f} req/s"
        f" (p50 {reads['primary']['p50_ms']} ms): {reads['standby_over_primary']:.2f}×"
    )
    return "\n".join(lines)


# ---------------------------------------------------------------- the phase


def measure(
    cluster, database: str, projections: int, paths: Path, size, work: Path, load: dict, workers: int, wrk, log
) -> dict:
    """The three measurements on ``database`` (filled, and replayed by the standby), with a
    command host and a query host on the standby, and a query host on the primary for reads/s;
    ``paths``: a file of ``/items/<id>`` of the items filled, for wrk."""
    primary, standby = cluster.primary_url(database), cluster.replica_url(database)
    hosts = {
        "command": host("command", "command", {"DATABASE_URL": primary}, workers, work),
        "standby": host("query-standby", "query", {"QUERY_DATABASE_URL": standby}, workers, work),
        "primary": host("query-primary", "query", {"QUERY_DATABASE_URL": primary}, workers, work),
    }
    try:
        for server in hosts.values():
            server.wait_until_serving()
        libpq = {name: url.replace("+psycopg", "") for name, url in (("primary", primary), ("standby", standby))}
        figures = {"lag": []}
        for rate in RATES:
            figures["lag"].append(lag_run(hosts, libpq, projections, rate, max(3 * size.duration, 5), log))
            cluster.wait_replayed()
        reads = {name: hosts[name] for name in ("standby", "primary")}
        fill.vacuum_analyze(libpq["primary"])  # the writes' rows, before autovacuum comes to them mid-round
        cluster.wait_replayed()
        pids = {"standby": _postmaster(cluster.replica), "primary": _postmaster(cluster.primary)}
        runs = read_rounds(reads, pids, paths, size, load, wrk, log)
        figures["reads"] = summarize_reads(runs)
        figures["read_runs"] = runs
    finally:
        for server in hosts.values():
            server.terminate()
        for server in hosts.values():
            server.stop()
    return figures


def _postmaster(server) -> int:
    return int((server.folder / "data" / "postmaster.pid").read_text().split()[0])


def lag_run(hosts: dict, libpq: dict, projections: int, rate: float | None, seconds: float, log) -> dict:
    """One steady write load at ``rate`` (None: unpaced) for ``seconds``, the standby polled all along."""
    stop, metric = threading.Event(), []
    scraper = threading.Thread(target=replica_lag_metric, args=(hosts["standby"].url, stop, metric))
    with Poller(libpq["primary"], libpq["standby"], projections) as poller:
        scraper.start()
        records = write_and_read(hosts["command"].url, hosts["standby"].url, rate or UNPACED, seconds, WRITER_THREADS)
        time.sleep(1)  # the last writes reach the standby
        stop.set()
        scraper.join()
    run = summarize_run(rate, seconds, records, poller.result, metric)
    log(
        f"{_asked(rate)} writes/s asked, {run['achieved_rate']:.0f} done: lag p50 {run['lag_ms']['p50']} ms"
        f" p99 {run['lag_ms']['p99']} ms; behind p50 {run['positions_behind']['p50']} p99"
        f" {run['positions_behind']['p99']} positions; stale reads with the header"
        f" {run['read_with_header']['stale']}, without {run['read_without_header']['stale']}"
    )
    return run
