"""Cursors: a sort key in, the same key out, and nothing of another shape."""

import pytest

from app.errors import Problem
from app.pagination import decode_cursor, encode_cursor


@pytest.mark.parametrize(("key", "types"), [(("Eggs", "0b7e"), (str, str)), (("2026-11-23", 7, 0), (str, int, int))])
def test_a_cursor_decodes_to_the_sort_key_it_was_made_of(key, types):
    assert decode_cursor(encode_cursor(key), types) == key


@pytest.mark.parametrize(
    ("key", "types"),
    [((1, "0b7e"), (str, str)), (("1",), (int,)), ((True,), (int,)), (("2026-11-23", "7", 0), (str, int, int))],
    ids=["a number for text", "text for a number", "a boolean for a number", "text for a position"],
)
def test_a_cursor_with_a_value_of_another_type_than_its_sort_key_is_refused(key, types):
    with pytest.raises(Problem) as refused:
        decode_cursor(encode_cursor(key), types)
    assert refused.value.status == 400
