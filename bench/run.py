"""`make bench`: the product against a bare-Flask ceiling and a plain CRUD baseline (issue 11).

Each phase fills a fresh SQLite file per target with the same logical data (the postgres
phase: a database per target on one throwaway PostgreSQL 15 server), starts the
three targets under gunicorn with the same flags, checks that product and baseline answer
the same JSON, then runs every scenario in rounds that alternate between the targets
(product, ceiling, baseline, product, ...). Each figure is the median of the rounds.
Prints one table, and writes bench/results/<date>.json and a PNG chart beside it.

    python -m bench.run            # the full run (100k and 1M rows)
    python -m bench.run --quick    # a smaller run, under 2 minutes
    python -m bench.run --quick --only orders    # one phase (rows, deep, orders, devices, postgres, replica, follower, personal)

Adding a scenario: add a ``Scenario`` to a phase (``phase_*``) and its verdict to
report.py; a scenario whose module does not exist yet is listed in ``PENDING`` and shows
in the table as "module not built yet".
"""

import argparse
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

from bench import append_lock, data, fill, follower, replica, report, servers

BENCH = Path(__file__).resolve().parent
LUA = BENCH / "lua"
RESULTS = BENCH / "results"
# In the order each round runs them; a scenario runs on those of its ``paths`` that the phase started.
# floor: the least the contract's reads can cost (floor.py); quiet: the product without its
# access line and metrics (quiet.py), for what they cost a request.
TARGETS = ("product", "ceiling", "baseline", "floor", "quiet")
MIN_REQUESTS = 10  # fewer in a wrk run, and the figures come from sequential requests instead


@dataclass(frozen=True)
class Size:
    rows: int  # items, employees and users in phase 1
    deep_rows: int  # employees in phase 2
    deep_page: int  # the page reached by cursor (product) or OFFSET (baseline)
    rebuild_small: int  # employees filled before the first timed rebuild
    order_users: int  # users in phase 3
    orders: int  # orders in phase 3, spread over those users
    readings: int  # readings of the busier device in phase 4
    duration: float  # seconds per wrk run
    warmup: float  # seconds of unmeasured load per target before the rounds
    rounds: int


FULL = Size(
    rows=100_000,
    deep_rows=1_000_000,
    deep_page=1_000,
    rebuild_small=100_000,
    order_users=10_000,
    orders=100_000,
    readings=1_000_000,
    duration=10,
    warmup=2,
    rounds=3,
)
QUICK = Size(
    rows=5_000,
    deep_rows=15_000,
    deep_page=100,
    rebuild_small=5_000,
    order_users=500,
    orders=2_000,
    readings=20_000,
    duration=1,
    warmup=0,
    rounds=1,  # QUICK checks the harness: one round, or it would not fit in 2 minutes
)
ORDER_ITEMS = 1_000  # the items that orders' lines are drawn from


@dataclass
class Scenario:
    key: str
    title: str
    data: str
    target: str  # the target, as text
    script: str  # a Lua script in bench/lua
    paths: dict[str, str] = field(default_factory=dict)  # target -> path (or a file of paths, see paths.lua)
    runs: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def posts(self) -> bool:
        """Whether its requests are commands, which are never re-sent one by one (see ``sequential``)."""
        return self.script.startswith("post_")


# Scenarios from the issue that this harness does not run yet, as (title, data, target, module):
# shown in the table all the same, as "module not built yet" until app/commands/<module>.py exists.
PENDING: list[tuple[str, str, str, str]] = []


class PhaseSkipped(Exception):
    """A phase cannot run on this machine (what it needs, in the message); the others still run."""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------- load


def wrk(url: str, script: str, paths_file: str | None, duration: float, threads: int, connections: int) -> dict:
    """One wrk run; its figures as report.lua prints them, plus requests/s."""
    env = {
        **os.environ,
        "BENCH_LUA": str(LUA),
        "BENCH_PATHS": paths_file or "",
        "BENCH_BATCH": str(report.READINGS_PER_POST),
    }
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--timeout", "60s"]
    argv += ["-s", str(LUA / script), url]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration + 120, check=True)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures:\n{done.stdout}\n{done.stderr}")
    figures = json.loads(line.removeprefix("BENCH_JSON "))
    seconds = figures["duration_us"] / 1e6
    figures["rps"] = figures["requests"] / seconds
    answers = ("status_errors", "other_status_errors")  # requests answered, but not with a 2xx
    figures["ok_rps"] = (figures["requests"] - sum(figures[k] for k in answers)) / seconds
    figures["errors"] = sum(figures[k] for k in ("connect_errors", "read_errors", "write_errors", *answers))
    return figures


