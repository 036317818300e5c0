"""The `/haul` commands in `colony-bot console`: typed like Discord's input (`/haul claim steel
tonnes:500 site:Vela Vision`), answered by the same `HaulReplies` the Discord callbacks use; the
option names are read from the `/haul` cog, so the console cannot drift from what Discord shows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.console import Caller, ConsoleError, parse
from bot.discord.haul import HaulCog
from bot.discord.haul_replies import HaulReplies
from bot.render.reply import Reply

GROUP = "haul"
_YES = {"true", "yes", "1", "on"}
_NO = {"false", "no", "0", "off", ""}


def _flag(name: str, value: str) -> bool:
    word = value.strip().lower()
    if word in _YES or word in _NO:
        return word in _YES
    raise ConsoleError(f"{name} is true or false, not {value!r}.")


def _tonnes(value: str) -> int:
    try:
        return int(value.strip().replace(",", ""))
    except ValueError:
        raise ConsoleError(f"tonnes is a whole number, not {value!r}.") from None


def _hours(value: str) -> float:
    try:
        return float(value.strip())
    except ValueError:
        raise ConsoleError(f"hours is a number, not {value!r}.") from None


async def run_haul(haul: HaulReplies, line: str, caller: Caller) -> Reply:
    parsed = parse(line, group=GROUP, cog=HaulCog)
    o = parsed.options
    g, user = caller.guild_id, caller.user_id

    async def plan() -> Reply:
        reply, _ = await haul.plan(g, user, o.get("site"))
        return reply  # the button has no console form: `/haul claim` takes the suggested line

    handlers: dict[str, Callable[[], Awaitable[Reply]]] = {
        "board": lambda: haul.board(g, user, o.get("target")),
        "mine": lambda: haul.mine(g, user),
        "plan": plan,
        "claim": lambda: haul.claim(g, user, o["commodity"], _tonnes(o["tonnes"]), o.get("site")),
        "release": lambda: haul.release(g, user, o.get("claim")),
        "carrier": lambda: haul.carrier(
            g,
            o["carrier"],
            o.get("site"),
            remove=_flag("remove", o.get("remove", "")),
            can_manage=caller.can_manage,
        ),
        "expiry": lambda: haul.expiry(
            g, _hours(o["hours"]) if o.get("hours") else None, can_manage=caller.can_manage
        ),
    }
    return await handlers[parsed.command]()
