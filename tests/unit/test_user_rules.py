"""The user's input rules, checked on the schema alone (no app, no database)."""

import pytest
from marshmallow import ValidationError

from app.messages.users import USER, email_key


def load(**fields) -> dict:
    return USER.load({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", **fields})


def errors_of(**body) -> dict:
    with pytest.raises(ValidationError) as caught:
        USER.load(body)
    return caught.value.normalized_messages()


def test_a_valid_body_loads_as_given():
    assert load() == {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}


def test_names_are_trimmed_before_they_are_stored():
    assert load(first_name="  Ada ", last_name="\tLovelace\n") == load()


@pytest.mark.parametrize("field", ["first_name", "last_name", "email"])
def test_every_field_is_required(field):
    body = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}
    del body[field]
    assert errors_of(**body) == {field: ["Missing data for required field."]}


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, " " + "x" * 101])
@pytest.mark.parametrize("field", ["first_name", "last_name"])
def test_a_name_must_have_1_to_100_characters_after_trimming(field, name):
    assert field in errors_of(**{"first_name": "Ada", "last_name": "Lovelace", "email": "a@b.io", field: name})


def test_a_name_of_100_characters_is_accepted():
    assert load(first_name="x" * 100, last_name="y" * 100)["last_name"] == "y" * 100


def test_the_email_is_kept_exactly_as_given():
    assert load(email="Ada.Lovelace@Example.COM")["email"] == "Ada.Lovelace@Example.COM"


@pytest.mark.parametrize(
    "email", ["", "ada", "ada@", "@example.com", "ada@example", "ada@@example.com", " ada@example.com", "a b@c.io"]
)
def test_an_email_must_be_a_valid_address(email):
    assert errors_of(first_name="Ada", last_name="Lovelace", email=email) == {"email": ["Not a valid email address."]}


def test_an_email_has_at_most_254_characters():
    domain = ".".join(["b" * 61, "c" * 61, "d" * 61, "com"])
    longest = "a" * 64 + "@" + domain
    assert len(longest) == 254 and load(email=longest)
    assert errors_of(first_name="Ada", last_name="Lovelace", email="a" + longest) == {
        "email": ["Longer than maximum length 254."]
    }


@pytest.mark.parametrize("value", [None, 5, True, ["x"], {"a": 1}])
def test_every_field_must_be_a_string(value):
    assert set(errors_of(first_name=value, last_name=value, email=value)) == {"first_name", "last_name", "email"}


def test_unknown_fields_and_a_client_chosen_id_are_rejected():
    assert errors_of(first_name="Ada", last_name="L", email="a@b.io", role="admin") == {"role": ["Unknown field."]}
    assert errors_of(first_name="Ada", last_name="L", email="a@b.io", id="x") == {"id": ["Unknown field."]}


def test_emails_that_differ_only_in_case_share_one_key():
    assert email_key("Ada@Example.COM") == email_key("ada@example.com") == "ada@example.com"
    assert email_key("ÄDA@bücher.de") == email_key("äda@BÜCHER.DE")
