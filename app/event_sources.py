"""Where the projector reads the events it applies: this database's own log, or, in a
following query service (FOLLOW_URL), another service's event feed.

Both answer the same two questions, for the projector's catch-up and the rebuild alike:
the events after a position (in position order, at most ``limit``) and how far the log goes.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Collection
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from app import eventlog
from app.eventlog import Recorded
from app.times import utc_now

if TYPE_CHECKING:
    from app.db import Tx


class LocalLog:
    """The events table of this database."""

    def read_after(self, tx: Tx, position: int, limit: int, types: Collection[str] | None = None) -> list[Recorded]:
        return eventlog.read_after(tx, position, limit, types)

    def head(self, tx: Tx) -> int:
        return eventlog.head(tx)



class SourceError(Exception):
    """The source service could not be read, or answered what is not a page of its feed."""


# What each event of a page must carry, with its type: anything else is a malformed page.
_ENVELOPE = {
    "position": int,
    "event_id": str,
    "stream_type": str,
    "stream_id": str,
    "version": int,
    "type": str,
    "schema_version": int,
    "data": dict,
    "occurred_at": str,
}
_MAY_BE_NULL = ("correlation_id", "causation_id")


PAGE = 1000  # events asked of the source at a time: its PAGE_SIZE_MAX by default


class Feed:
    """Another service's ``GET /events`` (its base URL, and a bearer token if its queries need one).

    ``head`` is how far the source's log went when last read: the ``Log-Position`` its feed
    answered with (its read model's position, which commits with its commands). ``types`` are
    not asked of the source: the feed filters one type at a time, and a projection passes
    over the types it does not handle anyway.
    """

    def __init__(self, base_url: str, token: str = "", timeout: float = 10):
        self.base_url, self.token, self.timeout = base_url, token, timeout
        self.seen_head = self.last_read = 0  # the source's Log-Position, and the last event read, when last asked

    def read_after(
        self, tx: Tx | None, position: int, limit: int, types: Collection[str] | None = None, wait: float = 0
    ) -> list[Recorded]:
        """Up to ``limit`` events after ``position``, in pages the source serves; when there are
        none yet, waiting up to ``wait`` seconds for some."""
        events: list[Recorded] = []
        while len(events) < limit:
            asked = min(limit - len(events), PAGE)
            page = self._page(events[-1].position if events else position, asked, 0 if events else wait)
            events += page
            if len(page) < asked:
                break
        return events

    def _page(self, position: int, limit: int, wait: float) -> list[Recorded]:
        query = {"after": position, "limit": limit, **({"wait": int(wait)} if wait else {})}
        request = urllib.request.Request(f"{self.base_url}/events?{urlencode(query)}")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout + wait) as response:
                body, head = response.read(), response.headers.get("Log-Position", "")
        except urllib.error.HTTPError as error:
            raise SourceError(f"{self.base_url}/events answered {error.code}") from None
        except (OSError, ValueError) as error:  # refused, reset, timed out, a bad URL
            raise SourceError(f"{self.base_url}/events could not be read: {error}") from None
        events = _page(body, position)
        self.last_read = events[-1].position if events else position
        self.seen_head = max(int(head) if head.isdigit() else 0, self.last_read)
        return events

    def head(self, tx: Tx) -> int:
        """How far the source's log went when this database last heard from it (any process)."""
        return max(self.seen_head, tx.scalar("SELECT coalesce(max(head), 0) FROM projection_source"))

    def contacted(self, tx: Tx) -> None:
        """Note that the source answered, and how far its log went (in the transaction that
        applies what it sent)."""
        tx.execute(_CONTACTED, name=SOURCE, url=self.base_url, head=self.seen_head, now=utc_now())

    def unreachable(self, tx: Tx, error: SourceError) -> None:
        """Note that the source could not be read, since when, and why."""
        tx.execute(_UNREACHABLE, name=SOURCE, url=self.base_url, error=str(error), now=utc_now())

    def problem(self, tx: Tx) -> str | None:
        """Why this database is not following its source now, if it is not."""
        row = tx.first("SELECT error, failing_since FROM projection_source WHERE name = :name", name=SOURCE)
        if row is None:
            return f"{self.base_url} has not been read yet"
        return f"{row.error} (since {row.failing_since})" if row.error else None


SOURCE = "feed"
_CONTACTED = """
INSERT INTO projection_source (name, url, head, contacted_at) VALUES (:name, :url, :head, :now)
ON CONFLICT (name) DO UPDATE SET url = excluded.url, head = excluded.head,
    contacted_at = excluded.contacted_at, error = NULL, failing_since = NULL
"""
_UNREACHABLE = """
INSERT INTO projection_source (name, url, error, failing_since) VALUES (:name, :url, :error, :now)
ON CONFLICT (name) DO UPDATE SET url = excluded.url, error = excluded.error,
    failing_since = coalesce(projection_source.failing_since, excluded.failing_since)
"""


def _page(body: bytes, after: int) -> list[Recorded]:
    """The page's events as Recorded; SourceError unless it is a JSON list of whole events
    after ``after`` in rising position order."""
    try:
        page = json.loads(body)
    except ValueError:
        raise SourceError("the source's feed answered what is not JSON") from None
    if not isinstance(page, list):
        raise SourceError("the source's feed answered what is not a list of events")
    events, last = [], after
    for item in page:
        if not isinstance(item, dict) or any(not isinstance(item.get(k), kind) for k, kind in _ENVELOPE.items()):
            raise SourceError(f"the source's feed sent a malformed event after position {last}")
        if any(item.get(k) is not None and not isinstance(item[k], str) for k in _MAY_BE_NULL):
            raise SourceError(f"the source's feed sent a malformed event after position {last}")
        if item["position"] <= last:
            raise SourceError(f"the source's feed sent position {item['position']} after {last}")
        last = item["position"]
        fields = {k: item[k] for k in _ENVELOPE if k != "data"}
        events.append(
            Recorded(
                **fields,
                payload=eventlog.encode(item["data"]),
                correlation_id=item.get("correlation_id"),
                causation_id=item.get("causation_id"),
                fetched=True,
            )
        )
    return events
