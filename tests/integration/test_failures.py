"""A follower's failure on record: the wait before its retry doubles with each failure at
one event, and stays capped however long it goes on failing there."""

from datetime import datetime

import pytest

from app.db import transaction
from app.failures import MAX_BACKOFF, record_failure
from tests.support import query

# Each table with the role that writes it.
TABLES = [("projection_checkpoints", "projector"), ("process_checkpoints", "command")]


def fail(app, table: str, role: str, position: int, retry_seconds: float = 1.0) -> None:
    with app.app_context(), transaction(role) as tx:
        record_failure(tx, table, "follower", position, RuntimeError("still down"), retry_seconds)


def on_record(app, table: str) -> tuple[int, float]:
    """(failures in a row, seconds from the last one to its retry)."""
    count, failed_at, retry_at = query(app, f"SELECT error_count, failed_at, retry_at FROM {table} WHERE name = ?", "follower")[0]
    return count, (datetime.fromisoformat(retry_at) - datetime.fromisoformat(failed_at)).total_seconds()


@pytest.mark.parametrize(("table", "role"), TABLES)
def test_the_wait_doubles_per_failure_at_one_event_and_starts_over_at_another(app, table, role):
    fail(app, table, role, 7)
    assert on_record(app, table) == (1, 1.0)
    fail(app, table, role, 7)
    fail(app, table, role, 7)
    assert on_record(app, table) == (3, 4.0)
    fail(app, table, role, 8)
    assert on_record(app, table) == (1, 1.0)


@pytest.mark.parametrize(("table", "role"), TABLES)
def test_a_follower_failing_for_days_is_still_recorded_and_waits_at_most_max_backoff(app, table, role):
    fail(app, table, role, 7)
    with app.app_context(), transaction(role) as tx:
        tx.execute(f"UPDATE {table} SET error_count = 1000 WHERE name = 'follower'")  # 2 ** 1000 s overflows
    fail(app, table, role, 7)
    assert on_record(app, table) == (1001, MAX_BACKOFF.total_seconds())


def test_only_the_followers_checkpoint_tables_take_a_failure(app):
    with pytest.raises(ValueError, match="checkpoint"):
        fail(app, "items", "command", 7)
