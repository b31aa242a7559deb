"""Correctness under load and crashes, over real HTTP with real gunicorn workers."""

import os
import signal
import threading
import time

from tests.e2e.conftest import running_gunicorn
from tests.e2e.load import Load, assert_nothing_acknowledged_was_lost
from tests.engines import database_config


def test_32_clients_on_4_workers_get_no_5xx_and_lose_nothing(tmp_path):
    with running_gunicorn(tmp_path, workers=4) as server:
        load = Load(server.url, clients=32, seconds=12, at_least=500).run()
        log = server.log_text()
    assert not load.failures
    assert sum(load.statuses.values()) >= 500  # a real load, not a trickle
    assert "database is locked" not in log and "Traceback" not in log
    assert_nothing_acknowledged_was_lost(server.database, load)


def kill_later(seconds: float, kill) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(seconds), kill()))
    thread.start()
    return thread


def test_a_worker_killed_mid_load_loses_nothing_acknowledged(tmp_path):
    with running_gunicorn(tmp_path, workers=2) as server:
        victim = server.worker_pids()[0]
        killer = kill_later(2, lambda: os.kill(victim, signal.SIGKILL))
        load = Load(server.url, clients=8, seconds=5).run()
        killer.join()
        assert victim not in server.worker_pids()  # gunicorn replaced it
    assert_nothing_acknowledged_was_lost(server.database, load)


def test_the_whole_server_killed_mid_load_loses_nothing_acknowledged_after_a_restart(tmp_path):
    database = database_config(tmp_path)
    with running_gunicorn(tmp_path, "first", database, workers=2) as server:

        def kill_everything():
            for pid in server.worker_pids() + [server.process.pid]:
                os.kill(pid, signal.SIGKILL)

        killer = kill_later(2, kill_everything)
        load = Load(server.url, clients=8, seconds=4).run()
        killer.join()
    assert load.failures  # the load really was cut off
    with running_gunicorn(tmp_path, "restarted", database, workers=2):
        pass  # its start applies migrations and catches every projection up
    assert_nothing_acknowledged_was_lost(database, load)
