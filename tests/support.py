"""Helpers the tests share: make apps, look straight into the SQLite file, feed the projector,
drive the modules' APIs, follow their pages and check their problems."""

import shutil
from collections.abc import Iterator
from contextlib import closing, contextmanager
from urllib.parse import parse_qs, urlsplit

from hypothesis import HealthCheck

from app import create_app, eventlog
from app.db import dispose, is_read_table, transaction
from tests.engines import database_config, drop_databases_of_removed_directories, plain_connection

#: For property tests that take a function-scoped fixture (an app, a client) on purpose, its
#: state carried from example to example; at any speed, as conftest's profile says.
SHARED_FIXTURE = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"  # well formed, and no seed or test makes it
BACON_ID = "12a33c84-ee60-45a1-848d-428ad3259abc"
JOHN_DOE_ID = "12a33c84-ee60-45a1-848d-428ad3259abc"  # seed 001 reuses seed 000's id, in another stream
JOHN_DOE = {
    "id": JOHN_DOE_ID,
    "firstName": "John",
    "lastName": "Doe",
    "address": {"id": JOHN_DOE_ID, "street": "1234 Main Street", "zip": "02112", "city": "Boston"},
}


def make_app(directory, **config):
    """An app on the database of ``directory`` (a pathlib.Path; new the first time), with ``config`` on top."""
    return create_app({**database_config(directory), **config})


@contextmanager
def example_app(tmp_path_factory, **config) -> Iterator:
    """An app on a new database for one example of a property test, gone with its folder when the
    block ends: a test's hundred examples would otherwise keep a hundred databases to its end."""
    folder = tmp_path_factory.mktemp("example")
    app = make_app(folder, **config)
    try:
        yield app
    finally:
        with app.app_context():
            dispose()
        shutil.rmtree(folder)
        drop_databases_of_removed_directories()


def query(app, sql: str, *params) -> list[tuple]:
    """Rows from the app's database, read with a plain connection (no role, no wall); ``?`` placeholders."""
    with closing(plain_connection(app.config)) as conn:
        return conn.execute(sql, params).fetchall()


