"""A write-and-read load on every module, and the checks that nothing acknowledged was lost.

Each client owns the entities it creates (so it knows which version each reply
acknowledges) and also contends with every other client on the seeded Bacon.
"""

import random
import threading
import time
from collections import Counter
from contextlib import closing

import requests

from app import create_app
from app.projections import ALL
from tests.engines import plain_connection
from tests.support import BACON_ID, read_model

DELETED_TYPES = ("ItemDeleted", "EmployeeLeft", "UserDeleted")


def employee(n: str, city: str = "Boston") -> dict:
    return {"firstName": f"F{n}", "lastName": f"L{n}", "address": {"street": f"{n} Main St"[:50], "zip": "02112", "city": city}}


class Load:
    """``clients`` threads sending a random mix of commands and queries for ``seconds``, and on
    until ``at_least`` requests were answered (however slow the machine), for ten times as long at most."""

    def __init__(self, base: str, clients: int = 32, seconds: float = 10, seed: int = 7, at_least: int = 0):
        self.base, self.clients, self.seconds, self.seed, self.at_least = base, clients, seconds, seed, at_least
        self.acknowledged: set[tuple[str, str, int]] = set()  # (stream type, id, version) answered 2xx
        self.deleted: set[tuple[str, str]] = set()
        self.statuses: Counter = Counter()
        self.failures: list[str] = []  # requests that got no answer at all
        self._lock = threading.Lock()
        self.stop = threading.Event()

    def run(self) -> "Load":
        threads = [threading.Thread(target=self._client, args=(n,)) for n in range(self.clients)]
        for thread in threads:
            thread.start()
        time.sleep(self.seconds)
        deadline = time.monotonic() + 9 * self.seconds
        while self.answered() < self.at_least and time.monotonic() < deadline:
            time.sleep(0.1)
        self.stop.set()
        for thread in threads:
            thread.join()
        return self

    def answered(self) -> int:
        with self._lock:
            return sum(self.statuses.values())

    def _client(self, n: int) -> None:
        rng, http, owned, step = random.Random(self.seed * 1000 + n), requests.Session(), [], 0
        while not self.stop.is_set():
            step += 1
            tag = f"{n}-{step}"
            try:
                self._one_step(rng, http, owned, tag)
            except requests.RequestException as exc:
                with self._lock:
                    self.failures.append(type(exc).__name__)

    def _one_step(self, rng, http, owned, tag) -> None:
        roll = rng.random()
        if roll < 0.15 or not owned:
            kind = rng.choice(["item", "employee", "user"])
            path, body = {
                "item": ("/items", {"name": f"Item {tag}", "description": tag}),
                "employee": ("/employees", employee(tag, rng.choice(["Boston", "Paris"]))),
                "user": ("/users", {"first_name": "U", "last_name": tag, "email": f"u{tag}@example.com"}),
            }[kind]
            response = self._send(http, "POST", path, body)
            if response.status_code == 201:
                owned.append((kind, response.json()["id"]))
        elif roll < 0.35:
            kind, ident = rng.choice(owned)
            body = {
                "item": {"name": f"Item {tag}", "description": ""},
                "employee": employee(tag),
                "user": {"first_name": "V", "last_name": tag, "email": f"v{tag}@example.com"},
            }[kind]
            self._send(http, "PUT", f"/{kind}s/{ident}", body)
        elif roll < 0.40:
            kind, ident = owned.pop(rng.randrange(len(owned)))
            if self._send(http, "DELETE", f"/{kind}s/{ident}").status_code == 204:
                with self._lock:
                    self.deleted.add((kind, ident))
        elif roll < 0.45:
            self._send(http, "PUT", f"/items/{BACON_ID}", {"name": f"Bacon {tag}", "description": ""})
        else:
            kind, ident = rng.choice(owned)
            path = rng.choice([f"/{kind}s/{ident}", "/items?limit=50", "/employees?city=Paris&limit=20", "/users?limit=20"])
            self._send(http, "GET", path)

    def _send(self, http, method: str, path: str, body: dict | None = None) -> requests.Response:
        response = http.request(method, self.base + path, json=body, timeout=60)
        with self._lock:
            self.statuses[response.status_code] += 1
            if method in ("POST", "PUT") and response.status_code in (200, 201):
                stream_type = path.split("/")[1].removesuffix("s")
                ident = response.json()["id"]
                self.acknowledged.add((stream_type, ident, int(response.headers["ETag"].strip('"'))))
        return response


def assert_nothing_acknowledged_was_lost(database: dict, load: Load) -> None:
    """Every acknowledged command is in the log once, streams have no gaps, write tables
    agree with the log, projections are at the head, and a rebuild equals the live read model
    (``database``: the server's database settings)."""
    assert not [status for status in load.statuses if status >= 500], load.statuses
    with closing(plain_connection(database)) as db:
        log = db.execute("SELECT stream_type, stream_id, version, type FROM events ORDER BY position").fetchall()
        streams: dict[tuple[str, str], list[tuple[int, str]]] = {}
        for stream_type, stream_id, version, type_ in log:
            streams.setdefault((stream_type, stream_id), []).append((version, type_))
        logged = {(t, i, v) for (t, i), events in streams.items() for v, _ in events}
        assert load.acknowledged <= logged
        for events in streams.values():
            assert [v for v, _ in events] == list(range(1, len(events) + 1))  # no gap, no duplicate
        for kind, ident in load.deleted:
            assert streams[(kind, ident)][-1][1] in DELETED_TYPES
        alive = {key for key, events in streams.items() if events[-1][1] not in DELETED_TYPES}
        for stream_type, table in [("item", "items"), ("employee", "employees"), ("user", "users")]:
            rows = {(stream_type, i) for (i,) in db.execute(f"SELECT id FROM {table}")}
            assert rows == {key for key in alive if key[0] == stream_type}, f"{table} disagrees with the log"
        assert db.execute("SELECT count(*) FROM employees e LEFT JOIN addresses a USING (id) WHERE a.id IS NULL").fetchone() == (0,)
        head = db.execute("SELECT max(position) FROM events").fetchone()[0]
        checkpoints = dict(db.execute("SELECT name, position FROM projection_checkpoints"))
        assert checkpoints == {projection.name: head for projection in ALL}

    app = create_app(database)
    live = read_model(app)
    with app.app_context():
        app.extensions["projector"].rebuild()
    assert read_model(app) == live
