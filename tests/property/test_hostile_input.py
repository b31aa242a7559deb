"""Whatever a client sends, the answer is never a 5xx, and an error is problem+json: any body
to a command route, any cursor to a list, any as_of to a read."""

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.device_support import create_device
from tests.order_support import an_order
from tests.support import BACON_ID, JOHN_DOE_ID, SHARED_FIXTURE

ROUTES = [
    ("POST", "/items"),
    ("PUT", f"/items/{BACON_ID}"),
    ("POST", "/employees"),
    ("PUT", f"/employees/{JOHN_DOE_ID}"),
    ("POST", "/users"),
    ("PUT", "/users/{user}"),
    ("POST", "/devices"),
    ("POST", "/devices/{device}/telemetry"),
    ("POST", "/orders"),
    ("POST", "/orders/{order}/cancel"),
]
FIELDS = ["name", "description", "price", "firstName", "lastName", "address", "street", "zip", "city",
          "first_name", "last_name", "email", "id", "kind", "readings", "metric", "value", "recorded_at",
          "user_id", "lines", "item_id", "quantity", "reason"]

# Text with lone surrogates, which json.dumps sends as \ud800-style escapes.
surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
unpaired = st.lists(st.characters() | surrogates, min_size=1, max_size=6).map("".join)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(), unpaired,
    st.sampled_from(["' OR 1=1 --", "\x00\x01\x1b[31m", "\u202e\ufeff", "🥓" * 300, "a@b.c", "x" * 5000, "1e999"]),
)
keys = st.text(max_size=5) | unpaired
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3), max_leaves=8
)
bodies = st.dictionaries(st.sampled_from(FIELDS) | unpaired, values, max_size=6) | values


@pytest.fixture
def ids(client) -> dict:
    """Ids for the paths that need them: an order (its user, its item) and a device."""
    order = an_order(client)
    return {"order": order["id"], "user": order["user"]["id"], "device": create_device(client)["id"]}


@settings(max_examples=150, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(route=st.sampled_from(ROUTES), body=bodies)
def test_any_json_body_gets_an_answer_below_500(client, ids, route, body):
    method, path = route
    response = client.open(path.format(**ids), method=method, data=json.dumps(body), content_type="application/json")
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"


@settings(max_examples=100, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(route=st.sampled_from(ROUTES), raw=st.binary(max_size=200))
def test_any_bytes_get_an_answer_below_500(client, ids, route, raw):
    method, path = route
    response = client.open(path.format(**ids), method=method, data=raw, content_type="application/json")
    assert response.status_code < 500


# ---------------------------------------------------------------- cursors and as_of

LISTS = [
    ("/items", {}), ("/employees", {}), ("/users", {}), ("/orders", {}), ("/users/{user}/orders", {}),
    (f"/items/{BACON_ID}/history", {}), ("/devices", {}), ("/devices/{device}/telemetry", {"metric": "t"}),
    ("/telemetry/stats", {}),
]


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).rstrip(b"=").decode()


keys_of_cursors = st.lists(
    st.one_of(st.text(), unpaired, st.integers(), st.none(), st.booleans(), st.floats()), max_size=4
)
cursors = st.one_of(
    st.text(),
    keys_of_cursors.map(lambda key: cursor_of(json.dumps(key))),
    st.integers(1, 5000).map(lambda depth: cursor_of("[" * depth + "]" * depth)),
    st.integers(1, 5000).map(lambda depth: cursor_of('{"a":' * depth + "1" + "}" * depth)),
    st.integers(3000, 20_000).map(lambda length: cursor_of(json.dumps(["x" * length, "y"]))),
)


@settings(max_examples=150, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(path=st.sampled_from(LISTS), cursor=cursors)
def test_any_cursor_gets_an_answer_below_500(client, ids, path, cursor):
    path, args = path
    response = client.get(path.format(**ids), query_string={**args, "limit": 1, "cursor": cursor})
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"


def zoned(moment: datetime, minutes: int) -> str:
    return moment.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat()


edges = st.sampled_from([datetime.min, datetime.max, datetime(1, 1, 1, 23, 59), datetime(9999, 12, 31)])
times = st.one_of(st.datetimes(), edges)
as_ofs = st.one_of(
    st.builds(zoned, times, st.integers(-1439, 1439)),
    st.builds(lambda moment: moment.isoformat() + "Z", times),
    st.integers(min_value=0).map(str),
    st.text(),
)


@settings(max_examples=150, deadline=None, suppress_health_check=SHARED_FIXTURE)
@given(path=st.sampled_from([f"/items/{BACON_ID}", f"/employees/{JOHN_DOE_ID}", "/users/{user}"]), as_of=as_ofs)
def test_any_as_of_gets_an_answer_below_500(client, ids, path, as_of):
    response = client.get(path.format(**ids), query_string={"as_of": as_of})
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"
