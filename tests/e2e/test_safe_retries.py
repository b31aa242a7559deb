"""Retries and races across two gunicorn workers: one execution per key, one winner per version."""

import threading
from contextlib import closing

import requests

from tests.support import BACON_ID


def all_at_once(count: int, call) -> list[requests.Response]:
    """Run ``call`` from ``count`` threads released together."""
    barrier, results = threading.Barrier(count), [None] * count

    def run(n: int) -> None:
        barrier.wait()
        results[n] = call()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def count_events(server, sql: str = "SELECT count(*) FROM events", *params) -> int:
    with closing(server.connect()) as db:
        return db.execute(sql, params).fetchone()[0]


def test_concurrent_retries_with_one_key_execute_the_command_once(gunicorn):
    before = count_events(gunicorn)
    responses = all_at_once(
        12,
        lambda: requests.post(
            gunicorn("/items"), json={"name": "Once", "description": ""}, headers={"Idempotency-Key": "same"}, timeout=30
        ),
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 11
    assert count_events(gunicorn) == before + 1


def test_writers_racing_with_the_same_if_match_leave_one_winner_and_no_gap(gunicorn):
    responses = all_at_once(
        12,
        lambda: requests.put(
            gunicorn(f"/items/{BACON_ID}"),
            json={"name": f"Bacon {threading.get_ident()}", "description": ""},
            headers={"If-Match": '"1"'},
            timeout=30,
        ),
    )
    assert sorted(r.status_code for r in responses) == [200] + [412] * 11
    assert all(r.json()["current_version"] == 2 for r in responses if r.status_code == 412)
    with closing(gunicorn.connect()) as db:
        versions = [v for (v,) in db.execute(
            "SELECT version FROM events WHERE stream_type = 'item' AND stream_id = ? ORDER BY position", (BACON_ID,)
        )]
    assert versions == [1, 2]
    assert requests.get(gunicorn(f"/items/{BACON_ID}")).headers["ETag"] == '"2"'
