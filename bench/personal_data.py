"""What sealing personal fields costs (issue 24): POST /users per CPU second, and a rebuild's events
per second over a log of users, with the fields sealed and with sealing switched off (the
same code with no field marked personal), in-process through Flask's test client on SQLite.
The two take turns, round after round, so a machine busy with other work slows them alike;
each figure is the median of the rounds.

    python -m bench.personal_data [--users 2000] [--rounds 3]
"""

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path
from types import MappingProxyType


@contextlib.contextmanager
def sealing(on: bool):
    """Personal fields sealed as the code says (``on``), or no field marked personal."""
    from app import eventlog
    from app.messages.employees import EmployeeHired, EmployeeUpdated
    from app.messages.users import UserRegistered, UserUpdated

    classes = (UserRegistered, UserUpdated, EmployeeHired, EmployeeUpdated)
    kept = {cls: cls.personal for cls in classes}
    types = set(eventlog._personal_types)
    if not on:
        for cls in classes:
            cls.personal = MappingProxyType({})
        eventlog._personal_types.clear()
    try:
        yield
    finally:
        for cls, personal in kept.items():
            cls.personal = personal
        eventlog._personal_types.update(types)


def one_round(users: int, on: bool, folder: Path) -> dict:
    from app import create_app
    from app.db import dispose

    app = create_app({"DATABASE_PATH": str(folder / "cqrs.db"), "LOG_LEVEL": "WARNING"})
    client = app.test_client()
    with sealing(on):
        started = time.process_time()
        for n in range(users):
            body = {"first_name": f"Ada{n}", "last_name": "Lovelace", "email": f"ada{n}@example.com"}
            assert client.post("/users", json=body).status_code == 201
        posting = time.process_time() - started
        with app.app_context():
            started = time.process_time()
            replayed = app.extensions["projector"].rebuild()
            rebuilding = time.process_time() - started
            dispose()
    return {"post_users_per_s": users / posting, "rebuild_events_per_s": replayed / rebuilding}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[dict]] = {"sealed": [], "plaintext": []}
    with tempfile.TemporaryDirectory() as work:
        for n in range(args.rounds):
            for name, on in (("sealed", True), ("plaintext", False)):
                folder = Path(work) / f"{name}-{n}"
                folder.mkdir()
                results[name].append(one_round(args.users, on, folder))
    summary = {
        name: {key: round(statistics.median(r[key] for r in rounds)) for key in rounds[0]}
        for name, rounds in results.items()
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
