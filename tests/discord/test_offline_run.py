"""Offline `run` prints the channel updates of followed sites the way Discord would show them."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from bot.app import run_offline
from bot.demo.journals import COMMANDERS, SITES, SYSTEM, generate
from bot.notify.channels import ChannelUpdates, ConsoleChannelPort, FollowTarget, SettingsFollowStore
from bot.services.bundle import build_services
from bot.settings import Settings
from bot.store.db import Database
from uploader.journal.reader import split_lines
from uploader.normalise.normaliser import Normaliser
from wire import Batch

GUILD, CHANNEL = 31, 77


async def _until(capsys: pytest.CaptureFixture[str], seen: list[str], pattern: str, bound: float = 20) -> str:
    deadline = time.monotonic() + bound
    while True:
        seen.append(capsys.readouterr().out)
        found = re.search(pattern, "".join(seen))
        if found:
            return found.group(0)
        assert time.monotonic() < deadline, f"{pattern!r} never printed; got {''.join(seen)[-2000:]}"
        await asyncio.sleep(0.05)  # polling a condition, bounded by the deadline


async def test_followed_sites_print_their_live_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(db_path=tmp_path / "colony.db", http_host="127.0.0.1", http_port=0)
    db = Database(settings.db_path)
    await db.open()
    services = await build_services(db)
    token, _ = await services.tokens.issue(GUILD, 5, "cmdr")
    setup = ChannelUpdates(ConsoleChannelPort(), SettingsFollowStore(db))
    await setup.follow(GUILD, FollowTarget(channel_id=CHANNEL, system=SYSTEM), [])
    await db.close()

    journals = generate(datetime(2026, 5, 1, 11, 0, tzinfo=UTC))
    first = COMMANDERS[0].name
    data = "".join(f"{j.text}\r\n" for j in journals.lines if j.commander == first).encode()
    events = Normaliser().feed(journals.files[first], "fp", split_lines(data, 0))
    batch = Batch(batch_id="offline-1", uploader_version="t", platform="t", events=events)

    stop = asyncio.Event()
    task = asyncio.create_task(run_offline(settings, stop))
    seen: list[str] = []
    try:
        port = (await _until(capsys, seen, r"intake at http://127\.0\.0\.1:(\d+)")).rsplit(":", 1)[1]
        async with aiohttp.ClientSession() as http:
            answer = await http.post(
                f"http://127.0.0.1:{port}/api/v1/events",
                data=batch.model_dump_json(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            assert answer.status in (200, 202), await answer.text()
        await _until(capsys, seen, rf"\[channel {CHANNEL}\] new message \d+\n  {re.escape(SITES[1].name)}")
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