def sequential(url: str, paths_file: str | None, count: int = 3) -> dict:
    """Figures from ``count`` requests one after another: for a target so slow that wrk
    completed almost nothing in its run (the baseline's deep OFFSET at 1M rows), and beside
    every wrk run of a scenario in a p50 ratio (see report._p50_ratio)."""
    if paths_file:
        url += Path(paths_file).read_text().split()[0]
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        servers.get_json(url)
        latencies.append((time.perf_counter() - started) * 1e6)
    latencies.sort()
    return {
        "requests": count,
        "duration_us": sum(latencies),
        "rps": count / (sum(latencies) / 1e6),
        "p50_us": statistics.median(latencies),
        "p99_us": latencies[-1],
        "errors": 0,
        "sequential": True,
    }


def _split(path: str) -> tuple[str, str | None]:
    """A scenario path is either a URL path, or ``@file`` naming a file of paths for paths.lua."""
    return ("/", path[1:]) if path.startswith("@") else (path, None)


def _script(scenario: Scenario, paths_file: str | None) -> str:
    return "get.lua" if scenario.script == "paths.lua" and paths_file is None else scenario.script


def run_phase(
    scenarios: list[Scenario],
    targets: dict[str, servers.Server],
    size: Size,
    load: dict,
    database_pid: int | None = None,
) -> None:
    """Warm up, then the rounds: per scenario, product, ceiling, baseline (and floor and quiet
    where the phase runs them) in turn; RSS after each round. Each run records the CPU its
    target's workers used per request, and with ``database_pid`` (the database server's
    process, when it is one of its own) the database's."""
    if size.warmup:
        for scenario in scenarios:
            for name in _targets_of(scenario, targets):
                path, paths_file = _split(scenario.paths[name])
                wrk(targets[name].url + path, _script(scenario, paths_file), paths_file, size.warmup, **load)
                targets[name].wait_idle()
    for round_no in range(1, size.rounds + 1):
        for scenario in scenarios:
            for name in _targets_of(scenario, targets):
                path, paths_file = _split(scenario.paths[name])
                before = _cpu(targets[name], database_pid)
                figures = wrk(
                    targets[name].url + path, _script(scenario, paths_file), paths_file, size.duration, **load
                )
                figures["idle_wait_s"] = targets[name].wait_idle()
                figures["cpu_us_per_request"] = _cpu_per_request(before, _cpu(targets[name], database_pid), figures)
                if figures["requests"] < MIN_REQUESTS and not scenario.posts:
                    figures = {**sequential(targets[name].url + path, paths_file), "wrk": figures}
                elif scenario.key in report.P50_PAIRED:  # so that its ratio can compare like with like
                    figures["one_by_one"] = sequential(targets[name].url + path, paths_file)
                scenario.runs.setdefault(name, []).append(figures)
                log(
                    f"round {round_no} {scenario.key:<16} {name:<8} {figures['rps']:8.0f} req/s"
                    f"  p50 {figures['p50_us'] / 1000:7.2f} ms  p99 {figures['p99_us'] / 1000:7.2f} ms"
                    + (f"  ERRORS {figures['errors']}" if figures["errors"] else "")
                )
        for server in targets.values():
            server.record_rss()


def _targets_of(scenario: Scenario, targets: dict[str, servers.Server]) -> list[str]:
    return [name for name in TARGETS if name in scenario.paths and name in targets]


def _cpu(target: servers.Server, database_pid: int | None) -> tuple:
    """CPU seconds so far of the target's workers and of the database server (when it is a
    process of its own), with their pids."""
    workers = target.worker_pids()
    database = servers.tree_cpu(database_pid) if database_pid is not None else (0.0, frozenset())
    return target.cpu_seconds(), frozenset(workers), *database


def _cpu_per_request(before: tuple, after: tuple, figures: dict) -> dict | None:
    """µs of CPU per request of the workers and of the database over one run; None when a
    process went meanwhile, taking its CPU time with it (gunicorn recycles a worker every
    ~10,000 requests, and its backends go with it). One that came is counted whole."""
    if not (before[1] <= after[1] and before[3] <= after[3]) or not figures["requests"]:
        return None
    used = {"workers": after[0] - before[0], "database": after[2] - before[2]}
    return {name: round(seconds * 1e6 / figures["requests"]) for name, seconds in used.items()}


# ---------------------------------------------------------------- checks


def same_answers(
    targets: dict[str, servers.Server], pairs: list[tuple[str, str]], headers: tuple = (), other: str = "baseline"
) -> None:
    """Product and baseline (or ``other``) must answer the same JSON (and ``headers``), or the
    comparison means nothing."""
    for product_path, other_path in pairs:
        mine, my_headers = servers.get_json(targets["product"].url + product_path)
        theirs, their_headers = servers.get_json(targets[other].url + other_path)
        if mine != theirs or any(my_headers.get(h) != their_headers.get(h) for h in headers):
            raise RuntimeError(f"product {product_path} and {other} {other_path} answer differently")


