"""Numbers typed by people (a MarketID, a claim number, a channel id): what is one, and its value.

`str.isdigit` also takes digits `int()` refuses ("²") and numbers SQLite cannot bind; every place
that turns user text into an id goes through `typed_id`, so such text is "not an id", not a crash.
"""

from __future__ import annotations

# 2**63 - 1, SQLite's largest integer, has 19 digits; Discord's snowflakes and MarketIDs fit.
MAX_DIGITS = 19


def typed_id(text: str) -> int | None:
    """The whole number `text` (ASCII digits, surrounding spaces ignored) if it can be an id."""
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS):
        return None
    value = int(text)
    return value if value < 2**63 else None