def tables(app) -> list[str]:
    """The names of the app's tables."""
    if app.config.get("DATABASE_URL"):
        return [name for (name,) in query(app, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    return [name for (name,) in query(app, "SELECT name FROM sqlite_schema WHERE type = 'table'")]


# PostgreSQL's catalogue of a schema: columns, keys and checks, indexes, triggers, GRANTs.
PG_SHAPE = [
    "SELECT table_name, column_name, data_type, column_default, is_nullable, ordinal_position"
    " FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2",
    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1",
    "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2",
    "SELECT table_name, grantee, privilege_type FROM information_schema.role_table_grants"
    " WHERE table_schema = 'public' AND grantee LIKE 'cqrs_%' ORDER BY 1, 2, 3",
]


def shape(config: dict) -> list:
    """The schema as the engine describes it: what an upgrade must leave equal to the baseline's."""
    with closing(plain_connection(config)) as conn:
        if config.get("DATABASE_URL"):
            return [conn.execute(sql).fetchall() for sql in PG_SHAPE]
        tables = conn.execute(
            "SELECT name, strict, wr FROM pragma_table_list WHERE schema = 'main' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        ).fetchall()
        columns = {
            name: conn.execute(
                f"SELECT cid, name, type, \"notnull\", dflt_value, pk FROM pragma_table_xinfo('{name}')"
            ).fetchall()
            for name, *_ in tables
        }
        others = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE type IN ('index', 'trigger')")
        # An index or trigger as written, in any layout: the same words.
        written = sorted(
            (kind, name, table, " ".join((sql or "").replace("IF NOT EXISTS ", "").split()))
            for kind, name, table, sql in others
        )
        return [tables, columns, written]


def as_schema_version_1(conn) -> None:
    """Undo what the schema's versions 2 and 3 added (on a plain_connection): the database as a
    build from before versions were kept left it. The caller commits."""
    conn.execute("DROP TABLE schema_migrations")
    conn.execute("ALTER TABLE projection_checkpoints DROP COLUMN version")
    conn.execute("DROP TABLE personal_data_keys")
    conn.execute("DROP INDEX idempotency_keys_by_person")
    conn.execute("ALTER TABLE idempotency_keys DROP COLUMN person_type")
    conn.execute("ALTER TABLE idempotency_keys DROP COLUMN person_id")


def indexes(app) -> set[str]:
    """The names of the app's indexes."""
    if app.config.get("DATABASE_URL"):
        return {name for (name,) in query(app, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    return {name for (name,) in query(app, "SELECT name FROM sqlite_schema WHERE type = 'index'")}


def read_model(app) -> dict[str, list[tuple]]:
    """Every read table's rows (checkpoints' error columns aside), sorted, by table name."""
    snapshot = {}
    for table in sorted(t for t in tables(app) if is_read_table(t)):
        columns = "name, position" if table == "projection_checkpoints" else "*"
        snapshot[table] = sorted(query(app, f"SELECT {columns} FROM {table}"))
    return snapshot


def events(app) -> list[tuple]:
    """The log as (position, stream_type, stream_id, version, type), in position order."""
    return query(app, "SELECT position, stream_type, stream_id, version, type FROM events ORDER BY position")


def last_payload(app) -> str:
    """The newest event's payload, as stored: compact JSON text."""
    return query(app, "SELECT payload FROM events ORDER BY position DESC LIMIT 1")[0][0]


def last_data(app) -> str:
    """The newest event's payload as the log reads it (personal fields opened): compact JSON text."""
    from app.db import transaction
    from app.eventlog import head, read_after

    with app.app_context(), transaction("projector", read_only=True) as tx:
        return read_after(tx, head(tx) - 1, 1)[0].payload


@contextmanager
def nothing_changes(app) -> Iterator[None]:
    """Assert that neither the event log nor any read table changed inside the block."""
    before = (events(app), read_model(app))
    yield
    assert (events(app), read_model(app)) == before


def assert_problem(response, status: int, *fields: str) -> dict:
    """Assert ``response`` is a problem+json of ``status`` whose ``errors`` name each of ``fields``;
    returns the problem."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == status
    for field in fields:
        assert field in problem["errors"]
    return problem


def next_link(response) -> str | None:
    """The URL in the response's ``Link: <…>; rel="next"``, or None on the last page."""
    link = response.headers.get("Link")
    if link is None:
        return None
    url, rel = link.split("; ")
    assert rel == 'rel="next"'
    return url.strip("<>")


def all_pages(client, url: str) -> tuple[list, int]:
    """Every row served by following the Link headers from ``url``, and how many pages it took;
    each page answers 200 with no more rows than its ``limit``."""
    rows, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        page = response.get_json()
        for limit in parse_qs(urlsplit(url).query).get("limit", []):
            assert len(page) <= int(limit)
        rows += page
        url, pages = next_link(response), pages + 1
    return rows, pages


def project(app, *stream: tuple[str, str, int, object]) -> None:
    """Append events, each as (stream type, stream id, version, event), as a command would, then
    let the projector apply them."""
    with app.app_context():
        with transaction("command") as tx:
            for stream_type, stream_id, version, data in stream:
                eventlog.append(tx, stream_type, stream_id, version, data, None)
        app.extensions["projector"].catch_up()


def create_item(client, **fields) -> dict:
    body = {"name": "Eggs", "description": "A dozen", **fields}
    response = client.post("/items", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def employee_body(**fields) -> dict:
    """A valid POST/PUT /employees body; ``street``, ``zip`` and ``city`` go into the address."""
    address = {"street": "1 Elm Street", "zip": "12345", "city": "Springfield"}
    address.update({k: fields.pop(k) for k in ("street", "zip", "city") if k in fields})
    return {"firstName": "Jane", "lastName": "Roe", "address": address, **fields}


def create_employee(client, **fields) -> dict:
    response = client.post("/employees", json=employee_body(**fields))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def create_user(client, **fields) -> dict:
    body = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", **fields}
    response = client.post("/users", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


class Ids:
    """Ids of a user, an item, an order and a device, each made through the API on first use;
    a mapping, so that ``"/orders/{order}".format_map(ids)`` makes only the order."""

    def __init__(self, client):
        self.client, self.made = client, {}

    def __getitem__(self, name: str) -> str:
        # Imported here: both modules build on this one.
        from tests.device_support import create_device
        from tests.order_support import an_order, priced_item

        if name not in self.made:
            self.made[name] = {
                "user": lambda: create_user(self.client),
                "item": lambda: priced_item(self.client),
                "order": lambda: an_order(self.client),
                "device": lambda: create_device(self.client, name="Target"),
            }[name]()["id"]
        return self.made[name]


def projector_stopped(app, monkeypatch) -> None:
    """As if the process died right after each command's commit: its events reach no projection
    (neither inside the command's transaction nor in the catch-up after it) until a restart."""
    from app.bus import events_recorded

    projector = app.extensions["projector"]
    events_recorded.disconnect(projector.on_events_recorded, sender=app)
    monkeypatch.setattr(projector, "catch_up_or_log", lambda reason, force=False: None)
