"""What `colony-bot console` tells a newcomer when a line cannot run: every hint must be a line that
runs, and times must read as Discord shows them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.console import ConsoleError, parse
from bot.discord.haul import HaulCog
from bot.render.plain import plain


def _refusal(line: str) -> str:
    with pytest.raises(ConsoleError) as caught:
        parse(line, group="haul", cog=HaulCog)
    return str(caught.value)


def test_a_bare_haul_line_suggests_only_haul_commands_that_exist() -> None:
    message = _refusal("/haul")
    suggested = re.findall(r"/haul (\w+)", message)
    unknown = [name for name in suggested if "Unknown command" in _refusal_or_ok(f"/haul {name}")]
    assert unknown == [], message  # "/haul help" is suggested, and answered "Unknown command /haul help"


def _refusal_or_ok(line: str) -> str:
    try:
        parse(line, group="haul", cog=HaulCog)
    except ConsoleError as exc:
        return str(exc)
    return ""


def test_a_missing_tonnes_hint_is_a_line_that_parses() -> None:
    message = _refusal("/haul claim steel")  # the README's `/haul claim steel tonnes:500` without tonnes
    example = message.split("e.g. ", 1)[1].rstrip(".")
    # The hint "/haul claim <tonnes>" puts the tonnes where the commodity goes: typed as shown
    # ("/haul claim 500"), it is refused again with the same hint.
    filled = re.sub(r"<(\w+)>", lambda m: "steel" if m.group(1) == "commodity" else "500", example)
    assert parse(filled, group="haul", cog=HaulCog).options.get("tonnes") == "500", message


def test_a_claim_made_now_with_a_4_hour_lifetime_reads_in_4_hours() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    expires = now + timedelta(hours=4) - timedelta(seconds=1)  # rendered a moment after the claim
    # Discord shows <t:...:R> rounded ("in 4 hours"); the console floors it to "in 3 hours", so the
    # reply to `/haul claim` contradicts `/haul expiry` ("Claims expire after 4 hours").
    assert plain(f"<t:{int(expires.timestamp())}:R>", now=now) == "in 4 hours"
