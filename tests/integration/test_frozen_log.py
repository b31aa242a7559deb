"""Today's code replays the frozen logs of tests/frozen (made by the code of an earlier day,
each with the read model that code made of it): an event it can no longer read, or a read
model it would make differently, breaks an existing deployment and fails here."""

import difflib
import json
from contextlib import closing
from pathlib import Path

import pytest

from app.db import transaction
from app.eventlog import Event, erased, erasing_types, has_personal_data, read_after
from tests.engines import plain_connection
from tests.frozen.frozen_set import insert_events, read_events, read_model, read_read_model, stored_events

FROZEN = Path(__file__).resolve().parent.parent / "frozen"


@pytest.fixture(params=sorted(p for p in FROZEN.iterdir() if (p / "events.jsonl").is_file()), ids=lambda p: p.name)
def frozen(request) -> Path:
    """The folder of one frozen set (every set ever frozen, each named by the date of its code)."""
    return request.param


def load(app, folder: Path) -> list[dict]:
    """Append the frozen log to the app's new database, whose log holds only what its migrations
    seeded: those must be the frozen log's first events (same ids, payloads, times), and only the
    rest is appended, with their frozen positions. Returns the frozen events."""
    events = read_events(folder)
    with closing(plain_connection(app.config)) as conn:
        seeded = stored_events(conn)
        assert seeded == events[: len(seeded)], "the migrations seed other events than the frozen log's"
        insert_events(conn, events[len(seeded) :])
    return events


def expected(folder: Path) -> dict[str, list[dict]]:
    """The frozen read model as today's code should make it: as frozen, with each documented
    change applied to the frozen rows here, never in the frozen files.

    - Since issue 24 (erasure), deleting a user erases them: the histories, as_of and the feed
      (event_history_view) show their personal fields as placeholders, also for the users
      deleted before (app/projections/event_history.py).
    - order_details (version 2) counts each user's UserUpdated events in order_details_user_view,
      which a rebuild can still count once the user is erased (app/projections/order_details.py).
    - item_list and employee_list (version 2, issue 25) keep each row's entry of the list
      rendered, as the list answers it (``summary``)."""
    model = read_read_model(folder)
    updates: dict[str, int] = {}
    for event in read_events(folder):
        if event["type"] == "UserUpdated":
            updates[event["stream_id"]] = updates.get(event["stream_id"], 0) + 1
    for row in model["order_details_user_view"]:
        row["updates"] = updates.get(row["id"], 0)
    for row in model["item_list_view"]:
        row["summary"] = json.dumps({"id": row["id"], "name": row["name"]}, ensure_ascii=False, separators=(",", ":"))
    for row in model["employee_list_view"]:
        entry = {"id": row["id"], "name": row["name"], "city": row["city"]}
        row["summary"] = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
    erased_streams = {
        (row["stream_type"], row["stream_id"]) for row in model["event_history_view"] if row["type"] in erasing_types()
    }
    for row in model["event_history_view"]:
        if (row["stream_type"], row["stream_id"]) in erased_streams and has_personal_data(row["type"]):
            payload = erased(row["type"], row["schema_version"], json.loads(row["payload"]))
            row["payload"] = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return model


def assert_same_read_model(app, frozen_model: dict[str, list[dict]]) -> None:
    """The app's read model equals ``frozen_model``; else fail showing the first table that differs,
    a row a line. Documents are compared as their text: both engines store the text the Python
    code renders (json_object(), which PostgreSQL writes with spaces, only shapes query replies)."""
    with closing(plain_connection(app.config)) as conn:
        replayed = read_model(conn)
    for table in sorted(frozen_model.keys() | replayed.keys()):
        if replayed.get(table) != frozen_model.get(table):
            lines = difflib.unified_diff(
                _lines(frozen_model.get(table)), _lines(replayed.get(table)), "frozen", "replayed", lineterm=""
            )
            pytest.fail(f"{table} is not as frozen:\n" + "\n".join(lines), pytrace=False)


def _lines(rows: list[dict] | None) -> list[str]:
    return ["(no such table)"] if rows is None else [json.dumps(row, ensure_ascii=False) for row in rows]


def assert_no_projection_failing(app) -> None:
    with app.app_context():
        failing = {s["name"]: s["last_error"] for s in app.extensions["projector"].status() if s["last_error"]}
    assert not failing


def test_catching_up_on_the_frozen_log_makes_the_frozen_read_model(app, frozen):
    load(app, frozen)
    with app.app_context():
        app.extensions["projector"].catch_up(force=True)
    assert_no_projection_failing(app)
    assert_same_read_model(app, expected(frozen))


def test_rebuilding_from_the_frozen_log_makes_the_frozen_read_model(app, frozen):
    load(app, frozen)
    with app.app_context():
        app.extensions["projector"].rebuild()
    assert_no_projection_failing(app)
    assert_same_read_model(app, expected(frozen))


def test_every_frozen_event_is_read_as_an_event_of_todays_code(app, frozen):
    events = load(app, frozen)
    with app.app_context(), transaction("projector", read_only=True) as tx:
        recorded = read_after(tx, 0, len(events) + 1)
    assert [event.position for event in recorded] == [event["position"] for event in events]
    unreadable = {}
    for event in recorded:
        try:
            assert isinstance(event.data, Event)
        except Exception as error:  # noqa: BLE001 (every unreadable event is named, not only the first)
            unreadable[f"{event.position} {event.type} v{event.schema_version}"] = repr(error)
    assert not unreadable


def test_the_process_managers_pass_over_the_frozen_log_without_failing(app, frozen):
    events = load(app, frozen)
    with app.app_context():
        managers = app.extensions["process_managers"]
        managers.run(force=True)
        statuses = managers.status()
    assert [(s["name"], s["checkpoint"], s["last_error"]) for s in statuses] == [
        (s["name"], events[-1]["position"], None) for s in statuses
    ]
    # The write tables are new (empty): the deleted user has no placed order left to cancel
    # here, so each reaction reads its event and appends nothing.
    with closing(plain_connection(app.config)) as conn:
        assert stored_events(conn) == events
