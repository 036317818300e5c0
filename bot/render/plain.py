"""Embeds as plain text, for the offline console and offline channel updates."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

import discord

from bot.render.text import BIDI_CONTROLS

_STAMP = re.compile(r"<t:(-?\d+)(?::([tTdDfFR]))?>")
_ESCAPED = re.compile(r"\\([*_`~|>\[\]()#\-.\\])")
_EMPHASIS = re.compile(r"\*\*|~~|`")


# (below this many seconds, unit, its seconds): rounded to the nearest unit, as Discord shows
# `<t:N:R>` ("in 4 hours" for a claim of 4 hours made a second ago, not "in 3 hours").
_UNITS = ((45, "second", 1), (45 * 60, "minute", 60), (22 * 3600, "hour", 3600), (float("inf"), "day", 86400))


def _ago(seconds: float) -> str:
    value = abs(seconds)
    _, unit, size = next(u for u in _UNITS if value < u[0])
    count = max(1, round(value / size)) if size > 1 else round(value)
    words = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"in {words}" if seconds > 0 else f"{words} ago"


# Control characters but the newline (C0, DEL, C1), and bidi overrides and isolates.
_CONTROL = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{BIDI_CONTROLS}]")


def plain(text: str, *, now: datetime) -> str:
    """Discord markup as a terminal shows it: timestamps spelled out, escapes and emphasis removed."""

    def stamp(match: re.Match[str]) -> str:
        try:
            when = datetime.fromtimestamp(int(match.group(1)), tz=UTC)
        except (OverflowError, OSError, ValueError):  # not a time any clock reaches: left as written
            return match.group(0)
        if match.group(2) == "R":
            return _ago((when - now).total_seconds())
        return when.strftime("%Y-%m-%d %H:%M UTC")

    text = _STAMP.sub(stamp, text)
    text = _EMPHASIS.sub("", text)
    text = _ESCAPED.sub(r"\1", text).replace("\u200b", "")
    # Names come from any token holder: an escape sequence (ESC, BEL...) must not reach the
    # operator's terminal, where it could clear the screen, retitle it or fake output.
    return _CONTROL.sub("\N{REPLACEMENT CHARACTER}", text.replace("\t", " "))


def embed_text(embed: discord.Embed, *, now: datetime) -> str:
    lines: list[str] = []
    if embed.author.name:
        lines.append(plain(embed.author.name, now=now))
    if embed.title:
        title = plain(embed.title, now=now)
        lines += [title, "=" * min(len(title), 78)]
    if embed.description:
        lines.append(plain(embed.description, now=now))
    for field in embed.fields:
        lines += ["", f"## {plain(field.name or '', now=now)}", plain(field.value or "", now=now)]
    if embed.footer.text:
        lines += ["", f"-- {plain(embed.footer.text, now=now)}"]
    return "\n".join(lines)


def message_text(content: str | None, embeds: Iterable[discord.Embed], *, now: datetime) -> str:
    parts = [plain(content, now=now)] if content else []
    parts += [embed_text(e, now=now) for e in embeds]
    return "\n\n".join(parts)