def accepts_telemetry(targets: dict[str, servers.Server], path: str) -> None:
    """Product and baseline must accept a batch whole, as the same 202, or the scenario
    would measure refusals."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    batch = [{"metric": "temperature", "value": n / 4, "recorded_at": now} for n in range(report.READINGS_PER_POST)]
    for name in ("product", "baseline"):
        answer = servers.post_json(targets[name].url + path, {"readings": batch})
        if answer != (202, {"accepted": report.READINGS_PER_POST}):
            raise RuntimeError(f"{name} did not accept a telemetry batch: {answer}")


def cursor_path(server: servers.Server, first: str, page: int) -> str:
    """The product's URL of page ``page``, reached by following its Link headers from page 1."""
    path = first
    for _ in range(page - 1):
        _, headers = servers.get_json(server.url + path)
        link = headers["Link"]
        path = link[link.index("<") + 1 : link.index(">")].removeprefix(server.url)
    return path


# ---------------------------------------------------------------- phases


def _label(n: int) -> str:
    """A row count as the table shows it: 1M, 100k, 5k, 1."""
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k" if n >= 1000 else str(n)


def _rows_scenarios(n: int, ids: Path, engine: str = "") -> list[Scenario]:
    """The rows phase's four scenarios; ``engine`` "PostgreSQL" makes the postgres phase's
    (keys prefixed ``pg_``, the issue's targets there: lists ≥ 1.0× the baseline). On SQLite
    the reads also run on the floor and on the quiet product."""
    label, prefix = _label(n), "pg_" if engine else ""
    title = (lambda t: f"{engine}: {t}") if engine else (lambda t: t)
    scenarios = [
        Scenario(
            f"{prefix}item_by_id",
            title("GET /items/<id>"),
            f"{label} items",
            "≥ 1.0× baseline, ≥ 0.5× ceiling" if engine else "≥ 1.0× baseline, ≥ 0.85× floor",
            "paths.lua",
            {"product": f"@{ids}", "ceiling": "/items/x", "baseline": f"@{ids}"},
        ),
        Scenario(
            f"{prefix}items_page",
            title("GET /items (first page of 100)"),
            f"{label} items",
            "≥ 1.0× baseline" if engine else "≥ 1.3× baseline, ≥ 0.85× floor",
            "get.lua",
            {"product": "/items", "ceiling": "/items", "baseline": "/items"},
        ),
        Scenario(
            f"{prefix}employees_page",
            title("GET /employees (first page)"),
            f"{label} employees",
            "≥ 1.0× baseline" if engine else "≥ 2× baseline, ≥ 0.85× floor",
            "get.lua",
            {"product": "/employees", "ceiling": "/employees", "baseline": "/employees"},
        ),
        Scenario(
            f"{prefix}post_item",
            title("POST /items"),
            f"{label} items",
            "≥ 0.5× baseline" if engine else "≥ 0.5× baseline, p99 ≤ 3× baseline's",
            "post_item.lua",
            {"product": "/", "ceiling": "/", "baseline": "/"},
        ),
    ]
    if not engine:
        for scenario in scenarios[:3]:
            scenario.paths["floor"] = scenario.paths["quiet"] = scenario.paths["product"]
    return scenarios


def _rows_samples() -> list[tuple[str, str]]:
    """The GETs that product and baseline must answer alike before the rows scenarios run."""
    first_id = next(data.items(1)).id
    return [(path, path) for path in (f"/items/{first_id}", "/items", "/employees", "/users")]


def phase_rows(size: Size, work: Path, load: dict, workers: int, result: dict) -> list[Scenario]:
    """100k items, employees and users: reads by id and first pages, and POST /items."""
    product_db, baseline_db = str(work / "product-rows.db"), str(work / "baseline-rows.db")
    floor_db = str(work / "floor-rows.db")
    n = size.rows
    log(f"phase 1: filling {n:,} items, employees and users")
    app = fill.product_app(product_db)
    seconds = fill.fill_product(app, items=n, employees=n, users=n)
    events, rebuilt = fill.rebuild_product(app)
    fill.close_product(app)
    result["fill"]["product_rows"] = {
        "commands": 3 * n,
        "seconds": seconds,
        "rebuild_events": events,
        "rebuild_seconds": rebuilt,
    }
    result["fill"]["baseline_rows"] = {"seconds": fill.fill_baseline(baseline_db, items=n, employees=n, users=n)}
    result["fill"]["floor_rows"] = {"seconds": fill.fill_floor(floor_db, items=n, employees=n)}
    log(f"product filled in {seconds:.1f}s ({3 * n / seconds:,.0f} commands/s), read model rebuilt in {rebuilt:.1f}s")

    ids = work / "item-ids.txt"
    ids.write_text("".join(f"/items/{item.id}\n" for item in data.items(n)))
    scenarios = _rows_scenarios(n, ids)
    targets = _start_all(product_db, baseline_db, workers, work, floor_db=floor_db)
    try:
        same_answers(targets, _rows_samples())
        floor_samples = [path for path, _ in _rows_samples() if not path.startswith("/users")]
        same_answers(targets, [(path, path) for path in floor_samples], headers=("ETag", "Link"), other="floor")
        same_answers(targets, [(path, path) for path in floor_samples], headers=("ETag", "Link"), other="quiet")
        run_phase(scenarios, targets, size, load)
        result["rss"]["rows"] = {name: server.rss_rounds for name, server in targets.items()}
    finally:
        _stop_all(targets)
    result["in_process"] = in_process(product_db, floor_db, ids, size, work)
    return scenarios


