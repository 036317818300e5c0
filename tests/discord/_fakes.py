"""Fakes for the channel-updates tests: a Discord channel and a clock, both fully in memory."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import discord

from bot.notify.channels import ChannelError, MessageGoneError, NoPermissionError
from bot.render import limits


@dataclass(slots=True)
class Sent:
    op: str  # "post" or "edit"
    channel_id: int
    message_id: int
    content: str | None
    embeds: list[discord.Embed]


@dataclass(slots=True)
class FakeClock:
    t: float = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass(slots=True)
class FakeChannels:
    """A ChannelPort over in-memory channels. `fail` queues exceptions for the next calls;
    `delete` removes a message the way a moderator would."""

    log: list[Sent] = field(default_factory=list)
    in_use_ids: list[int] = field(default_factory=list)  # saved ids the services said they hold
    messages: dict[int, tuple[int, str | None, list[discord.Embed]]] = field(default_factory=dict)
    fail: list[ChannelError] = field(default_factory=list)
    next_id: int = 500
    # Set: Discord has the request but its answer waits for `gate` (`received` says it got there).
    gate: asyncio.Event | None = None
    received: asyncio.Event = field(default_factory=asyncio.Event)
    # channel -> the event its answers wait for (discord.py waiting out that channel's rate limit).
    held: dict[int, asyncio.Event] = field(default_factory=dict)
    # Channels that refuse the bot (403) until taken out: Send Messages taken away, or the bot kicked.
    refusing: set[int] = field(default_factory=set)

    def in_use(self, message_ids: Iterable[int]) -> None:
        self.in_use_ids.extend(message_ids)

    async def post(self, channel_id: int, *, content: str | None, embeds: Sequence[discord.Embed]) -> int:
        self._check(channel_id, content, embeds)
        self.next_id += 1
        self.messages[self.next_id] = (channel_id, content, list(embeds))
        self.log.append(Sent("post", channel_id, self.next_id, content, list(embeds)))
        message_id = self.next_id
        await self._answer(channel_id)
        return message_id

    async def edit(
        self, channel_id: int, message_id: int, *, content: str | None, embeds: Sequence[discord.Embed]
    ) -> None:
        self._check(channel_id, content, embeds)
        if message_id not in self.messages:
            raise MessageGoneError(f"unknown message {message_id}")
        self.messages[message_id] = (channel_id, content, list(embeds))
        self.log.append(Sent("edit", channel_id, message_id, content, list(embeds)))
        await self._answer(channel_id)

    async def _answer(self, channel_id: int) -> None:
        self.received.set()
        if self.gate is not None:
            await self.gate.wait()
        if channel_id in self.held:
            await self.held[channel_id].wait()

    def _check(self, channel_id: int, content: str | None, embeds: Sequence[discord.Embed]) -> None:
        if self.fail:
            raise self.fail.pop(0)
        if channel_id in self.refusing:
            raise NoPermissionError("403 Forbidden (error code: 50013): Missing Permissions")
        # What Discord would refuse with a 400.
        assert limits.violations(list(embeds), content) == []

    def delete(self, message_id: int) -> None:
        del self.messages[message_id]

    def ops(self) -> list[tuple[str, int, int]]:
        return [(s.op, s.channel_id, s.message_id) for s in self.log]

    def lines(self, channel_id: int) -> list[str]:
        return [
            line
            for s in self.log
            if s.channel_id == channel_id and s.content
            for line in s.content.split("\n")
        ]
