"""The order's input rules, checked on the contract alone (no app, no database)."""

import pytest
from marshmallow import ValidationError

from app.messages.orders import CANCEL_ORDER, ORDER, item_count, load_place_order, merge_lines

USER = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
EGGS = "0b7e3c1a-4f0e-4d55-9a3b-6c2f1d8e9a10"
HAM = "12a33c84-ee60-45a1-848d-428ad3259abc"


def body(*lines, user_id=USER) -> dict:
    return {"user_id": user_id, "lines": [{"item_id": item, "quantity": q} for item, q in lines]}


def errors_of(raw: dict) -> dict:
    with pytest.raises(ValidationError) as caught:
        load_place_order(raw)
    return caught.value.normalized_messages()


def test_a_valid_body_loads_as_the_user_and_the_lines_as_sent():
    assert load_place_order(body((EGGS, 3), (HAM, 1))) == (USER, ((EGGS, 3), (HAM, 1)))


def test_ids_are_lower_cased_so_one_item_in_two_cases_is_one_item():
    user, lines = load_place_order(body((EGGS.upper(), 1), user_id=USER.upper()))
    assert (user, lines) == (USER, ((EGGS, 1),))


@pytest.mark.parametrize("field", ["user_id", "lines"])
def test_user_id_and_lines_are_required(field):
    raw = body((EGGS, 1))
    del raw[field]
    assert errors_of(raw) == {field: ["Missing data for required field."]}


@pytest.mark.parametrize("count", [0, 101])
def test_an_order_has_1_to_100_lines(count):
    lines = [(f"00000000-0000-4000-8000-{n:012d}", 1) for n in range(count)]
    assert list(errors_of(body(*lines))) == ["lines"]


def test_an_order_of_100_lines_is_accepted():
    lines = [(f"00000000-0000-4000-8000-{n:012d}", 1) for n in range(100)]
    assert len(load_place_order(body(*lines))[1]) == 100


@pytest.mark.parametrize("quantity", [0, -1, 1001, 1.5, 2.0, "3", True, None])
def test_a_quantity_is_an_integer_from_1_to_1000(quantity):
    assert list(errors_of(body((EGGS, 1), (HAM, quantity)))) == ["lines.1.quantity"]


@pytest.mark.parametrize("quantity", [1, 1000])
def test_quantities_1_and_1000_are_accepted(quantity):
    assert load_place_order(body((EGGS, quantity)))[1] == ((EGGS, quantity),)


@pytest.mark.parametrize("ident", ["42", "", "not-a-uuid", 7, None, EGGS + "0", "{" + EGGS + "}"])
def test_ids_must_be_uuids(ident):
    assert set(errors_of(body((ident, 1), user_id=ident))) == {"user_id", "lines.0.item_id"}


def test_errors_inside_lines_are_named_by_the_index_of_the_line_as_sent():
    raw = {"user_id": USER, "lines": [{"item_id": EGGS, "quantity": 1}, "eggs", {"item_id": HAM, "colour": "red"}]}
    assert errors_of(raw) == {
        "lines.1": ["Invalid input type."],
        "lines.2.quantity": ["Missing data for required field."],
        "lines.2.colour": ["Unknown field."],
    }


@pytest.mark.parametrize("field", ["id", "total", "status"])
def test_unknown_fields_are_refused(field):
    assert list(errors_of({**body((EGGS, 1)), field: "x"})) == [field]


def test_lines_of_one_item_are_merged_in_the_order_first_sent():
    assert merge_lines([(EGGS, 2), (HAM, 1), (EGGS, 3)]) == {EGGS: 5, HAM: 1}


def test_lines_of_one_item_may_not_add_up_to_more_than_1000():
    assert errors_of(body((EGGS, 600), (HAM, 1), (EGGS, 401))) == {
        "lines.2.quantity": ["With the earlier lines of this item, more than 1000 (lines of one item are merged)."]
    }


def test_lines_of_one_item_adding_up_to_1000_are_accepted():
    assert load_place_order(body((EGGS, 600), (EGGS, 400)))[1] == ((EGGS, 600), (EGGS, 400))


def test_the_item_count_adds_up_the_quantities():
    assert item_count([{"quantity": 3}, {"quantity": 2}]) == 5


def test_a_cancellation_reason_is_optional_and_trimmed():
    assert CANCEL_ORDER.load({}) == {"reason": "cancelled by customer"}
    assert CANCEL_ORDER.load({"reason": "  changed my mind "}) == {"reason": "changed my mind"}


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501, 7, None])
def test_a_cancellation_reason_has_1_to_500_characters(reason):
    with pytest.raises(ValidationError) as caught:
        CANCEL_ORDER.load({"reason": reason})
    assert list(caught.value.normalized_messages()) == ["reason"]


def test_money_leaves_as_exact_json_numbers():
    line = {"item_id": EGGS, "name": "Dime", "quantity": 3, "unit_price_cents": 10, "line_total_cents": 30}
    order = {
        "id": "o",
        "status": "placed",
        "placed_at": "t",
        "user": {"id": USER, "name": None, "email": None},
        "lines": [line],
        "total_cents": 100_000_000_000_00,
    }
    dumped = ORDER.dump(order)
    assert (dumped["lines"][0]["unit_price"], dumped["lines"][0]["line_total"]) == (0.1, 0.3)
    assert dumped["total"] == 100_000_000_000


def test_status_fields_appear_only_once_set():
    order = {
        "id": "o",
        "status": "placed",
        "placed_at": "t",
        "user": {"id": USER, "name": "A B", "email": "a@b.io"},
        "lines": [],
        "total_cents": 0,
    }
    assert list(ORDER.dump(order)) == ["id", "status", "placed_at", "user", "lines", "total"]
    cancelled = {**order, "status": "cancelled", "cancelled_at": "t2", "cancellation_reason": "why"}
    assert list(ORDER.dump(cancelled))[-2:] == ["cancelled_at", "cancellation_reason"]
