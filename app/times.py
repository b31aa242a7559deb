"""Time as the service writes it: UTC text, ISO 8601 with microseconds and Z.

The text is fixed-width, so text order is time order: the log, the readings and every
``*_at`` column sort and compare as text.
"""

import re
from datetime import UTC, datetime

NOT_A_TIME = "Not a valid ISO 8601 date and time."
NO_TIMEZONE = "Must include a timezone, such as Z or +02:00."
OUT_OF_RANGE = "Must be a time from year 1 to 9999 in UTC."

# A time at UTC in the usual shapes ("...Z", "...+00:00", up to 6 decimals) becomes the text
# by slicing, without converting and formatting a datetime (telemetry parses thousands).
_AT_UTC = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,6}))?(?:Z|\+00:00)")


def iso(moment: datetime) -> str:
    """``moment`` (aware) as the service's UTC text."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def utc_now() -> str:
    """The current time as the service's UTC text."""
    return iso(datetime.now(UTC))


def parse_time(raw) -> str:
    """ISO 8601 text with a timezone, as the service's UTC text; ValueError with NOT_A_TIME,
    NO_TIMEZONE or OUT_OF_RANGE (a time whose UTC falls before year 1 or after 9999)."""
    if type(raw) is not str or len(raw) > 64:
        raise ValueError(NOT_A_TIME)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(NOT_A_TIME) from None
    if moment.tzinfo is None:
        raise ValueError(NO_TIMEZONE)
    at_utc = _AT_UTC.fullmatch(raw)
    if at_utc:
        return f"{at_utc[1]}.{(at_utc[2] or '').ljust(6, '0')}Z"
    try:
        return iso(moment)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError(OUT_OF_RANGE) from None
