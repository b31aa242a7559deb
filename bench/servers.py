"""Start the three targets under gunicorn with identical settings, and read their workers' memory."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def _cpu_ticks(pid: int) -> int:
    """utime + stime of one process, in clock ticks (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0
    return int(fields[11]) + int(fields[12])


def _children(pid: int) -> list[int]:
    pids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            pids += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return pids


def tree_cpu(pid: int) -> tuple[float, frozenset[int]]:
    """CPU time a process and its children now running have used (a PostgreSQL server: the
    postmaster, its backends and background processes), and their pids: a child that exits
    takes its CPU time with it, so two readings compare only if the pids are the same."""
    pids = frozenset((pid, *_children(pid)))
    return sum(_cpu_ticks(one) for one in pids) / os.sysconf("SC_CLK_TCK"), pids


def gunicorn_flags(workers: int, worker_class: str | None = "sync") -> list[str]:
    """The command-line settings every target runs with. The ceiling and the baseline run
    from bench/, so they never pick up the product's gunicorn.conf.py. ``worker_class`` None
    leaves the worker to the config (the product's is gunicorn's sync worker, answering its
    own refusals as problem+json)."""
    return [
        "--workers",
        str(workers),
        *(["--worker-class", worker_class] if worker_class else []),
        "--timeout",
        "120",
        "--graceful-timeout",
        "10",
        "--backlog",
        "2048",
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    url: str
    log: Path
    ready_path: str  # answers 200 once the app has booted
    workers: int
    rss_rounds: list[dict[int, float]] = field(default_factory=list)
    stopping_workers: list[int] | None = None  # its workers when it was told to stop

    def worker_pids(self) -> list[int]:
        pids = []
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            children = (task / "children").read_text().split()
            pids += [int(pid) for pid in children]
        return sorted(pids)

    def cpu_seconds(self) -> float:
        """CPU time its workers have used so far (utime + stime)."""
        return sum(_cpu_ticks(pid) for pid in self.worker_pids()) / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, limit: float = 120) -> float:
        """Wait until its workers stop using CPU: requests a load generator gave up on are
        still worked off after it stops, and must not slow the next target measured.
        Returns the seconds waited."""
        started = time.monotonic()
        used = self.cpu_seconds()
        while time.monotonic() - started < limit:
            time.sleep(0.1)
            now = self.cpu_seconds()
            if now - used < 0.01:
                break
            used = now
        return time.monotonic() - started

    def record_rss(self) -> dict[int, float]:
        """VmRSS of each worker, in MB, appended to ``rss_rounds``."""
        sample = {}
        for pid in self.worker_pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except FileNotFoundError:
                continue
            kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            sample[pid] = round(kb / 1024, 1)
        self.rss_rounds.append(sample)
        return sample

    def wait_until_serving(self) -> None:
        """Return once every worker has booted (and, for the product, caught up); raise if it exits or never does."""
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=10) as reply:
                    if reply.status == 200 and len(self.worker_pids()) == self.workers:
                        time.sleep(1)  # the last worker may have answered before the others finished booting
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not start:\n{self.log.read_text()[-3000:]}")

    def terminate(self) -> None:
        """SIGTERM the master, which stops its workers; ``stop`` waits for it."""
        if self.stopping_workers is None:
            self.stopping_workers = self.worker_pids() if self.process.poll() is None else []
            self.process.terminate()

    def stop(self) -> None:
        """SIGTERM the master; if it has not exited in 30 s, SIGKILL it and its workers."""
        self.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            for pid in self.stopping_workers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def start(
    name: str, app: str, cwd: Path, env: dict, workers: int, log_dir: Path, ready_path: str, config: list[str] = ()
) -> Server:
    """Launch gunicorn and return at once: ``Server.wait_until_serving`` waits for it to boot."""
    port = free_port()
    log = log_dir / f"{name}.log"
    flags = gunicorn_flags(workers, worker_class=None if config else "sync")
    argv = [sys.executable, "-m", "gunicorn", *config, *flags, "--bind", f"127.0.0.1:{port}", app]
    with open(log, "ab") as out:
        process = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    return Server(name, process, f"http://127.0.0.1:{port}", log, ready_path, workers)


def is_url(database: str) -> bool:
    """Whether ``database`` is a PostgreSQL URL (the postgres phase) rather than an SQLite file."""
    return database.startswith(("postgresql://", "postgresql+psycopg://"))


def product(database: str, workers: int, log_dir: Path) -> Server:
    """The product as it is deployed: its gunicorn.conf.py when the repo has one (the shared
    flags come after it on the command line, so they win). ``database``: an SQLite file, or a
    PostgreSQL URL."""
    config = ["--config", "gunicorn.conf.py"] if (ROOT / "gunicorn.conf.py").exists() else []
    env = {"DATABASE_URL": database} if is_url(database) else {"DATABASE_PATH": database}
    return start("product", "wsgi:app", ROOT, env, workers, log_dir, "/items?limit=1", config)


def quiet(database: str, workers: int, log_dir: Path) -> Server:
    """The product as deployed, without its access line and metrics (quiet.py), on ``database``."""
    config = ["--config", "gunicorn.conf.py"] if (ROOT / "gunicorn.conf.py").exists() else []
    env = {"DATABASE_URL": database} if is_url(database) else {"DATABASE_PATH": database}
    return start("quiet", "bench.quiet:app", ROOT, env, workers, log_dir, "/items?limit=1", config)


def floor(database: str, workers: int, log_dir: Path) -> Server:
    """The floor (floor.py) on its SQLite file."""
    return start("floor", "floor:app", BENCH, {"FLOOR_DATABASE": database}, workers, log_dir, "/items")


def ceiling(workers: int, log_dir: Path) -> Server:
    return start("ceiling", "ceiling:app", BENCH, {}, workers, log_dir, "/")


def baseline(database: str, workers: int, log_dir: Path) -> Server:
    """The CRUD baseline on an SQLite file, or with psycopg (baseline/postgresql.py) given a URL."""
    if is_url(database):
        env = {"BASELINE_DATABASE_URL": database}
        return start("baseline", "baseline.postgresql:app", BENCH, env, workers, log_dir, "/items?limit=1")
    return start(
        "baseline", "baseline.app:app", BENCH, {"BASELINE_DATABASE": database}, workers, log_dir, "/items?limit=1"
    )


def get_json(url: str) -> tuple[object, dict]:
    with urllib.request.urlopen(url, timeout=120) as reply:
        return json.loads(reply.read()), dict(reply.headers)


def post_json(url: str, body: dict) -> tuple[int, object]:
    """POST ``body`` as JSON: (status, the JSON answer; for an error status, its text)."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
