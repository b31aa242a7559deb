"""Lists of values bound one parameter each, as both engines take them."""

import sqlite3
from contextlib import closing

import pytest

from app.sql_lists import in_list, named


@pytest.mark.parametrize(("values", "found"), [(["b", "c", "x"], ["b", "c"]), ([], [])], ids=["some", "none"])
def test_an_in_list_matches_exactly_the_values_given(values, found):
    params = named(values, "v")
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.execute("CREATE TABLE t (name TEXT)")
        conn.executemany("INSERT INTO t VALUES (?)", [("a",), ("b",), ("c",)])
        rows = conn.execute(f"SELECT name FROM t WHERE name IN ({in_list(params)}) ORDER BY name", params)
        assert [name for (name,) in rows] == found
