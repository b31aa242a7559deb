"""Lists of values in SQL that SQLite and PostgreSQL both take: one named parameter per value.

Neither engine's way of binding a whole list (SQLite's json_each, PostgreSQL's arrays) is
the other's; ``IN (:v0, :v1)`` is both's, and each list length is one more statement text.
"""

from collections.abc import Iterable


def named(values: Iterable, prefix: str) -> dict:
    """The values as parameters ``{prefix}0``, ``{prefix}1``, …, in order."""
    return {f"{prefix}{n}": value for n, value in enumerate(values)}


def in_list(params: dict) -> str:
    """The inside of ``IN (…)`` for ``named`` parameters; NULL for none, which matches nothing."""
    return ", ".join(f":{key}" for key in params) or "NULL"
