"""A following query service (seed 003's Query service): its own database, kept up to date
from another service's event feed (FOLLOW_URL) instead of from a log of its own.

One process of those that share the database follows (the lead, as the process managers'
sweep has one): it asks the source for the events after its checkpoints, waiting up to
FOLLOW_WAIT_SECONDS for some (a long poll), and applies each page with its checkpoints in
one transaction (Projector.follow): every event once, in position order, across restarts
and lost connections. An unreachable source is retried after 0.5 s, then twice as long
each time up to 5 s, and logged once per outage; /readyz says why it is not ready.
"""

import logging
import threading
import time

from flask import Flask

from app.db import engine, transaction
from app.event_sources import SourceError

log = logging.getLogger(__name__)

FIRST_RETRY, LAST_RETRY = 0.5, 5.0
IDLE = 0.5  # between empty pages when FOLLOW_WAIT_SECONDS is 0 (no long poll)
PROGRESS_EVERY = 5.0


def follow_in_background(app: Flask, stop: threading.Event | None = None) -> threading.Thread:
    """Follow the source from a thread of this process while it holds the lead, until ``stop`` is set."""
    stop = stop or threading.Event()
    thread = threading.Thread(target=_follow, args=(app, stop), name="follower", daemon=True)
    thread.start()
    return thread


def _follow(app: Flask, stop: threading.Event) -> None:
    projector, wait = app.extensions["projector"], app.config["FOLLOW_WAIT_SECONDS"]
    source = projector.source
    with app.app_context():
        lead, pause, failing = engine().lead("follower"), 0.0, False
        progress = _Progress(source)
        while not stop.wait(pause):
            try:
                if not lead.held():
                    pause = LAST_RETRY
                    continue
                applied = projector.follow(wait)
                if failing:
                    log.info("following %s again", source.base_url)
                progress.applied(applied, full=applied >= projector.batch_size)
                pause, failing = (IDLE if not applied and not wait else 0.0), False
            except SourceError as error:
                if not failing:
                    log.warning("cannot follow %s: %s; retrying", source.base_url, error)
                failing, pause = True, min(max(2 * pause, FIRST_RETRY), LAST_RETRY)
                _note_unreachable(source, error)
            except Exception:  # this database away, or a bug: never a dead thread that follows no more
                if not failing:
                    log.exception("following %s failed; retrying", source.base_url)
                failing, pause = True, min(max(2 * pause, FIRST_RETRY), LAST_RETRY)
        lead.release()


class _Progress:
    """While catching up (pages come full), a log line every PROGRESS_EVERY seconds: how far, how fast."""

    def __init__(self, source):
        self.source, self.since, self.count, self.last_line = source, None, 0, 0.0

    def applied(self, events: int, full: bool) -> None:
        now = time.monotonic()
        if not full:
            if self.since is not None:
                total = self.count + events
                log.info("caught up with %s: %d events in %.1f s", self.source.base_url, total, now - self.since)
            self.since, self.count = None, 0
            return
        if self.since is None:
            self.since, self.last_line = now, now
        self.count += events
        if now - self.last_line >= PROGRESS_EVERY:
            self.last_line = now
            rate = self.count / max(now - self.since, 1e-9)
            log.info(
                "catching up with %s: at position %d of %d, %.0f events/s",
                self.source.base_url, self.source.last_read, self.source.seen_head, rate,
            )  # fmt: skip


def _note_unreachable(source, error: SourceError) -> None:
    try:
        with transaction("projector") as tx:
            source.unreachable(tx, error)
    except Exception:
        log.debug("could not note that the source is unreachable", exc_info=True)
