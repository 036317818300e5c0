"""Discord's rate limits as Discord answers them, to the real discord.py: a channel that must wait
holds up no other channel's updates, and a wait too long to sit out inside a request comes back as
the port's RateLimitedError, which pauses only that channel. Discord is a small aiohttp app on
loopback (`FakeDiscord`); everything on our side is the real code."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import discord
import pytest
from aiohttp import web

from bot.discord.port import DiscordChannelPort
from bot.notify.channels import ChannelUpdates, FollowTarget, MemoryFollowStore, RateLimitedError
from tests.bot._helpers import BOUND, until
from tests.discord._bot import unconnected_bot
from tests.discord._fake_discord import FakeDiscord, free_port, point_discord_at
from tests.discord.test_channels import SITE_A, SITE_B, SYSTEM, site

TOKEN = "rate-limit-token"
BUSY, QUIET = 800_000_000_000_000_001, 800_000_000_000_000_002  # one channel in each of two guilds


@dataclass
class RateLimitingDiscord(FakeDiscord):
    """Answers every post in `busy` with a 429 (JSON body and `Via` header, as Discord sends it:
    discord.py takes a 429 without them for a Cloudflare ban)."""

    busy: set[int] = field(default_factory=set)
    retry_after: float = 1.0
    refused: dict[int, int] = field(default_factory=dict)

    async def _post(self, request: web.Request) -> web.Response:
        channel_id = int(request.match_info["channel_id"])
        if channel_id not in self.busy:
            return await super()._post(request)
        self.refused[channel_id] = self.refused.get(channel_id, 0) + 1
        body = {"message": "You are being rate limited.", "retry_after": self.retry_after, "global": False}
        return web.Response(
            body=json.dumps(body).encode(),
            status=429,
            content_type="application/json",
            headers={"Via": "1.1 google", "Retry-After": str(self.retry_after)},
        )


@dataclass
class BucketedDiscord(FakeDiscord):
    """Every post answered with Discord's rate-limit headers: 5 messages per channel per 5 s."""

    async def _post(self, request: web.Request) -> web.Response:
        channel_id = int(request.match_info["channel_id"])
        used = sum(1 for c, _ in self.posts if c == channel_id) + 1
        answer = await super()._post(request)
        answer.headers.update(
            {
                "X-RateLimit-Bucket": f"messages-{channel_id}",
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": str(-used % 5),
                "X-RateLimit-Reset-After": "5.0",
                "X-RateLimit-Reset": str(time.time() + 5),
            }
        )
        return answer


@contextlib.asynccontextmanager
async def logged_in(fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[discord.Client]:
    point_discord_at(monkeypatch, fake.port)
    await fake.start()
    try:
        async with discord.Client(intents=discord.Intents.none()) as client:
            await client.login(TOKEN)
            yield client
    finally:
        await fake.stop()


def posted(fake: FakeDiscord, channel_id: int) -> int:
    return sum(1 for c, _ in fake.posts if c == channel_id)


async def flushed_until_quiet_posts(updates: ChannelUpdates, fake: FakeDiscord) -> None:
    """Runs a pass until the quiet channel has its live message; the busy one is left waiting."""
    flushing = asyncio.ensure_future(updates.flush())
    try:
        await until(lambda: posted(fake, QUIET) == 1, "the other guild's live message is posted")
    finally:
        flushing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flushing


async def test_a_429_in_one_channel_holds_up_no_other_guilds_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    """discord.py sleeps out a 429 of up to `max_ratelimit_timeout` inside the request and tries
    5 times; the other guild's live message does not wait for that."""
    fake = RateLimitingDiscord(free_port(), busy={BUSY}, retry_after=1.0)
    async with logged_in(fake, monkeypatch) as client:
        updates = ChannelUpdates(DiscordChannelPort(client), MemoryFollowStore())
        await updates.follow(1, FollowTarget(channel_id=BUSY, market_id=SITE_A), [site(SITE_A)])
        await updates.follow(2, FollowTarget(channel_id=QUIET, market_id=SITE_B), [site(SITE_B)])
        await flushed_until_quiet_posts(updates, fake)
        assert fake.refused[BUSY] < 5, "the other guild waited for every try of the rate-limited channel"


async def test_following_a_system_of_12_sites_holds_up_no_other_guilds_updates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """/colony follow of a system posts one live message per site at once; discord.py waits out the
    channel's bucket (5 messages per 5 s) before the sixth, and the other guild does not."""
    fake = BucketedDiscord(free_port())
    async with logged_in(fake, monkeypatch) as client:
        updates = ChannelUpdates(DiscordChannelPort(client), MemoryFollowStore())
        system = [site(SITE_A + i) for i in range(12)]
        await updates.follow(1, FollowTarget(channel_id=BUSY, system=SYSTEM), system)
        await updates.follow(2, FollowTarget(channel_id=QUIET, market_id=SITE_B), [site(SITE_B)])
        await flushed_until_quiet_posts(updates, fake)
        assert posted(fake, BUSY) < 12, "the other guild waited for the whole system's live messages"


async def test_a_429_longer_than_30_s_is_raised_as_the_ports_rate_limited_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without `max_ratelimit_timeout` discord.py sleeps out any 429 inside the request, 5 times
    over. ColonyBot sets it to 30 s (discord.py's minimum): a longer wait is raised at once, and
    the port hands Discord's retry_after on, for the channel's own pause."""
    fake = RateLimitingDiscord(free_port(), busy={BUSY}, retry_after=60.0)
    point_discord_at(monkeypatch, fake.port)
    await fake.start()

    async def no_extensions() -> None:  # the login's setup hook loads them: not this test's business
        return None

    try:
        async with unconnected_bot(tmp_path, load=False) as bot:
            monkeypatch.setattr(bot, "setup_hook", no_extensions)
            await bot.login(TOKEN)
            with pytest.raises(RateLimitedError) as raised:
                await asyncio.wait_for(DiscordChannelPort(bot).post(BUSY, content="hi", embeds=()), BOUND)
    finally:
        await fake.stop()
    assert (raised.value.retry_after, fake.refused[BUSY]) == (60.0, 1)
