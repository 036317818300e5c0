"""Offline mode: the haul board of a followed site is printed beside its progress message by the
started background task (`offline_boards`), from a store filled from the real April 2025 journal."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from bot.notify.boards import offline_boards
from bot.notify.channels import FollowTarget, offline_updates
from tests.haul._world import APRIL, GUILD, SITE, world

pytestmark = pytest.mark.samples


class Watched(io.StringIO):
    """A console stream that says when a text has been printed."""

    def __init__(self, wanted: str) -> None:
        super().__init__()
        self.wanted = wanted
        self.seen = asyncio.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if self.wanted in self.getvalue():
            self.seen.set()
        return written


async def test_the_offline_run_prints_the_board_of_a_followed_site(tmp_path: Path, samples: Path) -> None:
    async with world(tmp_path) as w:
        await w.join("TEST", 77, samples / APRIL)
        await w.play("TEST", "2025-04-08T21:44:01")
        stream = Watched("remaining = 0 in ships + 0 claimed + 0 on carriers")
        services = w.services
        updates = await offline_updates(services.db, services.feed, stream)
        boards = await offline_boards(services, updates)
        # The first pass may print the board from before the delivery (it does not wait for the
        # upload): the one after it is then printed as an edit at once.
        boards.edit_interval = 0.0
        try:
            await updates.follow(
                GUILD, FollowTarget(channel_id=7, market_id=SITE), await services.queries.sites(GUILD)
            )
            await w.play("TEST", "2025-04-08T21:46:11")  # a change on the feed wakes the boards' task
            await asyncio.wait_for(stream.seen.wait(), 10)
        finally:
            await boards.close()
            await updates.close()
        text = stream.getvalue()
        assert "[channel 7] new message" in text
        assert "remaining = 0 in ships + 0 claimed + 0 on carriers" in text
        saved = await services.db.conn.execute("SELECT value FROM guild_settings WHERE name = 'haul_boards'")
        row = await saved.fetchone()
        assert row is not None
        assert f'"7:{SITE}"' in str(row[0])