def in_process(product_db: str, floor_db: str, ids: Path, size: Size, work: Path) -> dict:
    """CPU µs per request of the reads' WSGI callables, called in a loop (bench/inprocess.py,
    a process of its own): the product with its access line and metrics and without, the
    floor and the ceiling, in alternating rounds (the least of the rounds; see inprocess.py)."""
    requests, rounds = (300, 15) if size.duration < 5 else (500, 40)
    log(f"in-process: {rounds} rounds of {requests:,} requests per target and read")
    argv = [sys.executable, "-m", "bench.inprocess", "--product", product_db, "--floor", floor_db, "--ids", str(ids)]
    argv += ["--requests", str(requests), "--rounds", str(rounds), "--log", str(work / "in-process-access.log")]
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    done = subprocess.run(argv, cwd=BENCH.parent, env=env, capture_output=True, text=True, check=True, timeout=1800)
    figures = json.loads(done.stdout)
    for scenario, measured in figures.items():
        log(
            f"in-process {scenario:<16} "
            + "  ".join(f"{name} {measured[name]:.1f}" for name in ("product", "quiet", "floor", "ceiling"))
            + " µs a request"
        )
    return figures


def timed_rebuilds(app, rounds: int) -> dict:
    """Rebuild the whole read model ``rounds`` times: the median wall and CPU seconds, and every run's."""
    runs = []
    for _ in range(rounds):
        cpu: list[float] = []
        events, secs = fill.rebuild_product(app, cpu)
        runs.append((secs, cpu[0]))
        log(f"rebuild of {events:,} events: {secs:.1f}s ({cpu[0]:.1f}s of CPU)")
    secs, used = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
    return {
        "events": events,
        "seconds": secs,
        "events_per_s": events / secs,
        "cpu_seconds": used,
        "events_per_cpu_s": events / used,
        "runs": [{"seconds": wall, "cpu_seconds": cpu_s} for wall, cpu_s in runs],
    }


def phase_deep(size: Size, work: Path, load: dict, workers: int, result: dict) -> list[Scenario]:
    """1M employees: the first page against a deep page; and rebuild speed at two sizes."""
    product_db, baseline_db = str(work / "product-deep.db"), str(work / "baseline-deep.db")
    small, total = size.rebuild_small, size.deep_rows
    log(f"phase 2: filling {small:,} employees, timing a rebuild")
    app = fill.product_app(product_db)
    seconds = fill.fill_product(app, employees=small)
    rebuilds = [timed_rebuilds(app, size.rounds)]
    log(f"filling up to {total:,} employees")
    seconds += fill.fill_product(app, employees=total - small, employees_start=small)
    rebuilds.append(timed_rebuilds(app, size.rounds))
    fill.close_product(app)
    result["fill"]["product_deep"] = {"commands": total, "seconds": seconds}
    result["fill"]["baseline_deep"] = {"seconds": fill.fill_baseline(baseline_db, employees=total)}
    result["rebuild"] = rebuilds

    label = _label(total)
    offset = f"/employees?limit=100&offset={(size.deep_page - 1) * 100}"
    targets = _start_all(product_db, baseline_db, workers, work)
    try:
        deep = cursor_path(targets["product"], "/employees?limit=100", size.deep_page)
        same_answers(targets, [("/employees?limit=100", "/employees?limit=100"), (deep, offset)])
        (work / "deep.txt").write_text(deep + "\n")
        scenarios = [
            Scenario(
                "deep_page_1",
                "GET /employees page 1",
                f"{label} employees",
                "(reference for page N)",
                "get.lua",
                {"product": "/employees?limit=100", "ceiling": "/employees", "baseline": "/employees?limit=100"},
            ),
            Scenario(
                "deep_page_n",
                f"GET /employees page {size.deep_page:,} (cursor; baseline OFFSET)",
                f"{label} employees",
                "p50 ratio to page 1 ≤ 1.2",
                "paths.lua",
                {"product": f"@{work / 'deep.txt'}", "ceiling": "/employees", "baseline": offset},
            ),
        ]
        run_phase(scenarios, targets, size, load)
        result["rss"]["deep"] = {name: server.rss_rounds for name, server in targets.items()}
    finally:
        _stop_all(targets)
    return scenarios


