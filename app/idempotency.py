"""Idempotency keys: a retried command gets the first attempt's response, never a second run.

A client sends ``Idempotency-Key`` with a POST, PUT or DELETE. The key, a fingerprint
of the request (method, path, body) and the response are stored in the command's own
write transaction, so a crash can never keep the effects without the key, or the key
without the effects. Because that transaction holds SQLite's write lock from the
lookup to the commit, a retry that arrives while the first attempt runs waits for it
and then replays its response: the command cannot run twice.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Response

from app.current import this_request
from app.db import Tx
from app.errors import Problem
from app.times import iso, utc_now

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_KEPT_HEADERS = ("Content-Type", "Location", "ETag", "Log-Position")
PURGE_BATCH = 100


@dataclass(frozen=True)
class Attempt:
    """A request that carries an idempotency key."""

    key: str
    fingerprint: str


class KeyReused(Problem):
    """422: an Idempotency-Key first used for a different request."""

    def __init__(self):
        super().__init__(
            422,
            "This Idempotency-Key was already used for a different request (method, path or body); use a new key.",
            title="Idempotency-Key reused",
        )


def attempt_of_request() -> Attempt | None:
    """The current request's key and fingerprint; None without a key, 400 for a malformed key."""
    asked = this_request()
    key = asked.environ.get("HTTP_IDEMPOTENCY_KEY")  # not headers: their misses raise and catch
    if key is None:
        return None
    if not _KEY.match(key):
        raise Problem(400, "Idempotency-Key must be 1 to 255 visible ASCII characters.", title="Invalid header")
    digest = hashlib.sha256()
    for part in (asked.method.encode(), asked.path.encode(), asked.get_data()):
        digest.update(len(part).to_bytes(8, "big") + part)
    return Attempt(key, digest.hexdigest())


def replay(tx: Tx, attempt: Attempt) -> Response | None:
    """The stored response for this key, or None if it is new or expired.

    422 if the key was first used for a different request.
    """
    row = tx.first(
        "SELECT fingerprint, status, headers, body FROM idempotency_keys WHERE key = :key AND expires_at > :now",
        key=attempt.key,
        now=utc_now(),
    )
    if row is None:
        return None
    if row.fingerprint != attempt.fingerprint:
        raise KeyReused()
    headers = json.loads(row.headers)
    response = Response(row.body, status=row.status, headers=headers)
    if "Content-Type" not in headers:
        del response.headers["Content-Type"]  # a 204 had none: not the text/html Response would claim
    response.headers["Idempotent-Replayed"] = "true"
    return response


def remember(tx: Tx, attempt: Attempt, response: Response, ttl: timedelta) -> None:
    """Store the response under the key, in the command's transaction; purge a few expired keys."""
    now = datetime.now(UTC)
    tx.execute(
        "DELETE FROM idempotency_keys WHERE key IN"
        " (SELECT key FROM idempotency_keys WHERE expires_at <= :now ORDER BY expires_at LIMIT :n)",
        now=iso(now),
        n=PURGE_BATCH,
    )
    headers = {name: response.headers[name] for name in _KEPT_HEADERS if name in response.headers}
    person_type, person_id = getattr(tx, "person", None) or (None, None)  # erasing them deletes the record
    tx.execute(
        "INSERT INTO idempotency_keys (key, fingerprint, status, headers, body, created_at, expires_at,"
        " person_type, person_id)"
        " VALUES (:key, :fingerprint, :status, :headers, :body, :created_at, :expires_at, :person_type, :person_id)"
        " ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, status = excluded.status,"
        " headers = excluded.headers, body = excluded.body, created_at = excluded.created_at,"
        " expires_at = excluded.expires_at, person_type = excluded.person_type, person_id = excluded.person_id",
        person_type=person_type,
        person_id=person_id,
        key=attempt.key,
        fingerprint=attempt.fingerprint,
        status=response.status_code,
        headers=json.dumps(headers),
        body=response.get_data(),
        created_at=iso(now),
        expires_at=iso(now + ttl),
    )
