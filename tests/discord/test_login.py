"""Discord unreachable when the bot starts: the intake serves at once, the login is tried again with
a growing wait, and the channel updates of what was uploaded meanwhile are posted once it is
through. Discord is played by a small aiohttp app on loopback; the rest is the real bot."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from pathlib import Path

import discord
import httpx
import pytest

import bot.discord_client
from bot.app import ColonyCore, run
from bot.discord.haul import ClaimLineButton
from bot.discord.port import DiscordChannelPort
from bot.discord_client import ColonyBot, login_with_retry
from bot.notify.channels import FollowTarget, GuildFollows, SettingsFollowStore, UnreachableError
from bot.services.bundle import build_services
from bot.store.db import Database
from bot.store.lock import DatabaseLock
from tests.bot._helpers import BOUND, Journal, batch, make_settings, until
from tests.discord._bot import settings_for
from tests.discord._fake_discord import FakeDiscord, free_port, point_discord_at

TOKEN = "discord-bot-token-never-logged"
GUILD, USER, CHANNEL, DEPOT = 111, 222, 333_000_000_000_000_001, 3_950_000_001


def _client() -> discord.Client:
    return discord.Client(intents=discord.Intents.none())


async def test_the_login_is_tried_again_with_a_growing_wait_until_discord_answers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # nothing listens there yet: connection refused, as when offline
    point_discord_at(monkeypatch, port)
    fake = FakeDiscord(port)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 4:
            await fake.start()  # Discord is back

    caplog.set_level(logging.INFO)
    client = _client()
    try:
        async with client:
            attempts = await login_with_retry(client, TOKEN, first_delay=0.01, max_delay=0.03, sleep=sleep)
            assert attempts == 5
            assert waits == [0.01, 0.02, 0.03, 0.03]  # doubling, up to the cap
            assert client.user is not None
            assert client.user.name == "colony"
            assert fake.tokens == [f"Bot {TOKEN}"]
        gc.collect()  # an HTTP session a failed attempt left open would be reported now
    finally:
        await fake.stop()
    messages = [r.getMessage() for r in caplog.records]
    refused = [m for m in messages if m.startswith("cannot log in to Discord")]
    assert len(refused) == 4
    assert "attempt 1:" in refused[0]
    assert "trying again in 0.01 s" in refused[0]
    assert "uploads are still taken in" in refused[0]
    assert "logged in to Discord (attempt 5)" in messages
    assert not [m for m in messages if "Unclosed" in m], messages
    assert not [m for m in messages if TOKEN in m]


async def test_a_login_failing_after_its_first_request_leaves_no_user_to_post_as(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The token was accepted, then the network failed: until a login goes through, the channel
    port must see no logged-in user (it would post through the closed session)."""
    fake = FakeDiscord(free_port(), drop_application=2)
    point_discord_at(monkeypatch, fake.port)
    await fake.start()
    users: list[object] = []

    async def sleep(seconds: float) -> None:
        users.append(client.user)

    try:
        async with _client() as client:
            assert await login_with_retry(client, TOKEN, first_delay=0.01, sleep=sleep) == 2
            assert client.user is not None
    finally:
        await fake.stop()
    assert users == [None]
    assert len(fake.tokens) == 2


async def test_a_refused_token_is_not_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDiscord(free_port(), refuse_token=True)
    point_discord_at(monkeypatch, fake.port)
    await fake.start()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    try:
        async with _client() as client:
            with pytest.raises(discord.LoginFailure):
                await login_with_retry(client, TOKEN, first_delay=0.01, sleep=sleep)
    finally:
        await fake.stop()
    assert waits == []
    assert len(fake.tokens) == 1


async def test_the_channel_port_says_discord_is_unreachable_before_the_login() -> None:
    async with _client() as client:
        port = DiscordChannelPort(client)
        with pytest.raises(UnreachableError, match="not logged in to Discord yet"):
            await port.post(CHANNEL, content="hello", embeds=())
        with pytest.raises(UnreachableError):
            await port.edit(CHANNEL, 1, content="hello", embeds=())


