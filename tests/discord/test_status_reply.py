"""`/colony status` alone once sites are finished: counted, not listed, and never the first-run
text, over a real bot API and store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.discord.replies import ColonyReplies
from tests.bot._helpers import Journal, batch, make_settings, running_bot

A, B, C = 3958981890, 3958345730, 3958345731


async def test_status_counts_finished_sites_and_lists_only_those_in_progress(tmp_path: Path) -> None:
    async with running_bot(make_settings(tmp_path)) as bot:
        token = await bot.token(guild=111, user=222)
        j = Journal("Alice")
        done = [
            j.docked(0, A, "Orbital Construction Site: Vela"),
            j.depot(1, A, {"steel": (100, 100)}, complete=True),
            j.docked(2, B, "Planetary Construction Site: Kuiper"),
            j.depot(3, B, {"steel": (100, 100)}, complete=True),
        ]
        assert (await bot.post(token, batch(done)))[0] == 200
        replies = ColonyReplies(bot.services.queries, bot.services.tokens, None, public_url="http://x")
        replies.now = lambda: datetime.now(UTC)

        (embed,) = (await replies.status(111)).embeds
        assert embed.description == (
            "No site in progress: 2 sites complete. `/colony status <system>` shows a system's sites."
        )
        assert embed.fields == []

        started = [j.docked(4, C, "Orbital Construction Site: Halley"), j.depot(5, C, {"steel": (400, 100)})]
        assert (await bot.post(token, batch(started)))[0] == 200
        (embed,) = (await replies.status(111)).embeds
        assert embed.description == "1 site in progress · 2 complete · 300 t left"
        assert [f.name for f in embed.fields] == [
            "Orbital Construction Site: Halley · Col 285 Sector GF-F b12-5"
        ]


async def test_a_finished_site_says_when_it_was_finished_not_when_it_was_last_read(tmp_path: Path) -> None:
    """The game keeps writing a finished site's depot while its commanders stay docked at the new
    port (quirk 22): `/colony status <system>` must give the completion's time, not the last read's."""
    async with running_bot(make_settings(tmp_path)) as bot:
        token = await bot.token(guild=111, user=222)
        j = Journal("Alice")
        events = [
            j.docked(0, A, "Orbital Construction Site: Vela"),
            j.depot(1, A, {"steel": (100, 100)}, complete=True),
            j.depot(30, A, {"steel": (100, 100)}, complete=True),  # read again half an hour later
        ]
        assert (await bot.post(token, batch(events)))[0] == 200
        replies = ColonyReplies(bot.services.queries, bot.services.tokens, None, public_url="http://x")
        replies.now = lambda: datetime.now(UTC)
        (embed,) = (await replies.status(111, "Col 285 Sector GF-F b12-5")).embeds
        finished = int(datetime.fromisoformat(events[1]["timestamp"]).timestamp())
        assert f"Complete <t:{finished}:R>" in (embed.fields[0].value or "")
