"""The item's input rules, checked on the schema alone (no app, no database)."""

from decimal import Decimal

import pytest
from marshmallow import ValidationError

from app.messages.items import ITEM


def load(**body):
    return ITEM.load({"name": "Eggs", "description": "A dozen", **body})


def errors_of(**body) -> dict:
    with pytest.raises(ValidationError) as caught:
        ITEM.load(body)
    return caught.value.normalized_messages()


def test_a_name_is_trimmed_before_it_is_stored():
    assert load(name="  Eggs \n")["name"] == "Eggs"


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, " " + "x" * 201])
def test_a_name_must_have_1_to_200_characters_after_trimming(name):
    assert "name" in errors_of(name=name, description="")


def test_a_name_of_200_characters_is_accepted():
    assert load(name="x" * 200)["name"] == "x" * 200


def test_a_description_may_be_empty_and_is_kept_verbatim():
    assert load(description="")["description"] == ""
    assert load(description="  spaced  ")["description"] == "  spaced  "


def test_a_description_is_required_and_at_most_2000_characters():
    assert errors_of(name="Eggs")["description"] == ["Missing data for required field."]
    assert "description" in errors_of(name="Eggs", description="x" * 2001)
    assert load(description="x" * 2000)


@pytest.mark.parametrize("value", [None, 5, True, ["x"], {"a": 1}])
def test_name_and_description_must_be_strings(value):
    assert set(errors_of(name=value, description=value)) == {"name", "description"}


def test_price_is_optional_and_null_means_unset():
    assert load()["price_cents"] is None
    assert load(price=None)["price_cents"] is None


@pytest.mark.parametrize(
    ("price", "cents"),
    [(0, 0), (12, 1200), (Decimal("12.5"), 1250), (Decimal("0.10"), 10), (Decimal("1.500"), 150), (1000000, 100000000)],
)
def test_a_price_is_kept_exactly_in_cents(price, cents):
    assert load(price=price)["price_cents"] == cents


@pytest.mark.parametrize("price", [-1, Decimal("-0.01"), Decimal("1000000.01"), Decimal("1.234"), "12.50", True])
def test_a_price_must_be_a_number_from_0_to_a_million_with_two_decimals(price):
    assert "price" in errors_of(name="Eggs", description="", price=price)


def test_unknown_fields_and_a_client_chosen_id_are_rejected():
    assert errors_of(name="Eggs", description="", colour="red") == {"colour": ["Unknown field."]}
    assert errors_of(name="Eggs", description="", id="x") == {"id": ["Unknown field."]}


def test_a_reply_shows_the_price_only_when_it_was_set():
    item = {"id": "i", "name": "Eggs", "description": "", "price_cents": None}
    assert ITEM.dump(item) == {"id": "i", "name": "Eggs", "description": ""}
    assert ITEM.dump({**item, "price_cents": 0})["price"] == 0
    assert ITEM.dump({**item, "price_cents": 1250})["price"] == 12.5
    assert ITEM.dump({**item, "price_cents": 1})["price"] == 0.01
