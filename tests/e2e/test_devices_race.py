"""Devices under real gunicorn workers: one name, one winner; concurrent batches, none lost."""

from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import requests

SPELLINGS = ["Race Boiler", "race boiler", "RACE  BOILER", " Race Boiler "]


def test_concurrent_registrations_of_one_name_let_exactly_one_win(gunicorn):
    def register(n: int) -> requests.Response:
        return requests.post(gunicorn("/devices"), json={"name": SPELLINGS[n % 4], "kind": "sensor"}, timeout=30)

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(register, range(16)))

    assert sorted(r.status_code for r in responses) == [201] + [409] * 15
    winner = next(r.json() for r in responses if r.status_code == 201)
    assert [d["id"] for d in requests.get(gunicorn("/devices")).json()] == [winner["id"]]
    with closing(gunicorn.connect()) as db:
        assert db.execute("SELECT id FROM devices").fetchall() == [(winner["id"],)]


def test_concurrent_batches_for_one_device_are_all_counted_each_at_its_own_version(gunicorn):
    device = requests.post(gunicorn("/devices"), json={"name": "Busy", "kind": "meter"}, timeout=30).json()
    url = gunicorn(f"/devices/{device['id']}/telemetry")

    def post(n: int) -> int:
        readings = [
            {"metric": "load", "value": n + k / 100, "recorded_at": f"2024-01-01T00:{n % 60:02d}:00Z"}
            for k in range(50)
        ]
        return requests.post(url, json={"readings": readings}, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(post, range(40)))

    assert statuses == [202] * 40
    details = requests.get(gunicorn(f"/devices/{device['id']}")).json()
    assert details["reading_count"] == details["metrics"]["load"]["count"] == 2000
    assert requests.get(gunicorn(f"/devices/{device['id']}")).headers["ETag"] == '"41"'
    with closing(gunicorn.connect()) as db:
        versions = db.execute("SELECT version FROM events WHERE stream_id = ? ORDER BY version", (device["id"],))
        assert [v for (v,) in versions] == list(range(1, 42))
    assert "Traceback" not in gunicorn.log_text()
