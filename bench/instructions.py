"""Instructions per request of a target's WSGI callable, counted by valgrind's callgrind:
unlike time, other work on the machine does not change them.

    python -m bench.instructions --product P.db --floor F.db --ids ids.txt quiet item_by_id

Targets: product, quiet (the product without its access line and metrics), floor, ceiling.
The target is warmed up with 300 requests, then sent ``--requests`` more from inside
``functools.reduce``, and callgrind counts only what runs inside that call
(``--toggle-collect``). Needs valgrind; a count takes a minute or two.
"""

import argparse
import functools
import gc
import os
import subprocess
import sys
import tempfile

from bench import inprocess

COUNTED = "functools_reduce"  # the C function that callgrind counts inside


def _target(args):
    """The target's WSGI callable, and nothing else built in this process: the garbage
    collector's passes cost more the more objects there are (gunicorn's master freezes
    what it loaded before forking, as done here)."""
    if args.target in ("product", "quiet"):
        made = inprocess._product(args.product)
        app = made.wsgi_app if args.target == "product" else inprocess._Quiet(made)
    elif args.target == "floor":
        os.environ["FLOOR_DATABASE"] = args.floor
        from bench import floor

        app = floor.app.wsgi_app
    else:
        from bench import ceiling

        app = ceiling.app.wsgi_app
    gc.collect()
    gc.freeze()
    return app


def _send(args) -> None:
    """In the process callgrind runs: warm the target up, then send the counted requests."""
    app = _target(args)
    path = ["/items/x"] if args.target == "ceiling" else inprocess._paths(args.ids)[args.scenario]
    environs = inprocess._environs(path)
    inprocess._cpu_us(app, environs, 300)
    sent = [environs[n % len(environs)] for n in range(args.requests)]
    functools.reduce(lambda count, environ: (inprocess._call(app, environ), count + 1)[1], sent, 0)


def count(argv: list[str], requests: int) -> int:
    """Instructions per request of the target that ``argv`` (this module's arguments) names."""
    command = ["valgrind", "--tool=callgrind", f"--toggle-collect={COUNTED}", "--callgrind-out-file=/dev/null"]
    command += [sys.executable, "-m", "bench.instructions", "--send", *argv]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    line = next(ln for ln in done.stderr.splitlines() if "Collected" in ln)
    return int(line.split()[-1]) // requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("target", choices=("product", "quiet", "floor", "ceiling"))
    parser.add_argument("scenario", choices=inprocess.SCENARIOS)
    parser.add_argument("--product", required=True, help="the product's SQLite file, filled")
    parser.add_argument("--floor", help="the floor's SQLite file (floor.py)")
    parser.add_argument("--ids", help="a file of /items/<id> paths")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--send", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.send:
        print(f"{args.target} {args.scenario}: {count(sys.argv[1:], args.requests):,} instructions a request")
        return 0
    with tempfile.TemporaryDirectory(prefix="cqrs-bench-metrics-") as metrics, open(os.devnull, "w") as log:
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics)
        os.environ.setdefault("LOG_LEVEL", "INFO")
        sys.stderr = log
        _send(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
