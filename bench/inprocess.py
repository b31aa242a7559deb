"""What a read costs in-process: CPU µs per request of each target's WSGI callable, called in
a loop without HTTP or gunicorn, and with ``--profile`` where the product's time goes.

The product runs as deployed (access line on at INFO, written to a file as gunicorn's log
would take it; metrics in prometheus_client's multiprocess mode, as under gunicorn.conf.py),
and again with its observers (the access line, the metrics) detached from the web edge:
the difference is what they cost a request. Targets take turns in each round, many short
rounds; each figure is the least a target took in any round (other work on the machine only
ever adds to a round's time: on a shared machine the median moved by tens of µs from run to
run, the least by a few), with the median beside it.

    python -m bench.inprocess --product P.db --floor F.db --baseline B.db --ids ids.txt
    python -m bench.inprocess --product P.db --ids ids.txt --profile item_by_id

Run in a process of its own (bench/run.py does): the metrics' mode is set before
prometheus_client is imported, and the apps' modules read their settings at import.
"""

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

SCENARIOS = ("item_by_id", "items_page", "employees_page")


def _environs(paths: list[str]) -> list[dict]:
    from werkzeug.test import EnvironBuilder

    made = []
    for path in paths:
        builder = EnvironBuilder(path=path, base_url="http://127.0.0.1:3000")
        made.append(builder.get_environ())
        builder.close()
    return made


def _start_response(status, headers, exc_info=None):
    return None


def _call(app, environ: dict) -> bytes:
    body = app(dict(environ), _start_response)
    try:
        return b"".join(body)
    finally:
        if hasattr(body, "close"):
            body.close()


def _cpu_us(app, environs: list[dict], count: int) -> float:
    """CPU µs per request over ``count`` calls, cycling through ``environs``."""
    started = time.process_time()
    for n in range(count):
        _call(app, environs[n % len(environs)])
    return (time.process_time() - started) * 1e6 / count


def _paths(ids_file: str | None) -> dict[str, list[str]]:
    ids = Path(ids_file).read_text().split()[:2000] if ids_file else ["/items/12a33c84-ee60-45a1-848d-428ad3259abc"]
    return {"item_by_id": ids, "items_page": ["/items"], "employees_page": ["/employees"]}


def _product(database: str):
    from app import create_app

    return create_app({"DATABASE_PATH": database})


class _Quiet:
    """The product's WSGI callable with its web edge's observers detached while it runs."""

    def __init__(self, app):
        self.app, self.edge = app.wsgi_app, app.extensions["edge"]

    def __call__(self, environ, start_response):
        observers, self.edge.observers = self.edge.observers, []
        try:
            return self.app(environ, start_response)
        finally:
            self.edge.observers = observers


def targets(args) -> dict:
    """name -> WSGI callable, for the targets given on the command line."""
    made = {}
    product = _product(args.product)
    made["product"] = product.wsgi_app
    made["quiet"] = _Quiet(product)
    if args.floor:
        os.environ["FLOOR_DATABASE"] = args.floor
        from bench import floor

        made["floor"] = floor.app.wsgi_app
    if args.baseline:
        os.environ["BASELINE_DATABASE"] = args.baseline
        from bench.baseline import app as baseline

        made["baseline"] = baseline.app.wsgi_app
    from bench import ceiling

    made["ceiling"] = ceiling.app.wsgi_app
    gc.collect()
    gc.freeze()  # as gunicorn's master does before forking: the collector passes over requests' objects only
    return made


def measure(args) -> dict:
    apps = targets(args)
    paths = _paths(args.ids)
    figures: dict = {}
    for scenario in args.scenarios:
        environs = _environs(paths[scenario])
        ceiling_environs = _environs(["/items/x"])
        runs: dict[str, list[float]] = {name: [] for name in apps}
        for name, app in apps.items():  # warm: connections opened, statements prepared
            _cpu_us(app, ceiling_environs if name == "ceiling" else environs, min(args.requests, 500))
        for _ in range(args.rounds):
            for name, app in apps.items():
                runs[name].append(_cpu_us(app, ceiling_environs if name == "ceiling" else environs, args.requests))
        figures[scenario] = {name: min(r) for name, r in runs.items()}
        figures[scenario]["median"] = {name: statistics.median(r) for name, r in runs.items()}
        figures[scenario]["runs"] = runs
        figures[scenario]["on_us"], figures[scenario]["off_us"] = (
            figures[scenario]["product"],
            figures[scenario]["quiet"],
        )
    return figures


def profile(args) -> str:
    """cProfile of the product serving ``args.profile`` (a scenario) ``args.requests`` times."""
    app = targets(args)["quiet" if args.quiet else "product"]
    environs = _environs(_paths(args.ids)[args.profile])
    _cpu_us(app, environs, 500)
    profiler = cProfile.Profile()
    profiler.enable()
    _cpu_us(app, environs, args.requests)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats(args.sort).print_stats(args.lines)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--product", required=True, help="the product's SQLite file, filled")
    parser.add_argument("--floor", help="the floor's SQLite file (floor.py)")
    parser.add_argument("--baseline", help="the baseline's SQLite file")
    parser.add_argument("--ids", help="a file of /items/<id> paths")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--requests", type=int, default=500, help="per target and round")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--log", default=os.devnull, help="where the access lines go (stderr)")
    parser.add_argument("--profile", choices=SCENARIOS, help="print a cProfile of the product instead")
    parser.add_argument("--quiet", action="store_true", help="profile the product without its observers")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--lines", type=int, default=40)
    args = parser.parse_args(argv)
    if "prometheus_client" in sys.modules:
        sys.exit("run it in a process of its own: prometheus_client is already imported")
    os.environ.setdefault("LOG_LEVEL", "INFO")
    out = sys.stdout
    with (
        tempfile.TemporaryDirectory(prefix="cqrs-bench-metrics-") as metrics,
        open(args.log, "a", encoding="utf-8", buffering=1) as log,
    ):
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics)
        sys.stderr = log  # the access lines, line-buffered as a gunicorn worker's stderr writes them to its log
        try:
            result = profile(args) if args.profile else json.dumps(measure(args))
        finally:
            sys.stderr = sys.__stderr__
    out.write(result + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
