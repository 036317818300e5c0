"""What a command answers, independent of where it is shown (Discord, the console, a test)."""

from __future__ import annotations

from dataclasses import dataclass

import discord

from bot.render import limits


@dataclass(frozen=True, slots=True)
class Reply:
    embeds: tuple[discord.Embed, ...] = ()
    content: str | None = None
    ephemeral: bool = False

    @classmethod
    def of(cls, *embeds: discord.Embed, content: str | None = None, ephemeral: bool = False) -> Reply:
        """A reply fitted to Discord's per-message limits."""
        fitted = limits.fit_message(list(embeds))
        return cls(tuple(fitted), limits.clip(content, limits.CONTENT) if content else None, ephemeral)