def phase_orders(size: Size, work: Path, load: dict, workers: int, result: dict) -> list[Scenario]:
    """Users with orders: a user's order history and one order, read models against joins at query time."""
    product_db, baseline_db = str(work / "product-orders.db"), str(work / "baseline-orders.db")
    users = list(data.users(size.order_users))
    items = list(data.items(ORDER_ITEMS))
    orders = list(data.orders(size.orders, [u.id for u in users], [i.id for i in items]))
    log(f"phase 3: filling {len(users):,} users and {len(orders):,} orders")
    app = fill.product_app(product_db)
    seconds = fill.fill_product_orders(app, users=len(users), items=len(items), orders=orders)
    events, rebuilt = fill.rebuild_product(app)
    fill.close_product(app)
    result["fill"]["product_orders"] = {"events": events, "seconds": seconds, "rebuild_seconds": rebuilt}
    result["fill"]["baseline_orders"] = {"seconds": fill.fill_baseline_orders(baseline_db, product_db)}
    log(f"product filled in {seconds:.1f}s ({events:,} events), read model rebuilt in {rebuilt:.1f}s")

    histories, singles = work / "user-orders.txt", work / "order-ids.txt"
    histories.write_text("".join(f"/users/{u.id}/orders\n" for u in users))
    singles.write_text("".join(f"/orders/{o.id}\n" for o in orders))
    label = f"{_label(len(users))} users, {_label(len(orders))} orders"
    scenarios = [
        Scenario(
            "user_orders",
            "GET /users/<id>/orders",
            label,
            "≥ 1.5× baseline",
            "paths.lua",
            {"product": f"@{histories}", "ceiling": "/users/x/orders", "baseline": f"@{histories}"},
        ),
        Scenario(
            "order_by_id",
            "GET /orders/<id>",
            label,
            "≥ 1.5× baseline",
            "paths.lua",
            {"product": f"@{singles}", "ceiling": "/orders/x", "baseline": f"@{singles}"},
        ),
    ]
    targets = _start_all(product_db, baseline_db, workers, work)
    try:
        samples = [f"/users/{o.user_id}/orders" for o in orders[:3]]
        for fate in ("placed", "shipped", "cancelled"):  # every shape of the reply
            samples.append(f"/orders/{next(o for o in orders if o.fate == fate).id}")
        same_answers(targets, [(path, path) for path in samples], headers=("ETag",))
        run_phase(scenarios, targets, size, load)
        result["rss"]["orders"] = {name: server.rss_rounds for name, server in targets.items()}
    finally:
        _stop_all(targets)
    return scenarios


def phase_devices(size: Size, work: Path, load: dict, workers: int, result: dict) -> list[Scenario]:
    """A device with 1 reading against one with a million: statistics kept as readings arrive
    against statistics worked out at query time; and telemetry batches posted."""
    product_db, baseline_db = str(work / "product-devices.db"), str(work / "baseline-devices.db")
    devices = data.devices(size.readings)
    few, many, fed = devices
    log(f"phase 4: filling a device with {few.readings} reading and one with {many.readings:,}")
    app = fill.product_app(product_db)
    seconds = fill.fill_product_devices(app, devices)
    events, rebuilt = fill.rebuild_product(app)
    fill.close_product(app)
    result["fill"]["product_devices"] = {
        "readings": few.readings + many.readings,
        "events": events,
        "seconds": seconds,
        "rebuild_seconds": rebuilt,
    }
    result["fill"]["baseline_devices"] = {"seconds": fill.fill_baseline_devices(baseline_db, product_db, devices)}
    log(f"product filled in {seconds:.1f}s ({events:,} events), read model rebuilt in {rebuilt:.1f}s")

    label = f"{_label(many.readings)} readings"
    telemetry = f"/devices/{fed.id}/telemetry"
    scenarios = [
        Scenario(
            "device_few",
            "GET /devices/<id>, 1 reading",
            "1 reading",
            "(reference for many readings)",
            "get.lua",
            {"product": f"/devices/{few.id}", "ceiling": "/devices/x", "baseline": f"/devices/{few.id}"},
        ),
        Scenario(
            "device_many",
            f"GET /devices/<id>, {label}",
            label,
            "p50 ratio to 1 reading ≤ 1.2",
            "get.lua",
            {"product": f"/devices/{many.id}", "ceiling": "/devices/x", "baseline": f"/devices/{many.id}"},
        ),
        Scenario(
            "post_telemetry",
            f"POST /devices/<id>/telemetry ({report.READINGS_PER_POST} readings a request)",
            f"batches of {report.READINGS_PER_POST}",
            f"≥ {report.TELEMETRY_TARGET:,} readings/s",
            "post_telemetry.lua",
            {"product": telemetry, "ceiling": "/", "baseline": telemetry},
        ),
    ]
    targets = _start_all(product_db, baseline_db, workers, work)
    try:
        same_answers(targets, [(f"/devices/{d.id}", f"/devices/{d.id}") for d in (few, many)])
        accepts_telemetry(targets, telemetry)
        run_phase(scenarios, targets, size, load)
        result["rss"]["devices"] = {name: server.rss_rounds for name, server in targets.items()}
    finally:
        _stop_all(targets)
    return scenarios


