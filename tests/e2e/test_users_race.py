"""Two gunicorn workers, one email: the write model lets exactly one registration win."""

from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import requests

SPELLINGS = ["race@example.com", "RACE@EXAMPLE.COM", "Race@Example.com", "rAcE@eXaMpLe.CoM"]


def test_concurrent_registrations_of_one_email_in_any_case_let_exactly_one_win(gunicorn):
    def register(n: int) -> requests.Response:
        body = {"first_name": f"Racer {n}", "last_name": "Doe", "email": SPELLINGS[n % len(SPELLINGS)]}
        return requests.post(gunicorn("/users"), json=body, timeout=30)

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(register, range(20)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19
    assert all(r.headers["Content-Type"] == "application/problem+json" for r in responses if r.status_code == 409)
    winner = next(r.json() for r in responses if r.status_code == 201)
    assert requests.get(gunicorn("/users?email=RACE@example.com")).json() == [winner]

    with closing(gunicorn.connect()) as db:
        assert db.execute("SELECT stream_id FROM events WHERE type = 'UserRegistered'").fetchall() == [(winner["id"],)]
        assert db.execute("SELECT id FROM users").fetchall() == [(winner["id"],)]

    log = open(gunicorn.log).read()
    assert "Traceback" not in log and "database is locked" not in log
