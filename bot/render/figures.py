"""Pure numbers derived for the replies from the core's read models: delivery rates, ETAs, trips.
No I/O."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.views import LeaderboardEntry

RATE_WINDOW = timedelta(hours=24)


def commodity_name(name: str, localised: str | None) -> str:
    return localised or name.replace("_", " ").title()


def rate_per_hour(recent: Sequence[LeaderboardEntry], window: timedelta = RATE_WINDOW) -> float:
    """Tonnes per hour, from the leaderboard of one site over the last `window`."""
    return sum(e.tonnes for e in recent) / (window.total_seconds() / 3600)


def eta(remaining: int, per_hour: float, now: datetime) -> datetime | None:
    """When the site would be done at `per_hour`; None without a rate (nothing to extrapolate)."""
    if remaining <= 0 or per_hour <= 0:
        return None
    hours = remaining / per_hour
    if hours > 24 * 365 * 10:  # beyond any meaningful horizon; also keeps datetime in range
        return None
    return now + timedelta(hours=hours)


def trips(remaining: int, capacity: int) -> int:
    return -(-remaining // capacity) if capacity > 0 else 0
