"""One bot serving several squadrons (guilds), with commanders in more than one: a guild's data
never shows in another, and one guild's activity does not change what another's channels say."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from bot.cli import main
from bot.notify.channels import FollowTarget, GuildFollows, SettingsFollowStore
from bot.services.bundle import Services, build_services
from bot.settings import Settings
from bot.store.db import Database
from tests.bot._helpers import Journal, batch
from wire import Batch

GUILD_A, GUILD_B = 1001, 2002
SITE_A, SITE_B = 3_700_000_001, 3_700_000_002
CHANNEL_B = 900_000_000_000_000_002
_BATCH = TypeAdapter(Batch)


async def _send(services: Services, guild: int, user: int, events: list[dict[str, Any]]) -> None:
    _, token = await services.tokens.issue(guild, user, "t")
    await services.intake.submit(token, _BATCH.validate_python(batch(events)))


def _shared_delivery(j: Journal) -> list[dict[str, Any]]:
    """A commander of both squadrons docks at the shared site, reads its depot and delivers 300 t."""
    return [
        j.docked(1, SITE_A, "Shared Depot"),
        j.depot(2, SITE_A, {"steel": (1000, 0)}),
        j.contribution(3, SITE_A, {"steel": 300}),
    ]


async def test_console_for_guild_a_prints_no_board_of_guild_b(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = Database(tmp_path / "colony.db")
    await db.open()
    services = await build_services(db)
    a, b = Journal("ALPHA"), Journal("BRAVO")
    await _send(services, GUILD_A, 11, [a.docked(1, SITE_A, "Alpha Public Depot"),
                                        a.depot(2, SITE_A, {"steel": (1000, 10)})])
    await _send(services, GUILD_B, 22, [b.docked(1, SITE_B, "Bravo Secret Depot"),
                                        b.depot(2, SITE_B, {"titanium": (4321, 0)})])
    # Guild B follows its site in one of its channels (made in Discord).
    await SettingsFollowStore(db).save(
        GUILD_B, GuildFollows(follows=[FollowTarget(channel_id=CHANNEL_B, market_id=SITE_B)])
    )
    await services.intake.close()
    await db.close()
    settings = Settings(_env_file=None, db_path=tmp_path / "colony.db", http_port=0)  # type: ignore[call-arg]
    argv = ["console", "--guild", str(GUILD_A), "-c", "/colony status"]
    assert await asyncio.to_thread(main, argv, settings) == 0
    out = capsys.readouterr().out
    assert "Alpha Public Depot" in out
    assert "Bravo Secret Depot" not in out, out


async def test_another_guilds_announcement_does_not_cut_this_guilds_burst() -> None:
    """Guild B's commander X delivers in one burst; guild A (same MarketID: a commander in both
    squadrons) reaches 75% meanwhile. B's channel should still get one line for X's burst."""
    from bot.notify.channels import ChannelUpdates, MemoryFollowStore
    from bot.notify.feed import SiteChange
    from tests.discord._fakes import FakeChannels, FakeClock
    from tests.discord.test_channels import NOW, SITE_A, site

    clock, port = FakeClock(), FakeChannels()
    updates = ChannelUpdates(port, MemoryFollowStore(), clock=clock, now=lambda: NOW)
    await updates.load()
    chan_a, chan_b = 900, 901
    await updates.follow(GUILD_A, FollowTarget(channel_id=chan_a, market_id=SITE_A), [site(provided=7400)])
    await updates.follow(GUILD_B, FollowTarget(channel_id=chan_b, market_id=SITE_A), [site(provided=5100)])
    await updates.flush()
    x = "X"
    b0, b1 = site(provided=5100), site(provided=5900, contributions={(x, "titanium"): 800})
    b2 = site(provided=6700, contributions={(x, "titanium"): 800, (x, "aluminium"): 800})
    clock.advance(11)
    await updates.sites_changed([SiteChange(GUILD_B, b1, b0)])
    clock.advance(5)
    # Guild A's own site view crosses 75% (its own numbers, its own channel).
    await updates.sites_changed([SiteChange(GUILD_A, site(provided=7600), site(provided=7400))])
    await updates.flush()
    clock.advance(5)
    await updates.sites_changed([SiteChange(GUILD_B, b2, b1)])
    clock.advance(30)
    await updates.flush()
    feed_b = [line for line in port.lines(chan_b) if "delivered" in line]
    assert feed_b == [
        "CMDR X delivered 1,600 t across 2 commodities to Orbital Construction Site: Y, 51.0% to 67.0%"
    ]


async def test_same_commander_two_guilds_same_batch_counts_in_each(tmp_path: Path) -> None:
    """One commander's same events, same batch id, to two guilds: counted in each, claims apart."""
    from tests.bot._helpers import make_settings, running_bot

    async with running_bot(make_settings(tmp_path)) as bot:
        ta, tb = await bot.token(GUILD_A, 7), await bot.token(GUILD_B, 7)
        events = _shared_delivery(Journal("SHARED", fid="F1"))
        body = batch(events, "same-batch")
        assert await bot.post(ta, body) == (200, {"accepted": 3, "duplicates": 0, "ignored": 0})
        assert await bot.post(tb, body) == (200, {"accepted": 3, "duplicates": 0, "ignored": 0})
        assert (await bot.post(tb, batch(events)))[1]["duplicates"] == 3
        for t in (ta, tb):
            _, lb = await bot.get(t, "/api/v1/leaderboard")
            assert [(e["commander"], e["tonnes"]) for e in lb["entries"]] == [("SHARED", 300)]
        # Guild B claims; guild A's board and claims do not show it; /haul mine per guild.
        await bot.services.hauling.claim(GUILD_B, 7, "steel", 200, SITE_A)
        _, ca = await bot.get(ta, "/api/v1/haul/claims")
        assert ca == {"claims": []}
        mine_a = await bot.services.hauling.mine(GUILD_A, 7)
        assert mine_a.claims == []
        _, board_a = await bot.get(ta, f"/api/v1/haul/boards/{SITE_A}")
        assert board_a["claimed"] == 0


