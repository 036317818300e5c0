"""Typed keys for what the app and each request carry."""

from __future__ import annotations

from aiohttp import web

from bot.http.ratelimit import RateLimiter
from bot.notify.feed import Subscription
from bot.services.bundle import Services
from bot.settings import Settings
from bot.store.tokens import TokenRecord


class OpenStreams:
    """The live streams' subscriptions: ended when the server shuts down (they would hold it for
    its whole timeout), while the change feed itself stays open for the uploads still finishing
    and the notifier, which the bot closes after them."""

    def __init__(self) -> None:
        self.closed = False
        self._subs: set[Subscription] = set()

    def add(self, sub: Subscription) -> None:
        self._subs.add(sub)
        if self.closed:
            sub.close()

    def discard(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def close(self) -> None:
        self.closed = True
        for sub in list(self._subs):
            sub.close()


SERVICES = web.AppKey("services", Services)
SETTINGS = web.AppKey("settings", Settings)
LIMITER = web.AppKey("limiter", RateLimiter)
STARTED = web.AppKey("started", float)
MODE = web.AppKey("mode", str)
STREAMS = web.AppKey("streams", OpenStreams)
TOKEN = web.RequestKey("token", TokenRecord)  # the authenticated token of a request

PUBLIC = frozenset({"health"})  # route names served without a token

__all__ = [
    "LIMITER",
    "MODE",
    "PUBLIC",
    "SERVICES",
    "SETTINGS",
    "STARTED",
    "STREAMS",
    "TOKEN",
    "OpenStreams",
    "TokenRecord",
]
