"""Small text helpers shared by the embed builders: safe names, numbers, bars, timestamps."""

from __future__ import annotations

import re
from datetime import datetime

import discord

_WHITESPACE = re.compile(r"\s+")
# Bidi overrides, isolates and marks: they reverse the rest of a line ("CMDR Alice\u202e · 12 t"
# shows as "t 21 · ..."). Shared with `plain`, which shows them as replacement characters.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# Dropped from names before whitespace is collapsed: control characters but those `\s` takes for
# whitespace (\t-\r, \x1c-\x1f, \x85: they become a space), and bidi.
_INVISIBLE = re.compile(f"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f{BIDI_CONTROLS}]")
_INLINE_MARKDOWN = re.compile(r"([\\*_`~|\[\]])")
# Quote, heading, subtext and list markers only act at the start of a line.
_LINE_START_MARKDOWN = re.compile(r"^(>|#|-#|-(?= ))")
_ORDERED_LIST = re.compile(r"^(\d+)\.(?= )")


def safe(name: str | None, *, fallback: str = "unknown") -> str:
    """A game or user supplied name made inert: one line, markdown escaped, mentions broken."""
    text = _WHITESPACE.sub(" ", _INVISIBLE.sub("", name or "")).strip()
    if not text:
        return fallback
    # Not discord.utils.escape_markdown: it leaves whatever lies between a `[` and a later `)`
    # unescaped, so `[a](b)**[c](d)` kept its bold. Every marker is escaped, wherever it is.
    text = _INLINE_MARKDOWN.sub(r"\\\1", text)
    text = _LINE_START_MARKDOWN.sub(r"\\\1", text)
    text = _ORDERED_LIST.sub(r"\1\\.", text)
    text = discord.utils.escape_mentions(text)
    # Every `<...>` Discord would render (channel mentions, which escape_mentions leaves alone,
    # timestamps `<t:N:R>`, emoji, command mentions) is broken by a zero-width space.
    return text.replace("<", "<\u200b")


def tonnes(value: int) -> str:
    return f"{value:,} t"


def percent(progress: float) -> str:
    """One decimal; below 100% at most 99.9%: 99.97% (71 t left) never reads as done (as `bar`)."""
    shown = f"{progress * 100:.1f}%"
    return "99.9%" if progress < 1 and shown == "100.0%" else shown


def bar(progress: float, width: int = 12) -> str:
    """A unicode progress bar; full only when the value really is 1."""
    progress = min(max(progress, 0.0), 1.0)
    filled = int(progress * width)  # floor: 99.9% never shows as a full bar
    return "\u2588" * filled + "\u2591" * (width - filled)


def relative(when: datetime) -> str:
    """Discord renders this in each reader's own time zone ("3 hours ago")."""
    return f"<t:{int(when.timestamp())}:R>"


def absolute(when: datetime) -> str:
    return f"<t:{int(when.timestamp())}:f>"


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (words or word + 's')}"
