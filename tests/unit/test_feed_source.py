"""A following service reads pages of another service's feed: what it takes as a page, and
what it refuses (a SourceError, which the follower reports and retries) rather than apply."""

import json

import pytest

from app.event_sources import SourceError, _page

EVENT = {
    "position": 3,
    "event_id": "c0f7a1d2-5b1e-4c38-9a8e-000000000003",
    "stream_type": "item",
    "stream_id": "12a33c84-ee60-45a1-848d-428ad3259abc",
    "version": 2,
    "type": "ItemUpdated",
    "schema_version": 1,
    "data": {"name": "Bacon", "description": "Crisp", "price_cents": None},
    "occurred_at": "2026-12-06T00:00:00.000000Z",
    "correlation_id": "req-1",
    "causation_id": None,
}


def page(*events) -> bytes:
    return json.dumps(list(events)).encode()


def test_a_page_becomes_the_events_it_lists_with_their_payloads_as_stored():
    (event,) = _page(page(EVENT), after=2)
    assert (event.position, event.type, event.correlation_id, event.causation_id) == (3, "ItemUpdated", "req-1", None)
    assert event.payload == '{"name":"Bacon","description":"Crisp","price_cents":null}'
    assert event.fetched


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        b'{"type": "about:blank"}',
        page({**EVENT, "position": "3"}),
        page({**EVENT, "data": "{}"}),
        page({k: v for k, v in EVENT.items() if k != "event_id"}),
        page({**EVENT, "correlation_id": 7}),
        page(EVENT, EVENT),  # the same position twice
        page({**EVENT, "position": 2}),  # not after the position asked for
    ],
)
def test_what_is_not_a_page_of_whole_events_in_rising_positions_is_refused(body):
    with pytest.raises(SourceError):
        _page(body, after=2)
