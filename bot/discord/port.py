"""The `ChannelPort` over discord.py: posts through a `PartialMessageable`, edits through a
`PartialMessage` (no fetch, no cache needed), and turns Discord's errors into the port's."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

import aiohttp
import discord

from bot.notify.channels import (
    ChannelError,
    ChannelGoneError,
    MessageGoneError,
    NoPermissionError,
    RateLimitedError,
    UnreachableError,
)

NONE = discord.AllowedMentions.none()
UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008
# What a request raises when Discord cannot be reached at all (discord.py passes these through).
_NETWORK_ERRORS = (OSError, aiohttp.ClientError, asyncio.TimeoutError)


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

    def in_use(self, message_ids: Iterable[int]) -> None:
        """Discord numbers the messages: nothing to do."""

    def _logged_in(self) -> None:
        # Before the login (Discord unreachable at start: the core already serves uploads) the
        # client has no HTTP session; a request would fail inside discord.py, not as an error.
        if self.client.user is None:
            raise UnreachableError("not logged in to Discord yet")

    async def post(self, channel_id: int, *, content: str | None, embeds: Sequence[discord.Embed]) -> int:
        self._logged_in()
        channel = self.client.get_partial_messageable(channel_id)
        try:
            message = await channel.send(content=content, embeds=list(embeds), allowed_mentions=NONE)
        except discord.RateLimited as exc:  # raised instead of waiting when the wait is long
            raise RateLimitedError(exc.retry_after) from exc
        except discord.HTTPException as exc:
            raise translate(exc) from exc
        except _NETWORK_ERRORS as exc:
            raise UnreachableError(f"cannot reach Discord: {exc or type(exc).__name__}") from exc
        return message.id

    async def edit(
        self, channel_id: int, message_id: int, *, content: str | None, embeds: Sequence[discord.Embed]
    ) -> None:
        self._logged_in()
        message = self.client.get_partial_messageable(channel_id).get_partial_message(message_id)
        try:
            await message.edit(content=content, embeds=list(embeds), allowed_mentions=NONE)
        except discord.RateLimited as exc:
            raise RateLimitedError(exc.retry_after) from exc
        except discord.HTTPException as exc:
            raise translate(exc) from exc
        except _NETWORK_ERRORS as exc:
            raise UnreachableError(f"cannot reach Discord: {exc or type(exc).__name__}") from exc