def phase_postgres(size: Size, work: Path, load: dict, workers: int, result: dict) -> list[Scenario]:
    """The rows phase on PostgreSQL 15: a throwaway server (tests/postgres_server.py) holding
    the product's database and the baseline's (baseline/postgresql.py), the same rows and
    scenarios; then the writers' advisory lock timed against no lock (append_lock.py)."""
    try:
        from tests import postgres_server  # the tests' helper (it imports pytest, a dev requirement)
    except ImportError as error:
        raise PhaseSkipped(f"the tests' PostgreSQL helper cannot be imported ({error}): make .venv/.dev") from None
    if not (postgres_server.BIN / "initdb").exists():
        raise PhaseSkipped(f"PostgreSQL 15 is not installed (no {postgres_server.BIN / 'initdb'})")
    n = size.rows
    with postgres_server.running() as server:
        for name in ("product", "baseline", "append_lock"):
            server.create_database(name)
        urls = {name: server.url(name) for name in ("product", "baseline", "append_lock")}
        libpq = {name: url.replace("+psycopg", "") for name, url in urls.items()}
        with server.connect() as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        result["postgresql"] = {"version": version, "settings": postgres_server.SETTINGS}
        log(f"phase postgres: PostgreSQL {version}, filling {n:,} items, employees and users")
        app = fill.product_app_postgresql(urls["product"])
        seconds = fill.fill_product(app, items=n, employees=n, users=n)
        events, rebuilt = fill.rebuild_product(app)
        fill.close_product(app)
        fill.vacuum_analyze(libpq["product"])
        result["fill"]["product_postgres"] = {
            "commands": 3 * n,
            "seconds": seconds,
            "rebuild_events": events,
            "rebuild_seconds": rebuilt,
        }
        baseline_seconds = fill.fill_baseline_postgresql(libpq["baseline"], items=n, employees=n, users=n)
        result["fill"]["baseline_postgres"] = {"seconds": baseline_seconds}
        log(
            f"product filled in {seconds:.1f}s ({3 * n / seconds:,.0f} commands/s), read model rebuilt in {rebuilt:.1f}s"
        )

        ids = work / "item-ids-postgres.txt"
        ids.write_text("".join(f"/items/{item.id}\n" for item in data.items(n)))
        scenarios = _rows_scenarios(n, ids, engine="PostgreSQL")
        targets = _start_all(urls["product"], libpq["baseline"], workers, work)
        try:
            same_answers(targets, _rows_samples())
            postmaster = int((server.folder / "data" / "postmaster.pid").read_text().split()[0])
            run_phase(scenarios, targets, size, load, database_pid=postmaster)
            result["rss"]["postgres"] = {name: server.rss_rounds for name, server in targets.items()}
        finally:
            _stop_all(targets)
        result["append_lock"] = lock_rounds(urls["append_lock"], libpq["append_lock"], size, workers, load)
    return scenarios


def phase_replica(size: Size, work: Path, load: dict, workers: int, result: dict) -> list[Scenario]:
    """Past one machine (issue 22): a command host on a PostgreSQL primary, a query host on
    its streaming standby (tests/postgres_replica.py), items filled through the product's
    commands; replica lag under steady writes, reads that wait for their position, and
    reads/s on the standby beside the primary (bench/replica.py). No scenario of the table."""
    try:
        from tests import postgres_replica, postgres_server  # the tests' helpers (pytest: a dev requirement)
    except ImportError as error:
        raise PhaseSkipped(f"the tests' PostgreSQL helpers cannot be imported ({error}): make .venv/.dev") from None
    if not (postgres_server.BIN / "pg_basebackup").exists():
        raise PhaseSkipped(f"PostgreSQL 15 is not installed (no {postgres_server.BIN / 'pg_basebackup'})")
    n = size.rows // 10
    with postgres_replica.running_cluster() as cluster:
        cluster.create_database("product")
        url = cluster.primary_url("product")
        with cluster.primary.connect() as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        settings = {**postgres_server.SETTINGS, **postgres_replica.PRIMARY}
        result["postgresql_replica"] = {"version": version, "settings": settings}  # beside the postgres phase's
        log(f"phase replica: PostgreSQL {version}, a primary and a streaming standby; filling {n:,} items")
        app = fill.product_app_postgresql(url)
        seconds = fill.fill_product(app, items=n)
        events, rebuilt = fill.rebuild_product(app)
        projections = len(app.extensions["projector"].projections)
        fill.close_product(app)
        fill.vacuum_analyze(url.replace("+psycopg", ""))
        cluster.wait_replayed()
        result["fill"]["product_replica"] = {"commands": n, "seconds": seconds, "rebuild_seconds": rebuilt}
        log(f"product filled in {seconds:.1f}s, read model rebuilt in {rebuilt:.1f}s ({events:,} events)")
        paths = work / "item-ids-replica.txt"
        paths.write_text("".join(f"/items/{item.id}\n" for item in data.items(n)))
        result["replica"] = replica.measure(cluster, "product", projections, paths, size, work, load, workers, wrk, log)
    return []