async def test_a_bot_whose_discord_is_unreachable_takes_uploads_and_posts_them_once_logged_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    discord_port = free_port()
    point_discord_at(monkeypatch, discord_port)
    monkeypatch.setattr(bot.discord_client, "FIRST_LOGIN_RETRY", 0.05)
    monkeypatch.setattr(bot.discord_client, "MAX_LOGIN_RETRY", 0.05)
    settings = make_settings(
        tmp_path, discord_token=TOKEN, http_host="127.0.0.1", http_port=free_port()
    )
    db = Database(settings.db_path)
    await db.open()
    try:
        services = await build_services(db)
        upload_token, _ = await services.tokens.issue(GUILD, USER, "test")
        follows = GuildFollows(follows=[FollowTarget(channel_id=CHANNEL, market_id=DEPOT)])
        await SettingsFollowStore(db).save(GUILD, follows)
        await services.intake.close()
        services.feed.close()
    finally:
        await db.close()

    caplog.set_level(logging.INFO)
    fake = FakeDiscord(discord_port)
    task = asyncio.create_task(run(settings))
    base = f"http://127.0.0.1:{settings.http_port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=BOUND) as http:
            health: list[int] = []

            async def probe() -> None:
                with contextlib.suppress(httpx.TransportError):
                    health.append((await http.get("/api/v1/health")).status_code)

            deadline = asyncio.get_running_loop().time() + BOUND
            while not health or health[-1] != 200:
                assert not task.done(), task
                assert asyncio.get_running_loop().time() < deadline, "the intake never answered"
                await probe()
                await asyncio.sleep(0.01)
            await until(
                lambda: any(r.getMessage().startswith("cannot log in to Discord") for r in caplog.records),
                "the login failed once",
            )
            journal = Journal("CMDR Tester")
            events = [
                journal.docked(0, DEPOT, "Ansel Forge"),
                journal.depot(1, DEPOT, {"steel": (1000, 100)}),
                journal.contribution(2, DEPOT, {"steel": 50}),
            ]
            answer = await http.post(
                "/api/v1/events", json=batch(events), headers={"Authorization": f"Bearer {upload_token}"}
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["accepted"] == 3

            assert fake.posts == []
            await fake.start()  # Discord is back: the login goes through, the updates catch up
            # Tried before the login (unreachable), the channel's posts are retried 5 s later.
            await until(lambda: len(fake.posts) >= 1, "the site's live message was posted", bound=2 * BOUND)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await fake.stop()
    assert {channel for channel, _ in fake.posts} == {CHANNEL}
    embeds = {e["title"]: e for _, body in fake.posts for e in body.get("embeds") or []}
    site = embeds["Ansel Forge"]  # the live message of the followed site, with the upload in it
    assert "CMDR Tester · 50 t" in str(site["fields"])
    assert "850 t of 1,000 t left" in site["description"]
    assert all(body["allowed_mentions"]["parse"] == [] for _, body in fake.posts)
    assert not [r for r in caplog.records if TOKEN in r.getMessage()]
    # The stop released the database: another bot can open it.
    db = Database(settings.db_path)
    await db.open()
    try:
        async with db.conn.execute("SELECT count(*) FROM events") as cur:
            row = await cur.fetchone()
        assert row is not None
        assert row[0] == 3
    finally:
        await db.close()


async def test_sigterm_stops_a_discord_mode_bot_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`kill` (SIGTERM), not only Ctrl-C: the intake, the notifier and the database close in order
    and `run` ends normally (exit 0), here while the login is still being retried."""
    point_discord_at(monkeypatch, free_port())  # Discord unreachable: the login keeps retrying
    monkeypatch.setattr(bot.discord_client, "FIRST_LOGIN_RETRY", 0.05)
    settings = make_settings(tmp_path, discord_token=TOKEN, http_host="127.0.0.1", http_port=free_port())
    caplog.set_level(logging.INFO)
    # Should `run` not handle SIGTERM, the signal is swallowed here (not the test process's end)
    # and the bound below fails the test.
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        task = asyncio.create_task(run(settings))
        await until(
            lambda: any(r.getMessage().startswith("cannot log in to Discord") for r in caplog.records),
            "the bot started and tried to log in",
        )
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(task, BOUND)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert task.result() is None
    assert "colony bot stopped" in [r.getMessage() for r in caplog.records]
    lock = DatabaseLock(settings.db_path)
    lock.acquire("test")  # released by the stop
    lock.release()


async def test_the_claim_button_is_still_dispatched_after_a_failed_first_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The extensions register their buttons before the login (start_core); a retried login
    must not drop them, or "Claim my line" answers nothing until a restart."""
    port = free_port()  # Discord unreachable at start
    point_discord_at(monkeypatch, port)
    fake = FakeDiscord(port)
    settings = settings_for(tmp_path)
    bot = ColonyBot(settings, ColonyCore(settings, mode="discord"))

    async def sleep(_seconds: float) -> None:
        await fake.start()

    try:
        await bot.start_core()
        pattern = ClaimLineButton.__discord_ui_compiled_template__
        assert pattern in bot._connection._view_store._dynamic_items  # registered before the login
        assert await login_with_retry(bot, "tok", first_delay=0.01, sleep=sleep) == 2
        assert pattern in bot._connection._view_store._dynamic_items, "Claim my line no longer dispatched"
    finally:
        for ext in list(bot.extensions):
            await bot.unload_extension(ext)
        await bot.close()
        await fake.stop()
