"""New ids are UUID version 7: plain UUIDs to clients, in creation order for the indexes."""

import time
import uuid

import pytest

from app.ids import new_id, uuid7


def test_a_new_id_is_a_version_7_uuid_of_now():
    before = time.time_ns() // 1_000_000
    text = new_id()
    after = time.time_ns() // 1_000_000
    made = uuid.UUID(text)
    assert str(made) == text  # the canonical form: lowercase hex, 8-4-4-4-12
    assert made.version == 7 and made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after  # its first 48 bits: Unix time in milliseconds


def test_ids_made_in_later_milliseconds_sort_after_and_none_repeat():
    ids = []
    for _ in range(5):
        ids.extend(new_id() for _ in range(200))
        time.sleep(0.002)
    assert len(set(ids)) == len(ids)
    millisecond_blocks = [ids[i : i + 200] for i in range(0, len(ids), 200)]
    for earlier, later in zip(millisecond_blocks, millisecond_blocks[1:]):
        assert max(earlier) < min(later)


def test_uuid7_keeps_the_time_and_the_random_bits_but_those_of_the_version_and_variant():
    all_ones = (1 << 80) - 1
    made = uuid.UUID(uuid7(1_735_689_600_123, all_ones))
    assert made.version == 7 and made.variant == uuid.RFC_4122
    assert made.int >> 80 == 1_735_689_600_123
    assert made.int & all_ones == all_ones & ~(0xF << 76) & ~(0b11 << 62) | 0x7 << 76 | 0b10 << 62
    assert uuid.UUID(uuid7(1_735_689_600_123, 0)).int & all_ones == 0x7 << 76 | 0b10 << 62


def test_uuid7_refuses_what_does_not_fit_its_fields():
    for milliseconds, random_bits in ((1 << 48, 0), (-1, 0), (0, 1 << 80), (0, -1)):
        with pytest.raises(ValueError):
            uuid7(milliseconds, random_bits)