def phase_follower(size: Size, work: Path, load: dict, workers: int, result: dict) -> list[Scenario]:
    """Seed 003's following query service (issue 26): a command host on a database filled
    through the product's commands, a follower started on an empty database of its own; its
    catch-up rate, then its lag under steady writes and reads that wait (bench/follower.py).
    On SQLite, then on a throwaway PostgreSQL 15 server when there is one, with a tenth of the
    events (its fill is slower). No scenario of the table."""
    n = max(size.rows, 10_000)  # commands, one event each: 100k (--quick: 10k)
    seconds = max(2.5 * size.duration, 5)  # of writes at each rate: 25 (--quick: 5)
    result["follower"] = {}
    source = str(work / "follower-source.db")
    databases = {"source": source, "follower": str(work / "follower.db")}
    projections = _fill_source(fill.product_app(source), n, "follower_sqlite", result)
    result["follower"]["sqlite"] = follower.measure("sqlite", databases, projections, seconds, work, workers, log)
    try:
        from tests import postgres_server  # the tests' helper (it imports pytest, a dev requirement)
    except ImportError as error:
        result["follower"]["postgresql"] = {"skipped": f"the tests' PostgreSQL helper cannot be imported ({error})"}
        return []
    if not (postgres_server.BIN / "initdb").exists():
        result["follower"]["postgresql"] = {"skipped": f"PostgreSQL 15 is not installed (no {postgres_server.BIN})"}
        return []
    with postgres_server.running() as server:
        for name in ("source", "follower"):
            server.create_database(name)
        databases = {name: server.url(name) for name in ("source", "follower")}
        projections = _fill_source(
            fill.product_app_postgresql(databases["source"]), n // 10, "follower_postgresql", result
        )
        fill.vacuum_analyze(databases["source"].replace("+psycopg", ""))
        postmaster = int((server.folder / "data" / "postmaster.pid").read_text().split()[0])
        figures = follower.measure("postgresql", databases, projections, seconds, work, workers, log, postmaster)
        result["follower"]["postgresql"] = figures
    return []


