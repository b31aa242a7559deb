"""Processes that start at the same moment on the same new database all come up."""

import multiprocessing

from app.db import migrate

PROCESSES = 6
ROUNDS = 40


def _start(barrier, path: str) -> None:
    barrier.wait()  # every process leaves the barrier at once, as when an orchestrator starts them together
    migrate(path, busy_timeout_ms=10_000)  # a start's first touch of the database (create_app)


def test_any_number_of_processes_starting_together_on_a_new_database_all_come_up(tmp_path):
    """Setting the journal mode takes an exclusive lock that SQLite's busy timeout does not
    wait for: now and then a start failed with "database is locked" before they took turns."""
    forked = multiprocessing.get_context("fork")  # cheap to start, so many rounds fit
    for round_ in range(ROUNDS):
        barrier = forked.Barrier(PROCESSES)
        path = str(tmp_path / f"round-{round_}" / "cqrs.db")
        starts = [forked.Process(target=_start, args=(barrier, path)) for _ in range(PROCESSES)]
        for start in starts:
            start.start()
        for start in starts:
            start.join(timeout=120)
        assert [start.exitcode for start in starts] == [0] * PROCESSES, f"round {round_}"
