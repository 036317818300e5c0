"""The Discord channel port: discord.py's errors become the port's, and nothing sent can mention."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord
import pytest

from bot.discord.port import DiscordChannelPort, translate
from bot.notify.channels import (
    ChannelError,
    ChannelGoneError,
    MessageGoneError,
    NoPermissionError,
    RateLimitedError,
    UnreachableError,
)


@dataclass(slots=True)
class FakeResponse:
    status: int
    reason: str = "reason"
    headers: dict[str, str] = field(default_factory=dict)


def error(cls: type[discord.HTTPException], status: int, code: int, **headers: str) -> discord.HTTPException:
    response: Any = FakeResponse(status, headers=headers)
    return cls(response, {"code": code, "message": "nope"})


def test_unknown_message_is_a_gone_message() -> None:
    assert isinstance(translate(error(discord.NotFound, 404, 10008)), MessageGoneError)


def test_unknown_channel_is_a_gone_channel() -> None:
    assert isinstance(translate(error(discord.NotFound, 404, 10003)), ChannelGoneError)


def test_forbidden_is_missing_permission() -> None:
    assert isinstance(translate(error(discord.Forbidden, 403, 50013)), NoPermissionError)


def test_429_carries_retry_after() -> None:
    found = translate(error(discord.HTTPException, 429, 0, **{"Retry-After": "7.5"}))
    assert isinstance(found, RateLimitedError)
    assert found.retry_after == 7.5


def test_other_failures_are_plain_channel_errors() -> None:
    found = translate(error(discord.DiscordServerError, 503, 0))
    assert type(found) is ChannelError
    assert str(found) == "Discord answered 503: nope"


@dataclass(slots=True)
class FakeMessage:
    calls: list[dict[str, Any]]
    fail: Exception | None

    async def edit(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)
        if self.fail is not None:
            raise self.fail


@dataclass(slots=True)
class FakeMessageable:
    calls: list[dict[str, Any]]
    fail: Exception | None = None

    async def send(self, **kwargs: Any) -> discord.Object:
        self.calls.append(kwargs)
        if self.fail is not None:
            raise self.fail
        return discord.Object(id=4321)

    def get_partial_message(self, message_id: int) -> FakeMessage:
        return FakeMessage(self.calls, self.fail)


@dataclass(slots=True)
class FakeClient:
    channel: FakeMessageable
    user: object = "logged in"  # None before the login

    def get_partial_messageable(self, channel_id: int) -> FakeMessageable:
        return self.channel


async def test_posts_and_edits_never_mention_anyone() -> None:
    channel = FakeMessageable([])
    client: Any = FakeClient(channel)
    port = DiscordChannelPort(client)
    embed = discord.Embed(title="t")
    assert await port.post(1, content="@everyone hi", embeds=[embed]) == 4321
    await port.edit(1, 4321, content=None, embeds=[embed])
    assert [c["allowed_mentions"].to_dict() for c in channel.calls] == [{"parse": []}, {"parse": []}]
    assert [c["embeds"] for c in channel.calls] == [[embed], [embed]]


async def test_a_deleted_message_surfaces_as_message_gone() -> None:
    channel = FakeMessageable([], fail=error(discord.NotFound, 404, 10008))
    client: Any = FakeClient(channel)
    with pytest.raises(MessageGoneError):
        await DiscordChannelPort(client).edit(1, 2, content=None, embeds=[])


@pytest.mark.parametrize(
    "failure",
    [
        aiohttp.ClientConnectionError("Cannot connect to host discord.com:443"),
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError(),
    ],
)
async def test_a_network_failure_is_discord_unreachable_not_a_channel_fault(failure: Exception) -> None:
    client: Any = FakeClient(FakeMessageable([], fail=failure))
    port = DiscordChannelPort(client)
    with pytest.raises(UnreachableError, match="cannot reach Discord"):
        await port.post(1, content="hi", embeds=[])
    with pytest.raises(UnreachableError, match="cannot reach Discord"):
        await port.edit(1, 2, content="hi", embeds=[])


async def test_nothing_is_sent_before_the_login() -> None:
    channel = FakeMessageable([])
    client: Any = FakeClient(channel, user=None)
    with pytest.raises(UnreachableError, match="not logged in to Discord yet"):
        await DiscordChannelPort(client).post(1, content="hi", embeds=[])
    assert channel.calls == []
