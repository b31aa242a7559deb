"""Marshmallow fields that more than one module's contract uses."""

from decimal import Decimal, InvalidOperation

from marshmallow import ValidationError, fields


class Trimmed(fields.String):
    """A string with surrounding whitespace removed before it is validated and stored."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


def money(cents: int) -> int | float:
    """An amount in cents as the JSON number replies show: whole amounts as integers (4, not 4.0)."""
    return cents // 100 if cents % 100 == 0 else cents / 100


def money_sql(column: str) -> str:
    """``money`` in SQL, for replies that the database renders with json_object()."""
    return f"CASE WHEN {column} % 100 = 0 THEN {column} / 100 ELSE CAST({column} AS DOUBLE PRECISION) / 100 END"


class Amount(fields.Field):
    """An amount of money as replies show it: integer cents inside, a JSON number outside."""

    def _serialize(self, value: int | None, attr, obj, **kwargs):
        return None if value is None else money(value)


class Money(Amount):
    """An amount with at most two decimals: a JSON number outside, integer cents inside.

    Cents keep arithmetic exact (3 x 0.10 is 0.30); the upper bound keeps every amount,
    and any order total built from them, exactly representable as a JSON number.
    """

    MAXIMUM = Decimal("1000000.00")
    default_error_messages = {
        "invalid": "Must be a number.",
        "range": "Must be from 0 to 1000000.",
        "places": "Must have at most two decimal places.",
    }

    def _deserialize(self, value, attr, data, **kwargs) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise self.make_error("invalid")
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            raise self.make_error("invalid") from None
        if not amount.is_finite():
            raise self.make_error("invalid")
        if not 0 <= amount <= self.MAXIMUM:
            raise self.make_error("range")
        if amount.as_tuple().exponent < -2 and amount != amount.quantize(Decimal("0.01")):
            raise self.make_error("places")
        return int(amount * 100)


__all__ = ["Amount", "Money", "Trimmed", "ValidationError", "money", "money_sql"]