def _fill_source(app, n: int, key: str, result: dict) -> int:
    """A third each of items, employees and users through ``app``'s handlers, then its rebuild;
    the number of its projections."""
    log(f"phase follower: filling the source with {n:,} items, employees and users ({key})")
    seconds = fill.fill_product(app, items=n // 3, employees=n // 3, users=n - 2 * (n // 3))
    events, rebuilt = fill.rebuild_product(app)
    projections = len(app.extensions["projector"].projections)
    fill.close_product(app)
    result["fill"][key] = {"commands": n, "seconds": seconds, "rebuild_events": events, "rebuild_seconds": rebuilt}
    log(f"source filled in {seconds:.1f}s, read model rebuilt in {rebuilt:.1f}s ({events:,} events)")
    return projections


def lock_rounds(url: str, libpq_url: str, size: Size, workers: int, load: dict) -> dict:
    """The append loop with and without the writers' lock, alternating, at 1 writer, one per
    gunicorn worker and one per wrk connection, on a database the product's migrations made."""
    fill.close_product(fill.product_app_postgresql(url))  # migrated, and nothing else
    threads = sorted({1, workers, load["connections"]})
    runs = []
    for round_no in range(1, size.rounds + 1):
        for count in threads:
            for lock in (True, False):
                run = append_lock.run(libpq_url, count, max(size.duration, 2), lock)
                runs.append(run)
                log(
                    f"round {round_no} append, {count} writer(s), {'with' if lock else 'without'} the lock:"
                    f" {run['tps']:,.0f} commits/s"
                )
    return {"threads": threads, "runs": runs}


def _start_all(
    product_db: str, baseline_db: str, workers: int, work: Path, floor_db: str | None = None
) -> dict[str, servers.Server]:
    """The three targets, booted side by side (each takes seconds, mostly waiting); with
    ``floor_db``, the floor on it and the quiet product beside the product as well."""
    started: dict[str, servers.Server] = {}
    try:
        started["product"] = servers.product(product_db, workers, work)
        started["ceiling"] = servers.ceiling(workers, work)
        started["baseline"] = servers.baseline(baseline_db, workers, work)
        if floor_db is not None:
            started["floor"] = servers.floor(floor_db, workers, work)
            started["quiet"] = servers.quiet(product_db, workers, work)
        for server in started.values():
            server.wait_until_serving()
    except BaseException:
        _stop_all(started)
        raise
    return started


def _stop_all(targets: dict[str, servers.Server]) -> None:
    """Every target told to stop at once, then waited for: each takes a second or two to drain."""
    for server in targets.values():
        server.terminate()
    for server in targets.values():
        server.stop()


def phase_personal(size: Size, work: Path, load: dict, workers: int, result: dict) -> list[Scenario]:
    """What sealing personal fields costs a POST /users and a rebuild, sealed and not
    (bench/personal_data.py), in-process and in a process of its own; figures in the JSON only."""
    users, rounds = (500, 1) if size is QUICK else (4000, 3)
    log(f"personal data: {users} users, {rounds} rounds, sealed and plaintext")
    measured = subprocess.run(
        [sys.executable, "-m", "bench.personal_data", "--users", str(users), "--rounds", str(rounds)],
        cwd=BENCH.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    result["personal_data"] = json.loads(measured.stdout)
    log(f"personal data: {json.dumps(result['personal_data'])}")
    return []


PHASES = {
    "rows": phase_rows,
    "deep": phase_deep,
    "orders": phase_orders,
    "devices": phase_devices,
    "postgres": phase_postgres,
    "replica": phase_replica,
    "follower": phase_follower,
    "personal": phase_personal,
}

# ---------------------------------------------------------------- machine


def machine() -> dict:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(int(meminfo[0].split()[1]) / 1024 / 1024, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": wrk_version.strip(),
        "kernel": platform.release(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller data and shorter runs (under 2 minutes)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", "4")))
    parser.add_argument("--connections", type=int, default=int(os.environ.get("BENCH_CONNECTIONS", "8")))
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--only", choices=PHASES, help="run one phase (for development)")
    parser.add_argument("--rounds", type=int, help="rounds per scenario, instead of the mode's")
    parser.add_argument("--duration", type=int, help="seconds per wrk run, instead of the mode's")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on the way out
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk (make bench does this)")
    size = QUICK if args.quick else FULL
    if args.rounds or args.duration:
        size = replace(size, rounds=args.rounds or size.rounds, duration=args.duration or size.duration)
    load = {"threads": args.threads, "connections": args.connections}
    started = time.monotonic()
    result = {
        "date": date.today().isoformat(),
        "mode": "quick" if args.quick else "full",
        "machine": machine(),
        "load_average_before": os.getloadavg(),
        "settings": {"workers": args.workers, "worker_class": "sync", **load, "size": size.__dict__},
        "fill": {},
        "rss": {},
    }
    work = Path(tempfile.mkdtemp(prefix="cqrs-bench-"))
    scenarios: list[Scenario] = []
    try:
        for name, phase in PHASES.items():
            if args.only in (None, name):
                try:
                    scenarios += phase(size, work, load, args.workers, result)
                except PhaseSkipped as skipped:
                    if args.only:
                        sys.exit(f"phase {name} cannot run: {skipped}")
                    log(f"phase {name} skipped: {skipped}")
                    result.setdefault("skipped", {})[name] = str(skipped)
    except BaseException:
        log(f"failed; gunicorn logs are kept in {work}")
        raise
    result["load_average_after"] = os.getloadavg()
    result["seconds"] = round(time.monotonic() - started, 1)
    result["scenarios"] = [
        {"key": s.key, "title": s.title, "data": s.data, "target": s.target, "runs": s.runs} for s in scenarios
    ]
    RESULTS.mkdir(exist_ok=True)
    # A run of one phase never overwrites the day's full run.
    stem = result["date"] + ("-quick" if args.quick else "") + (f"-{args.only}" if args.only else "")
    path = RESULTS / f"{stem}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")  # the raw runs, whatever follows
    result["summary"] = report.summarize(result, scenarios, PENDING, size)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    if result["summary"]["rows"]:  # the replica phase's figures are no scenarios: a table of their own
        report.chart(result, RESULTS / f"{stem}.png")
        print()
        print(report.table(result))
    if "replica" in result:
        print()
        print(replica.table(result["replica"]))
    if "follower" in result:
        print()
        print(follower.tables(result["follower"]))
    chart = f" and bench/results/{stem}.png" if result["summary"]["rows"] else ""
    print(f"\nWritten: bench/results/{stem}.json{chart} ({result['seconds']:.0f}s)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
