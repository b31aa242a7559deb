"""Whatever a client sends to a command route, the answer is never a 5xx, and an error is problem+json."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import BACON_ID, JOHN_DOE_ID

ROUTES = [
    ("POST", "/items"),
    ("PUT", f"/items/{BACON_ID}"),
    ("POST", "/employees"),
    ("PUT", f"/employees/{JOHN_DOE_ID}"),
    ("POST", "/users"),
]
FIELDS = ["name", "description", "price", "firstName", "lastName", "address", "street", "zip", "city",
          "first_name", "last_name", "email", "id"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(),
    st.sampled_from(["' OR 1=1 --", "\x00\x01\x1b[31m", "\u202e\ufeff", "🥓" * 300, "a@b.c", "x" * 5000, "1e999"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
bodies = st.dictionaries(st.sampled_from(FIELDS), values, max_size=6) | values


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), body=bodies)
def test_any_json_body_gets_an_answer_below_500(client, route, body):
    method, path = route
    response = client.open(path, method=method, data=json.dumps(body), content_type="application/json")
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), raw=st.binary(max_size=200))
def test_any_bytes_get_an_answer_below_500(client, route, raw):
    method, path = route
    response = client.open(path, method=method, data=raw, content_type="application/json")
    assert response.status_code < 500
