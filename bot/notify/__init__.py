"""Telling people when sites change: the change feed, the `Notifier` protocol, the console notifier."""

from bot.notify.feed import ChangeFeed, FeedClosedError, SiteChange, Subscription
from bot.notify.notifier import ConsoleNotifier, Notifier, NotifierRunner

__all__ = [
    "ChangeFeed",
    "ConsoleNotifier",
    "FeedClosedError",
    "Notifier",
    "NotifierRunner",
    "SiteChange",
    "Subscription",
]
