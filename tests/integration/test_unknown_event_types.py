"""An event whose type, or version of its type, no code here knows (written by newer code,
or sent by another service) stops every projection at it, on record: never passed over
without a word."""

from contextlib import closing

import pytest

from tests.engines import plain_connection
from tests.support import create_item, query


@pytest.mark.parametrize(
    "type_name, schema_version, error",
    [("ItemTeleported", 1, "UnknownEventType"), ("ItemCreated", 9, "UnknownSchemaVersion")],
)
def test_every_projection_fails_at_an_event_it_cannot_read_and_stays_before_it(
    app, client, type_name, schema_version, error
):
    create_item(client, name="Eggs")
    with closing(plain_connection(app.config)) as conn:
        conn.execute(
            "INSERT INTO events (event_id, stream_type, stream_id, version, type, schema_version, payload, occurred_at)"
            f" VALUES ('e0000000-0000-4000-8000-000000000001', 'item', 'i-1', 1, '{type_name}', {schema_version},"
            """ '{"name":"Eggs","description":"","price_cents":null}', '2026-12-06T00:00:00.000000Z')"""
        )
        conn.commit()
    (unknown,) = query(app, "SELECT max(position) FROM events")[0]
    with app.app_context():
        app.extensions["projector"].catch_up(force=True)
    statuses = client.get("/projections").get_json()
    assert {s["state"] for s in statuses} == {"failing"}
    assert {(s["checkpoint"], s["last_error"]["position"]) for s in statuses} == {(unknown - 1, unknown)}
    assert {s["last_error"]["type"] for s in statuses} == {error}
    assert client.get("/readyz").status_code == 503
