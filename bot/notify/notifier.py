"""What the app tells when sites change: a `Notifier` protocol, a console one, and the runner.

The runner consumes the change feed in its own task, off the request path: a slow or failing
notifier (Discord rate limits) never delays or fails an upload.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import Protocol, TextIO

from bot.notify.feed import ChangeFeed, FeedClosedError, SiteChange, Subscription

logger = logging.getLogger(__name__)


class Notifier(Protocol):
    async def sites_changed(self, changes: Sequence[SiteChange]) -> None:
        """Called once per committed batch with the sites it changed (all of one guild or several)."""
        ...


def printable(text: str | None, limit: int = 120) -> str:
    """A name as the game wrote it, made safe for a terminal: no control characters, bounded length."""
    if text is None:
        return "?"
    clean = "".join(ch if ch.isprintable() else "\N{REPLACEMENT CHARACTER}" for ch in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"


def describe(change: SiteChange) -> str:
    site = change.site
    remaining = site.remaining_total
    if change.became_complete:
        state = "COMPLETE"
    elif site.failed:
        state = "FAILED"
    else:
        state = f"{site.progress:.1%}, {remaining:,} t to go"
    before = ""
    if change.previous is not None and not change.became_complete:
        delta = site.progress - change.previous.progress
        if delta:
            before = f" ({delta:+.2%})"
    return (
        f"[guild {change.guild_id}] {printable(site.system_name)} / {printable(site.station_name)} "
        f"(market {site.market_id}): {state}{before}"
    )


class ConsoleNotifier:
    """Offline mode: prints what would be posted to Discord."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout

    async def sites_changed(self, changes: Sequence[SiteChange]) -> None:
        for change in changes:
            print(describe(change), file=self.stream, flush=True)


class NotifierRunner:
    """Feeds every notifier from one subscription to the change feed, in a background task."""

    def __init__(self, feed: ChangeFeed, notifiers: Sequence[Notifier]) -> None:
        self.feed = feed
        self.notifiers = list(notifiers)
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sub = self.feed.subscribe()
        self._task = asyncio.create_task(self._run(self._sub), name="colony-notifier")

    async def _run(self, sub: Subscription) -> None:
        while True:
            try:
                changes = await sub.get()
            except FeedClosedError:
                return
            for notifier in self.notifiers:
                try:
                    await notifier.sites_changed(changes)
                except Exception:
                    logger.exception(
                        "notifier %s failed on %d changes", type(notifier).__name__, len(changes)
                    )

    async def stop(self) -> None:
        """Delivers what is already queued, then ends."""
        if self._sub is not None:
            self._sub.close()
        if self._task is not None:
            await self._task
            self._task = None
