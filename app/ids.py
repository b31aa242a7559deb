"""Identifiers: the UUID text every id takes, and new ids for aggregates and events, of
version 7 (RFC 9562).

A version 7 UUID starts with its creation time in milliseconds, then 74 random bits.
Ids made in a later millisecond sort after earlier ones (within one, in random order), so
each new row lands at the end of the indexes keyed by id (items, the event log, the read
tables) rather than on a random page: a commit writes fewer pages to the WAL and reads
fewer from a cold cache. They are still plain UUIDs to clients, but anyone who sees an id
can read when it was made, to the millisecond (the event feed shows that time anyway).
"""

import os
import re
import time

_VERSION = 0x7 << 76
_VARIANT = 0b10 << 62  # RFC 9562's variant
_KEEP = ~(0xF << 76) & ~(0b11 << 62)  # every bit but those of the version and the variant
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_uuid(text: str) -> bool:
    """Whether ``text`` is a UUID's 36-character form (any version, either case)."""
    return _UUID.match(text) is not None


def new_id() -> str:
    """A new UUID version 7, made now."""
    return uuid7(time.time_ns() // 1_000_000, int.from_bytes(os.urandom(10), "big"))


def uuid7(milliseconds: int, random_bits: int) -> str:
    """The UUID version 7 of a Unix time in milliseconds and 80 random bits (6 of them give
    way to the version and the variant), as its 36-character text (formatted here:
    uuid.UUID's checks and formatting cost more than the rest of the work)."""
    if not 0 <= milliseconds < 1 << 48 or not 0 <= random_bits < 1 << 80:
        raise ValueError(f"not a 48-bit time and 80 random bits: {milliseconds}, {random_bits}")
    text = f"{(milliseconds << 80 | random_bits) & _KEEP | _VERSION | _VARIANT:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
