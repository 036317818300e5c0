"""The uploader's sender against the real bot: its refusals (a revoked or unknown token, an invalid
event, an event too large) are the bot's own error documents, so they still stop or set aside
what they concern, now that an answer not in the bot's words is retried instead."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.bot._helpers import Bot, Journal, make_settings, running_bot
from uploader.outbox import Outbox, QueuedEvent, SourceState
from uploader.sender import Outcome, Sender

SITE = 3958981890


def _queue(outbox: Outbox, alice: Journal, events: list[dict]) -> None:
    outbox.commit_chunk(SourceState(alice.source, "fp", 10_000, 10_000, 0),
                        [QueuedEvent(e["id"], max(0, int(e["offset"])), json.dumps(e)) for e in events], None)


async def test_revoked_token_is_refused(bot_api: Bot, tmp_path: Path) -> None:
    token = await bot_api.token()
    await bot_api.services.tokens.revoke(token[:12])
    alice = Journal("Alice")
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        _queue(outbox, alice, [alice.docked(0, SITE, "Site A")])
        async with httpx.AsyncClient(timeout=10.0) as client:
            sender = Sender(outbox, client, url=str(bot_api.client.make_url("")), token=token)
            step = await sender.step()
        assert step.outcome is Outcome.TOKEN_REFUSED, step
        assert outbox.pending_events() == 1


async def test_unknown_token_is_refused(bot_api: Bot, tmp_path: Path) -> None:
    alice = Journal("Alice")
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        _queue(outbox, alice, [alice.docked(0, SITE, "Site A")])
        async with httpx.AsyncClient(timeout=10.0) as client:
            sender = Sender(outbox, client, url=str(bot_api.client.make_url("")), token="nope")
            step = await sender.step()
        assert step.outcome is Outcome.TOKEN_REFUSED, step


async def test_single_invalid_event_dead_lettered(bot_api: Bot, tmp_path: Path) -> None:
    token = await bot_api.token()
    alice = Journal("Alice")
    bad = {**alice.docked(0, SITE, "Site A"), "commander": ""}
    bad["timestamp"] = "not a time"
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        _queue(outbox, alice, [bad])
        async with httpx.AsyncClient(timeout=10.0) as client:
            sender = Sender(outbox, client, url=str(bot_api.client.make_url("")), token=token)
            step = await sender.step()
        assert step.outcome is Outcome.DEAD_LETTERED, step
        assert outbox.pending_events() == 0


async def test_single_event_too_large_dead_lettered(tmp_path: Path) -> None:
    async with running_bot(make_settings(tmp_path, max_body_bytes=2048)) as bot:
        token = await bot.token()
        alice = Journal("Alice")
        big = alice.docked(0, SITE, "S" * 5000)
        with Outbox(tmp_path / "o.sqlite3") as outbox:
            _queue(outbox, alice, [big])
            async with httpx.AsyncClient(timeout=10.0) as client:
                sender = Sender(outbox, client, url=str(bot.client.make_url("")), token=token)
                step = await sender.step()
            assert step.outcome is Outcome.DEAD_LETTERED, (step, sender.failure)
