"""The change feed: after each committed batch, the sites it changed, to whoever listens.

Publishers (the intake) never wait: each subscriber has a bounded queue, and a subscriber too slow
to keep up loses its oldest pending items (counted in `dropped`). Every item carries the whole new
site view, so a consumer that skipped some can always show the current state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import NamedTuple

from bot.views import SiteView


class Delivery(NamedTuple):
    """One ledger entry a batch added: a commander's hand-in of one commodity, at game time `at`."""

    commander: str
    commodity: str
    tonnes: int
    at: datetime


@dataclass(frozen=True, slots=True)
class SiteChange:
    guild_id: int
    site: SiteView
    # The view before the batch; None when the site is new, or was not shown since the bot started.
    previous: SiteView | None
    # The hand-ins the batch added to this site, with their game times: a returning uploader's
    # days-old deliveries are history, not news.
    deliveries: tuple[Delivery, ...] = ()

    @property
    def market_id(self) -> int:
        return self.site.market_id

    @property
    def became_complete(self) -> bool:
        return self.site.complete and (self.previous is None or not self.previous.complete)


class FeedClosedError(Exception):
    """The feed was closed (the bot is stopping)."""


_CLOSED = object()


class Subscription:
    """An async iterator of change lists (one list per committed batch), for one guild or all."""

    def __init__(self, feed: ChangeFeed, guild_id: int | None, maxsize: int) -> None:
        self.guild_id = guild_id
        self.dropped = 0
        self._feed = feed
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize)
        self._closed = False

    def _offer(self, item: object) -> None:
        if self._closed:
            return
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()
                self.dropped += 1

    async def get(self) -> list[SiteChange]:
        if self._closed and self._queue.empty():
            raise FeedClosedError
        item = await self._queue.get()
        if item is _CLOSED:
            self._closed = True
            raise FeedClosedError
        assert isinstance(item, list)
        return item

    def close(self) -> None:
        self._feed._unsubscribe(self)
        self._offer(_CLOSED)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> list[SiteChange]:
        try:
            return await self.get()
        except FeedClosedError:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ChangeFeed:
    def __init__(self, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._subscribers: list[Subscription] = []
        self.closed = False

    def subscribe(self, guild_id: int | None = None) -> Subscription:
        """Changes of one guild (or every guild with None), from now on."""
        sub = Subscription(self, guild_id, self._queue_size)
        if self.closed:
            sub._offer(_CLOSED)
        else:
            self._subscribers.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)

    def publish(self, changes: Sequence[SiteChange]) -> None:
        if not changes or self.closed:
            return
        for sub in list(self._subscribers):
            chosen = [c for c in changes if sub.guild_id is None or c.guild_id == sub.guild_id]
            if chosen:
                sub._offer(chosen)

    def close(self) -> None:
        """Ends every subscription: iterators stop after the items already queued."""
        self.closed = True
        for sub in list(self._subscribers):
            sub.close()
