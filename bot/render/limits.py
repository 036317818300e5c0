"""Discord's size rules, enforced here and nowhere else.

Every embed the bot sends goes through `fit_embed`, every message through `fit_message`; both
shorten instead of failing (an over-long embed is a 400 from Discord, i.e. a lost reply), and
`violations` lists what would be refused, for tests and for a last check before sending.
Numbers: https://discord.com/developers/docs/resources/message#embed-object-embed-limits
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import discord

TITLE = 256
DESCRIPTION = 4096
FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
AUTHOR = 256
TOTAL = 6000  # across every embed of one message
EMBEDS_PER_MESSAGE = 10
CONTENT = 2000
ELLIPSIS = "\u2026"


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, ending with an ellipsis when it was cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rstrip()
    # A cut between a backslash and the character it escaped would escape the ellipsis instead.
    trailing = len(cut) - len(cut.rstrip("\\"))
    if trailing % 2:
        cut = cut[:-1]
    return cut + ELLIPSIS


def more(count: int, noun: str = "more") -> str:
    return f"{ELLIPSIS} and {count:,} {noun}"


def join_lines(lines: Sequence[str], limit: int, *, noun: str = "more", sep: str = "\n") -> str:
    """As many whole lines as fit in `limit`, then "… and N more" for the rest."""
    out: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        left = len(lines) - index - 1
        # Room for this line and, should a later one not fit, for the "and N more" note.
        tail = len(sep) + len(more(left, noun)) if left else 0
        piece = len(line) + (len(sep) if out else 0)
        if used + piece + tail <= limit:
            out.append(line)
            used += piece
            continue
        if out:
            # The previous step reserved room for exactly this note.
            out.append(more(left + 1, noun))
        else:
            out.append(clip(line, max(1, limit - tail)))
            if left:
                out.append(more(left, noun))
        break
    return sep.join(out)


def pack_lines(lines: Sequence[str], limit: int = CONTENT, *, sep: str = "\n") -> list[tuple[str, int]]:
    """Every line, in order, in as few messages of at most `limit` characters as they fit:
    (text, how many lines it holds). A line longer than `limit` alone is clipped."""
    packed: list[tuple[str, int]] = []
    out: list[str] = []
    used = 0
    for line in lines:
        line = clip(line, limit)
        piece = len(line) + (len(sep) if out else 0)
        if out and used + piece > limit:
            packed.append((sep.join(out), len(out)))
            out, used, piece = [], 0, len(line)
        out.append(line)
        used += piece
    if out:
        packed.append((sep.join(out), len(out)))
    return packed


def _field(name: str, value: str, inline: bool) -> tuple[str, str, bool]:
    return (clip(name or "\u200b", FIELD_NAME), clip(value or "\u200b", FIELD_VALUE), inline)


def fit_embed(embed: discord.Embed, *, noun: str = "more") -> discord.Embed:
    """`embed` shortened in place to Discord's limits (and returned, for chaining)."""
    if embed.title:
        embed.title = clip(embed.title, TITLE)
    if embed.description:
        embed.description = clip(embed.description, DESCRIPTION)
    if embed.author.name:
        embed.set_author(
            name=clip(embed.author.name, AUTHOR), url=embed.author.url, icon_url=embed.author.icon_url
        )
    if embed.footer.text:
        embed.set_footer(text=clip(embed.footer.text, FOOTER), icon_url=embed.footer.icon_url)

    fields = [_field(f.name or "", f.value or "", bool(f.inline)) for f in embed.fields]
    hidden = 0
    if len(fields) > FIELDS:
        hidden = len(fields) - (FIELDS - 1)
        fields = fields[: FIELDS - 1]
    _set_fields(embed, _noted(fields, hidden, noun))

    # Over the total: drop trailing fields (saying how many), then shorten the description.
    while len(embed) > TOTAL and fields:
        fields.pop()
        hidden += 1
        _set_fields(embed, _noted(fields, hidden, noun))
    if len(embed) > TOTAL and embed.description:
        embed.description = clip(embed.description, max(1, len(embed.description) - (len(embed) - TOTAL)))
    if len(embed) > TOTAL and embed.footer.text:
        embed.set_footer(text=clip(embed.footer.text, max(1, len(embed.footer.text) - (len(embed) - TOTAL))))
    return embed


def _noted(fields: list[tuple[str, str, bool]], hidden: int, noun: str) -> list[tuple[str, str, bool]]:
    return [*fields, (ELLIPSIS, more(hidden, noun), False)] if hidden else fields


def _set_fields(embed: discord.Embed, fields: Iterable[tuple[str, str, bool]]) -> None:
    embed.clear_fields()
    for name, value, inline in fields:
        embed.add_field(name=name, value=value, inline=inline)


def fit_message(embeds: Sequence[discord.Embed], *, noun: str = "more") -> list[discord.Embed]:
    """At most 10 embeds and 6000 characters in all; whole embeds beyond that are dropped and
    the last one kept says how many."""
    kept: list[discord.Embed] = []
    total = 0
    for embed in embeds:
        fit_embed(embed, noun=noun)
        if len(kept) == EMBEDS_PER_MESSAGE or total + len(embed) > TOTAL:
            break
        kept.append(embed)
        total += len(embed)
    dropped = len(embeds) - len(kept)
    while dropped and kept:
        last = kept[-1]
        own = last.footer.text or ""
        note = more(dropped, "more pages")
        footer = f"{clip(own, FOOTER - len(note) - 3)} · {note}" if own else note  # the note kept whole
        # Make room for the note inside the message total: the last page's fields first; without
        # any, that whole page (the note then counts it); on the only page, its own footer text
        # (without fields or footer text a page is under 4,700 characters: the note fits).
        while total - len(own) + len(footer) > TOTAL and last.fields:
            total -= len(last.fields[-1].name or "") + len(last.fields[-1].value or "")
            last.remove_field(len(last.fields) - 1)
        excess = total - len(own) + len(footer) - TOTAL
        if excess > 0 and len(kept) > 1:
            kept.pop()
            total -= len(last)
            dropped += 1
            continue
        last.set_footer(text=note if excess > 0 else footer)
        break
    return kept


def violations(embeds: Sequence[discord.Embed], content: str | None = None) -> list[str]:
    """Every Discord limit this message breaks; empty when Discord would accept it."""
    found: list[str] = []
    if content is not None and len(content) > CONTENT:
        found.append(f"content {len(content)} > {CONTENT}")
    if len(embeds) > EMBEDS_PER_MESSAGE:
        found.append(f"{len(embeds)} embeds > {EMBEDS_PER_MESSAGE}")
    total = 0
    for i, embed in enumerate(embeds):
        total += len(embed)
        checks = [
            ("title", len(embed.title or ""), TITLE),
            ("description", len(embed.description or ""), DESCRIPTION),
            ("fields", len(embed.fields), FIELDS),
            ("footer", len(embed.footer.text or ""), FOOTER),
            ("author", len(embed.author.name or ""), AUTHOR),
        ]
        for j, field in enumerate(embed.fields):
            checks.append((f"field {j} name", len(field.name or ""), FIELD_NAME))
            checks.append((f"field {j} value", len(field.value or ""), FIELD_VALUE))
            if not field.name or not field.value:
                found.append(f"embed {i} field {j} is empty")
        found.extend(f"embed {i} {what} {size} > {limit}" for what, size, limit in checks if size > limit)
    if total > TOTAL:
        found.append(f"total {total} > {TOTAL}")
    return found