async def test_same_events_to_two_guilds_in_one_group(tmp_path: Path) -> None:
    """Concurrent uploads of the same events to two guilds, written in one group: each guild's own."""
    db = Database(tmp_path / "colony.db")
    await db.open()
    try:
        services = await build_services(db)
        _, ta = await services.tokens.issue(GUILD_A, 7, "a")
        _, tb = await services.tokens.issue(GUILD_B, 7, "b")
        events = _shared_delivery(Journal("SHARED"))
        results = await asyncio.gather(*(
            services.intake.submit(t, _BATCH.validate_python(batch(events, f"x{i}")))
            for i, t in enumerate([ta, tb, ta, tb, ta, tb])
        ))
        assert sum(r.accepted for r in results) == 6
        for g in (GUILD_A, GUILD_B):
            lb = await services.queries.leaderboard(g)
            assert [(e.commander, e.tonnes) for e in lb] == [("SHARED", 300)]
        await services.intake.close()
    finally:
        await db.close()


async def test_rebuild_two_guilds_same_commander(tmp_path: Path) -> None:
    """`colony-bot rebuild` reproduces both guilds' projections, byte for byte."""
    from bot.services.rebuild import rebuild
    from bot.store.projections import ProjectionStore

    db = Database(tmp_path / "colony.db")
    await db.open()
    try:
        services = await build_services(db)
        _, ta = await services.tokens.issue(GUILD_A, 7, "a")
        _, tb = await services.tokens.issue(GUILD_B, 8, "b")
        j = Journal("SHARED")
        events = [*_shared_delivery(j),
                  j.event("market", 4, market_id=SITE_B, station_name="K7Q-1ZZ", station_type="FleetCarrier",
                          system_name="Col 285 Sector GF-F b12-5", items=[])]
        await services.intake.submit(ta, _BATCH.validate_python(batch(events)))
        await services.intake.submit(tb, _BATCH.validate_python(batch(events[:2])))
        await services.intake.close()
        before = await ProjectionStore().dump(db.conn)
        await rebuild(db)
        assert await ProjectionStore().dump(db.conn) == before
    finally:
        await db.close()
