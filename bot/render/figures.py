"""Pure numbers derived from sites and deliveries for the replies: shopping lists, leaderboards,
delivery rates and ETAs. No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.render.models import DeliveryView
from bot.views import SiteView

RATE_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Need:
    commodity: str
    name: str
    remaining: int
    sites: int


@dataclass(frozen=True, slots=True)
class Leader:
    commander: str
    tonnes: int
    deliveries: int


def commodity_name(name: str, localised: str | None) -> str:
    return localised or name.replace("_", " ").title()


def needs(sites: Iterable[SiteView]) -> list[Need]:
    """What is still to be delivered across `sites` (finished or failed ones excluded), biggest first."""
    remaining: dict[str, int] = {}
    names: dict[str, str] = {}
    count: dict[str, int] = {}
    for site in sites:
        if site.complete or site.failed:
            continue
        for c in site.commodities:
            if c.remaining <= 0:
                continue
            remaining[c.name] = remaining.get(c.name, 0) + c.remaining
            count[c.name] = count.get(c.name, 0) + 1
            names.setdefault(c.name, commodity_name(c.name, c.name_localised))
    rows = [Need(k, names[k], v, count[k]) for k, v in remaining.items()]
    return sorted(rows, key=lambda r: (-r.remaining, r.commodity))


def leaderboard(deliveries: Iterable[DeliveryView], *, since: datetime | None = None,
                market_ids: set[int] | None = None) -> list[Leader]:
    tonnes: dict[str, int] = {}
    times: dict[str, int] = {}
    for d in deliveries:
        if since is not None and d.at < since:
            continue
        if market_ids is not None and d.market_id not in market_ids:
            continue
        tonnes[d.commander] = tonnes.get(d.commander, 0) + d.tonnes
        times[d.commander] = times.get(d.commander, 0) + 1
    rows = [Leader(k, v, times[k]) for k, v in tonnes.items()]
    return sorted(rows, key=lambda r: (-r.tonnes, -r.deliveries, r.commander))


def rate_per_hour(deliveries: Iterable[DeliveryView], market_id: int, now: datetime,
                  window: timedelta = RATE_WINDOW) -> float:
    """Tonnes per hour delivered at one site over the last `window`."""
    since = now - window
    total = sum(d.tonnes for d in deliveries if d.market_id == market_id and since <= d.at <= now)
    return total / (window.total_seconds() / 3600)


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


def top_recent(deliveries: Sequence[DeliveryView], market_id: int, now: datetime,
               window: timedelta = RATE_WINDOW) -> Leader | None:
    rows = leaderboard(deliveries, since=now - window, market_ids={market_id})
    return rows[0] if rows else None
