"""A follower's failure on record, shared by projections and process managers.

Both follow the log from a checkpoint row (``projection_checkpoints``,
``process_checkpoints``). When one fails on an event, the row keeps the failure beside
the checkpoint: its type and message (never a traceback), the event's position, how many
times in a row it failed there, when, and when to retry: after a backoff that doubles
with each failure on the same event, up to MAX_BACKOFF. Moving the checkpoint clears it.
"""

from datetime import UTC, datetime, timedelta

from app.personal_data import redacted
from app.db import Tx
from app.times import iso

MAX_BACKOFF = timedelta(minutes=5)
_CHECKPOINT_TABLES = ("projection_checkpoints", "process_checkpoints")

_RECORD = """
INSERT INTO {table}
    (name, error_type, error_message, error_position, error_count, failed_at, retry_at)
VALUES (:name, :type, :message, :position, 1, :now, :retry_at)
ON CONFLICT (name) DO UPDATE SET
    error_count = CASE WHEN {table}.error_position = excluded.error_position THEN {table}.error_count + 1 ELSE 1 END,
    error_type = excluded.error_type, error_message = excluded.error_message,
    error_position = excluded.error_position, failed_at = excluded.failed_at, retry_at = excluded.retry_at
"""


def record_failure(tx: Tx, table: str, name: str, position: int, error: Exception, retry_seconds: float) -> None:
    """Put on record in ``table`` that follower ``name`` failed on the event at ``position``."""
    if table not in _CHECKPOINT_TABLES:
        raise ValueError(f"{table} keeps no follower's checkpoint")
    before = tx.scalar(
        f"SELECT error_count FROM {table} WHERE name = :name AND error_position = :position",
        name=name,
        position=position,
    )
    now = datetime.now(UTC)
    # Capped as seconds first: a follower stuck for days doubles past what a timedelta holds.
    backoff = timedelta(seconds=min(retry_seconds * 2.0 ** min(before or 0, 64), MAX_BACKOFF.total_seconds()))
    tx.execute(
        _RECORD.format(table=table),
        name=name,
        type=type(error).__name__,
        message=redacted(str(error))[:500],  # a database error may quote a person's data
        position=position,
        now=iso(now),
        retry_at=iso(now + backoff),
    )


def last_error(row) -> dict | None:
    """The failure on record in a checkpoint row, as operators see it; None when there is none."""
    if not (row and row.error_count):
        return None
    return {
        "type": row.error_type,
        "message": row.error_message,
        "position": row.error_position,
        "retries": row.error_count,
        "failed_at": row.failed_at,
        "next_retry_at": row.retry_at,
    }
