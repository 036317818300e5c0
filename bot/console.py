"""`colony-bot console`: type `/colony status Col 285 Sector GF-F b12-5` and read the reply as text.

The answers come from the same `ColonyReplies` methods the Discord callbacks call, and the command
and option names are read from the `/colony` cog itself, so the console cannot drift from what
Discord shows. Options are typed like Discord's own input: `name:value` pairs, or just the value of
the first option (`/colony site Vela Vision`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from discord import app_commands
from discord.ext import commands

from bot.discord.colony import ColonyCog
from bot.discord.haul_replies import HaulReplies
from bot.discord.replies import ColonyReplies, CommandError
from bot.ids import typed_id
from bot.render import embeds
from bot.render.plain import message_text
from bot.render.reply import Reply

GROUP = "colony"


class ConsoleError(Exception):
    """A line the console cannot run; the message says how to write it."""


@dataclass(frozen=True, slots=True)
class Parsed:
    command: str
    options: dict[str, str]


def command_options(cog: type[commands.GroupCog] = ColonyCog) -> dict[str, tuple[tuple[str, bool], ...]]:
    """Each subcommand's options of a command group (`/colony` by default) as (name, required), in
    Discord's order."""
    table: dict[str, tuple[tuple[str, bool], ...]] = {}
    for command in cog.__cog_app_commands__:
        if isinstance(command, app_commands.Command):
            table[command.name] = tuple((p.name, p.required) for p in command.parameters)
    return table


def _unquoted(value: str) -> str:
    """A value typed in quotes, as a shell user would: the quotes are not part of it."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'" and value[0] not in value[1:-1]:
        return value[1:-1].strip()
    return value


def parse(line: str, *, group: str = GROUP, cog: type[commands.GroupCog] = ColonyCog) -> Parsed:
    text = line.strip()
    match = re.match(rf"^/?{group}\s+(\S+)\s*(.*)$", text, flags=re.IGNORECASE | re.DOTALL)
    table = command_options(cog)
    if match is None:
        example = "board" if group == "haul" else "status"
        more = f"/{group} help" if "help" in table else f"one of {', '.join(sorted(table))}"
        raise ConsoleError(f"Commands start with /{group}, e.g. /{group} {example} or {more}.")
    name, rest = match.group(1).lower(), match.group(2).strip()
    if name not in table:
        raise ConsoleError(f"Unknown command /{group} {name}: one of {', '.join(sorted(table))}.")
    allowed = [option for option, _ in table[name]]
    options: dict[str, str] = {}
    # `name:value` for any of this command's options; anything before the first is the first option.
    found = list(re.finditer(r"(?:^|\s)([a-z_]+):", rest))
    quoted = [q.span() for q in re.finditer(r"\"[^\"]*\"|'[^']*'", rest)]
    first = next((m.start() for m in found if m.group(1) in allowed), len(rest))
    # Before the first real option, `word:` is the bare first value's ("orbital construction
    # site: vela", autocomplete's "system:NAME"); after it, a misspelt option.
    stray = [
        m.group(1)
        for m in found
        if m.start() > first
        and m.group(1) not in allowed
        and not any(a < m.start(1) < b for a, b in quoted)
    ]
    if stray and allowed:
        # Taken as text, `sitee:Vela` would have gone into the option before it, unseen.
        raise ConsoleError(
            f"/{group} {name} has no option {stray[0]}: its options are {', '.join(allowed)}."
        )
    marks = [m for m in found if m.group(1) in allowed]
    head = rest[: marks[0].start()].strip() if marks else rest
    if head:
        if not allowed:
            raise ConsoleError(f"/{group} {name} takes no options.")
        options[allowed[0]] = _unquoted(head)
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(rest)
        options[m.group(1)] = _unquoted(rest[m.end() : end].strip())
    missing = [option for option, required in table[name] if required and not options.get(option)]
    if missing:
        # The example is a line that parses: the first option bare, the others named.
        needed = [option for option, required in table[name] if required]
        example = " ".join(f"<{o}>" if o == allowed[0] else f"{o}:<{o}>" for o in needed)
        raise ConsoleError(f"/{group} {name} needs {', '.join(missing)}: e.g. /{group} {name} {example}.")
    return Parsed(name, options)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who the console speaks as: a guild, a user, the channel commands are typed in."""

    guild_id: int
    user_id: int = 1
    user_name: str = "console"
    channel_id: int = 1
    can_manage: bool = True  # the operator at the console runs the server


def _channel(value: str | None, default: int) -> int:
    if not value:
        return default
    channel_id = typed_id(value.strip().removeprefix("<#").removesuffix(">").lstrip("#"))
    if channel_id is None:
        raise ConsoleError(f"A channel is its numeric id (e.g. 123456789012345678), not {value!r}.")
    return channel_id


async def run(replies: ColonyReplies, parsed: Parsed, caller: Caller) -> Reply:
    o = parsed.options
    g = caller.guild_id
    handlers: dict[str, Callable[[], Awaitable[Reply]]] = {
        "status": lambda: replies.status(g, o.get("system")),
        "site": lambda: replies.site(g, o["site"]),
        "needs": lambda: replies.needs(g, o.get("target")),
        "contributors": lambda: replies.contributors(g, o.get("site"), o.get("period") or "all"),
        "carrier": lambda: replies.carrier(g, o.get("carrier")),
        "link": lambda: replies.link(g, caller.user_id, caller.user_name),
        "unlink": lambda: replies.unlink(g, caller.user_id),
        "follow": lambda: replies.follow(
            g, _channel(o.get("channel"), caller.channel_id), o["target"], can_manage=caller.can_manage
        ),
        "unfollow": lambda: replies.unfollow(
            g, _channel(o.get("channel"), caller.channel_id), o.get("target"), can_manage=caller.can_manage
        ),
    }
    if parsed.command == "help":
        return replies.help()
    return await handlers[parsed.command]()


async def execute(
    replies: ColonyReplies,
    line: str,
    caller: Caller,
    *,
    now: datetime | None = None,
    haul: HaulReplies | None = None,
) -> str:
    """One typed line to the text a user would read (errors included, as Discord would show them)."""
    try:
        if haul is not None and re.match(r"^/?haul\b", line.strip(), flags=re.IGNORECASE):
            from bot.haul_console import run_haul  # the /haul commands (bot/haul_console.py)

            reply = await run_haul(haul, line, caller)
        else:
            reply = await run(replies, parse(line), caller)
    except (ConsoleError, CommandError) as exc:
        reply = Reply.of(embeds.error_embed(str(exc)), ephemeral=True)
    text = message_text(reply.content, reply.embeds, now=now or datetime.now(UTC))
    return f"(only you can see this)\n{text}" if reply.ephemeral else text
