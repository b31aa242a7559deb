"""The details projections build their documents by hand; each must be byte for byte what the
module's marshmallow schema dumps (command replies and as_of reads use the schema)."""

from dataclasses import asdict

from hypothesis import given
from hypothesis import strategies as st

from app.documents import encode, render
from app.messages.employees import (
    EMPLOYEE,
    EMPLOYEE_SUMMARY,
    EmployeeHired,
    address,
    employee_document,
    employee_summary,
)
from app.messages.items import ITEM, ITEM_SUMMARY, ItemCreated, item_document, item_summary
from app.messages.orders import ORDER, order_reply
from app.messages.users import USER, UserRegistered, user_document

ids = st.uuids().map(str)
text = st.text(max_size=30)  # any code point: the JSON must keep them alike too
cents = st.integers(min_value=0, max_value=100_000_000_000)
moments = st.datetimes().map(lambda moment: moment.isoformat() + "Z")


@given(ids, st.builds(ItemCreated, text, text, st.none() | cents))
def test_an_item_document_is_what_the_schema_dumps(item_id, item):
    assert item_document(item_id, item) == render(ITEM, item_id, asdict(item))


@given(ids, text)
def test_an_items_entry_in_the_list_is_what_the_schema_dumps(item_id, name):
    assert item_summary(item_id, name) == render(ITEM_SUMMARY, item_id, {"name": name})


@given(ids, text, text)
def test_an_employees_entry_in_the_list_is_what_the_schema_dumps(employee_id, name, city):
    assert employee_summary(employee_id, name, city) == render(
        EMPLOYEE_SUMMARY, employee_id, {"name": name, "city": city}
    )


@given(ids, st.builds(EmployeeHired, text, text, st.builds(address, text, text, text)))
def test_an_employee_document_is_what_the_schema_dumps(employee_id, employee):
    assert employee_document(employee_id, employee) == render(EMPLOYEE, employee_id, asdict(employee))


@given(ids, st.builds(UserRegistered, text, text, text))
def test_a_user_document_is_what_the_schema_dumps(user_id, user):
    assert user_document(user_id, user) == render(USER, user_id, asdict(user))


quantities = st.integers(1, 1000)
line = {"item_id": ids, "name": text, "quantity": quantities, "unit_price_cents": cents, "line_total_cents": cents}
states = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["placed", "shipped", "cancelled"]),
        "placed_at": moments,
        "lines": st.lists(st.fixed_dictionaries(line), min_size=1, max_size=3),
        "total_cents": cents,
    },
    optional={"shipped_at": st.none() | moments, "cancelled_at": st.none() | moments, "cancellation_reason": text},
)
users = st.fixed_dictionaries({"id": ids, "name": st.none() | text, "email": st.none() | text})


@given(ids, states, users)
def test_an_order_document_is_what_the_schema_dumps(order_id, state, user):
    assert encode(order_reply(order_id, state, user)) == render(ORDER, order_id, {**state, "user": user})
