"""The `ChannelPort` over discord.py: posts through a `PartialMessageable`, edits through a
`PartialMessage` (no fetch, no cache needed), and turns Discord's errors into the port's."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.notify.channels import (
    ChannelError,
    ChannelGoneError,
    MessageGoneError,
    NoPermissionError,
    RateLimitedError,
)

NONE = discord.AllowedMentions.none()
UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008


def translate(exc: discord.HTTPException) -> ChannelError:
    if isinstance(exc, discord.NotFound):
        if exc.code == UNKNOWN_MESSAGE:
            return MessageGoneError(str(exc))
        return ChannelGoneError(str(exc))
    if isinstance(exc, discord.Forbidden):
        return NoPermissionError(str(exc))
    if exc.status == 429:
        retry = exc.response.headers.get("Retry-After") if exc.response is not None else None
        try:
            return RateLimitedError(float(retry) if retry else 5.0)
        except ValueError:
            return RateLimitedError(5.0)
    return ChannelError(f"Discord answered {exc.status}: {exc.text or exc}")


class DiscordChannelPort:
    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def post(self, channel_id: int, *, content: str | None, embeds: Sequence[discord.Embed]) -> int:
        channel = self.client.get_partial_messageable(channel_id)
        try:
            message = await channel.send(content=content, embeds=list(embeds), allowed_mentions=NONE)
        except discord.RateLimited as exc:  # raised instead of waiting when the wait is long
            raise RateLimitedError(exc.retry_after) from exc
        except discord.HTTPException as exc:
            raise translate(exc) from exc
        return message.id

    async def edit(
        self, channel_id: int, message_id: int, *, content: str | None, embeds: Sequence[discord.Embed]
    ) -> None:
        message = self.client.get_partial_messageable(channel_id).get_partial_message(message_id)
        try:
            await message.edit(content=content, embeds=list(embeds), allowed_mentions=NONE)
        except discord.RateLimited as exc:
            raise RateLimitedError(exc.retry_after) from exc
        except discord.HTTPException as exc:
            raise translate(exc) from exc
