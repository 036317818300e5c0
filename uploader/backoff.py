"""How long to wait before the next attempt: a pure function, so tests never sleep."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# A server may ask for a long pause; honour it, but never beyond a day (a clock or proxy gone wrong).
MAX_RETRY_AFTER = 24 * 3600.0


def backoff_delay(
    attempt: int,
    *,
    base: float = 1.0,
    cap: float = 300.0,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (0 for the first failure).

    Exponential with full jitter: uniform in [0, min(cap, base * 2**attempt)]. A `Retry-After` from
    the server wins: we wait at least that long (at most `MAX_RETRY_AFTER`).
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    # 2**attempt overflows floats past ~1000 attempts; the cap is long reached by then.
    ceiling = cap if attempt >= 64 else min(cap, base * (2.0**attempt))
    delay = rand() * ceiling
    if retry_after is not None:
        delay = max(delay, min(max(retry_after, 0.0), MAX_RETRY_AFTER))
    return delay


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """A `Retry-After` header (delta-seconds or HTTP-date) as seconds from `now`; None if absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max((when - now).total_seconds(), 0.0)
