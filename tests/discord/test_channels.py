"""Channel updates with a fake clock and a fake Discord channel: no sleeps, no network."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import discord
import pytest

from bot.notify.channels import (
    ChannelGoneError,
    ChannelUpdates,
    ConsoleChannelPort,
    FollowTarget,
    MemoryFollowStore,
    NoPermissionError,
    RateLimitedError,
    UnreachableError,
)
from bot.notify.feed import Delivery, SiteChange
from bot.views import CommodityView, ContributionView, SiteView
from tests.bot._helpers import BOUND, until
from tests.discord._fakes import FakeChannels, FakeClock

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
GUILD = 111
OTHER_GUILD = 222
CHANNEL = 900
SITE_A = 3_958_346_754
SITE_B = 4_212_063_747
SYSTEM = "Col 285 Sector GF-F b12-5"


def site(
    market_id: int = SITE_A,
    *,
    provided: int = 5800,
    contributions: dict[tuple[str, str], int] | None = None,
    complete: bool = False,
    failed: bool = False,
    system: str = SYSTEM,
    name: str = "Orbital Construction Site: Y",
    updated: datetime = NOW,
) -> SiteView:
    """A site needing 10,000 t: 4,000 steel, 3,000 titanium, 3,000 aluminium."""
    required = {"steel": 4000, "titanium": 3000, "aluminium": 3000}
    left = provided
    commodities = []
    for commodity, req in required.items():
        got = min(req, left)
        left -= got
        commodities.append(
            CommodityView(
                name=commodity,
                name_localised=commodity.title(),
                required=req,
                provided=got,
                remaining=req - got,
            )
        )
    return SiteView(
        market_id=market_id,
        station_name=name,
        station_type="SpaceConstructionDepot",
        system_name=system,
        system_address=1,
        progress=provided / 10_000,
        complete=complete,
        failed=failed,
        updated_at=updated,
        commodities=commodities,
        contributions=[
            ContributionView(commander=k[0], commodity=k[1], tonnes=v)
            for k, v in (contributions or {}).items()
        ],
    )


class Rig:
    def __init__(self, store: MemoryFollowStore | None = None, channels: FakeChannels | None = None) -> None:
        self.clock = FakeClock()
        self.channels = channels or FakeChannels()
        self.store = store or MemoryFollowStore()
        self.updates = ChannelUpdates(self.channels, self.store, clock=self.clock, now=lambda: NOW)

    async def change(self, new: SiteView, old: SiteView | None, guild: int = GUILD) -> None:
        await self.updates.sites_changed([SiteChange(guild, new, old)])


async def followed(target: FollowTarget | None = None, sites: list[SiteView] | None = None) -> Rig:
    rig = Rig()
    await rig.updates.load()
    await rig.updates.follow(
        GUILD,
        target or FollowTarget(channel_id=CHANNEL, market_id=SITE_A),
        sites if sites is not None else [site()],
    )
    await rig.updates.flush()
    return rig


async def test_following_posts_one_live_message_and_nothing_while_nothing_changes() -> None:
    rig = await followed()
    assert rig.channels.ops() == [("post", CHANNEL, 501)]
    embed = rig.channels.log[0].embeds[0]
    assert embed.title == "Orbital Construction Site: Y"
    assert "58.0%" in (embed.description or "")
    for _ in range(5):
        rig.clock.advance(30)
        await rig.updates.flush()
    # The same state again from the intake changes no rendering: no edit either.
    await rig.change(site(), site())
    rig.clock.advance(30)
    await rig.updates.flush()
    assert rig.channels.ops() == [("post", CHANNEL, 501)]


async def test_changes_edit_the_same_message_at_most_once_per_10_seconds() -> None:
    rig = await followed()
    rig.clock.advance(3)
    await rig.change(site(provided=5900), site())
    await rig.updates.flush()
    assert rig.channels.ops() == [("post", CHANNEL, 501)]  # posted 3 s ago: too soon
    await rig.change(site(provided=6000), site(provided=5900))
    rig.clock.advance(6.9)
    await rig.updates.flush()
    assert len(rig.channels.log) == 1
    rig.clock.advance(0.1)
    await rig.updates.flush()
    assert rig.channels.ops() == [("post", CHANNEL, 501), ("edit", CHANNEL, 501)]
    assert "60.0%" in (rig.channels.messages[501][2][0].description or "")


async def test_a_deleted_live_message_is_posted_anew_and_the_new_id_is_kept() -> None:
    rig = await followed()
    rig.channels.delete(501)
    rig.clock.advance(11)
    await rig.change(site(provided=6000), site())
    await rig.updates.flush()
    assert rig.channels.ops() == [("post", CHANNEL, 501), ("post", CHANNEL, 502)]
    assert (await rig.store.load_all())[GUILD].messages == {f"{CHANNEL}:{SITE_A}": 502}
    rig.clock.advance(11)
    await rig.change(site(provided=6100), site(provided=6000))
    await rig.updates.flush()
    assert rig.channels.ops()[-1] == ("edit", CHANNEL, 502)


async def test_a_restarted_service_keeps_editing_the_same_message() -> None:
    rig = await followed()
    again = Rig(store=rig.store, channels=rig.channels)
    await again.updates.load()
    await again.change(site(provided=6000), None)
    await again.updates.flush()
    assert again.channels.ops() == [("post", CHANNEL, 501), ("edit", CHANNEL, 501)]
    # Announcements made before the restart are not made again.
    assert not any("reached" in line for line in again.channels.lines(CHANNEL))


async def test_a_429_pauses_the_channel_then_the_update_goes_out_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = await followed()
    rig.clock.advance(11)
    await rig.change(site(provided=6000), site())
    rig.channels.fail.append(RateLimitedError(5.0))
    with caplog.at_level(logging.WARNING, logger="bot.notify.channels"):
        await rig.updates.flush()
    assert "rate limited by Discord, retrying in 5.0 s" in caplog.text
    rig.clock.advance(4.9)
    await rig.updates.flush()
    assert rig.channels.ops() == [("post", CHANNEL, 501)]
    rig.clock.advance(0.1)
    await rig.updates.flush()
    rig.clock.advance(60)
    await rig.updates.flush()
    assert rig.channels.ops() == [("post", CHANNEL, 501), ("edit", CHANNEL, 501)]


async def test_a_burst_of_deliveries_is_one_feed_line() -> None:
    rig = await followed()
    cmdr = "X"
    s0 = site(provided=5100)
    s1 = site(provided=5900, contributions={(cmdr, "titanium"): 800})
    s2 = site(provided=6700, contributions={(cmdr, "titanium"): 800, (cmdr, "aluminium"): 800})
    s3 = site(
        provided=7428,
        contributions={(cmdr, "titanium"): 800, (cmdr, "aluminium"): 800, (cmdr, "steel"): 728},
    )
    rig.clock.advance(11)
    await rig.change(s0, site())
    for before, after in ((s0, s1), (s1, s2), (s2, s3)):
        rig.clock.advance(5)
        await rig.change(after, before)
        await rig.updates.flush()
    assert [line for line in rig.channels.lines(CHANNEL) if "delivered" in line] == []  # burst still open
    rig.clock.advance(20)
    await rig.updates.flush()
    feed = [line for line in rig.channels.lines(CHANNEL) if "delivered" in line]
    assert feed == [
        "CMDR X delivered 2,328 t across 3 commodities to Orbital Construction Site: Y, 51.0% to 74.3%"
    ]


async def test_a_delivery_that_crosses_a_threshold_is_told_before_the_announcement() -> None:
    rig = await followed()
    rig.clock.advance(11)
    await rig.change(site(provided=7600, contributions={("X", "steel"): 1800}), site())
    await rig.updates.flush()
    assert rig.channels.lines(CHANNEL) == [
        "CMDR X delivered 1,800 t of Steel to Orbital Construction Site: Y, 58.0% to 76.0%",
        f"\U0001f4e3 Orbital Construction Site: Y in {SYSTEM} reached 75%, 2,400 t to go.",
    ]


async def test_single_commodity_line_and_two_commanders_two_lines() -> None:
    rig = await followed()
    s1 = site(provided=6576, contributions={("Ada_Quill", "titanium"): 776, ("Brannock", "steel"): 0})
    await rig.change(s1, site())
    rig.clock.advance(2)
    s2 = site(provided=7296, contributions={("Ada_Quill", "titanium"): 776, ("Brannock", "steel"): 720})
    await rig.change(s2, s1)
    rig.clock.advance(30)
    await rig.updates.flush()
    feed = [line for line in rig.channels.lines(CHANNEL) if "delivered" in line]
    assert feed == [
        "CMDR Ada\\_Quill delivered 776 t of Titanium to Orbital Construction Site: Y, 58.0% to 65.8%",
        "CMDR Brannock delivered 720 t of Steel to Orbital Construction Site: Y, 65.8% to 73.0%",
    ]


async def test_announcements_at_thresholds_completion_and_failure() -> None:
    rig = await followed(sites=[site(provided=2000)])
    steps = [
        site(provided=4900),
        site(provided=7600),
        site(provided=7700),
        site(provided=10_000),
        site(provided=10_000, complete=True),
    ]
    before = site(provided=2000)
    for after in steps:
        rig.clock.advance(11)
        await rig.change(after, before)
        await rig.updates.flush()
        before = after
    announced = [line for line in rig.channels.lines(CHANNEL) if "delivered" not in line]
    name = f"Orbital Construction Site: Y in {SYSTEM}"
    # 50% was crossed in the same change as 75%: only the higher one is worth a line.
    assert announced == [
        f"\U0001f4e3 {name} reached 25%, 5,100 t to go.",
        f"\U0001f4e3 {name} reached 75%, 2,400 t to go.",
        f"\U0001f4e3 {name} reached 100%.",
        f"\U0001f389 {name} is complete!",
    ]
    rig.clock.advance(11)
    await rig.change(site(provided=3000, failed=True, market_id=SITE_A), before)
    await rig.updates.flush()
    assert rig.channels.lines(CHANNEL)[-1] == f"\u274c {name} failed."


async def test_other_colonies_are_not_announced_in_a_channel_following_one_site() -> None:
    rig = await followed()
    other = site(SITE_B, provided=2000, name="Planetary Construction Site: Z")
    rig.clock.advance(11)
    await rig.change(
        site(
            SITE_B,
            provided=9000,
            name="Planetary Construction Site: Z",
            complete=False,
            contributions={("X", "steel"): 4000},
        ),
        other,
    )
    await rig.change(site(provided=9000, contributions={("X", "steel"): 3200}), site(), guild=OTHER_GUILD)
    rig.clock.advance(60)
    await rig.updates.flush()
    assert rig.channels.ops() == [("post", CHANNEL, 501)]


async def test_a_system_follow_covers_sites_seen_later_in_that_system() -> None:
    rig = await followed(FollowTarget(channel_id=CHANNEL, system=SYSTEM.lower()), [site()])
    await rig.change(site(SITE_B, provided=0, name="Planetary Construction Site: Z"), None)
    await rig.change(site(SITE_B, provided=100, name="Elsewhere", system="Sol"), None)
    rig.clock.advance(1)
    await rig.updates.flush()
    titles = [s.embeds[0].title for s in rig.channels.log if s.embeds]
    assert titles == ["Orbital Construction Site: Y", "Planetary Construction Site: Z"]


async def test_missing_permissions_pause_and_a_deleted_channel_ends_its_follows(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = await followed()
    rig.clock.advance(11)
    await rig.change(site(provided=6000), site())
    rig.channels.fail.append(NoPermissionError("50013"))
    with caplog.at_level(logging.WARNING, logger="bot.notify.channels"):
        await rig.updates.flush()
        assert "missing permission to post" in caplog.text
        rig.clock.advance(299)
        await rig.updates.flush()
        assert len(rig.channels.log) == 1
        rig.clock.advance(1)
        rig.channels.fail.append(ChannelGoneError("10003"))
        await rig.updates.flush()
        assert "no longer exists: its follows are removed" in caplog.text
    saved = (await rig.store.load_all())[GUILD]
    assert saved.follows == []
    assert saved.messages == {}
    rig.clock.advance(60)
    await rig.change(site(provided=7000), site(provided=6000))
    await rig.updates.flush()
    assert len(rig.channels.log) == 1


async def test_discord_unreachable_keeps_the_updates_and_retries_them_soon_and_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before the login (Discord unreachable at start) or in a network outage: no channel is at
    fault, so nothing is dropped or logged per channel, and the same updates go out 5 s later."""
    rig = await followed()
    rig.clock.advance(11)
    await rig.change(site(provided=6000), site())
    rig.channels.fail.append(UnreachableError("not logged in to Discord yet"))
    with caplog.at_level(logging.INFO, logger="bot.notify.channels"):
        await rig.updates.flush()
        rig.clock.advance(4.9)
        await rig.updates.flush()
        assert rig.channels.ops() == [("post", CHANNEL, 501)]  # still paused
        rig.clock.advance(0.1)
        await rig.updates.flush()
    assert caplog.records == []
    assert rig.channels.ops() == [("post", CHANNEL, 501), ("edit", CHANNEL, 501)]
    assert "Titanium** 2,000/3,000" in str(rig.channels.log[-1].embeds[0].description)
    assert (await rig.store.load_all())[GUILD].follows == [FollowTarget(channel_id=CHANNEL, market_id=SITE_A)]


async def test_the_intake_never_waits_for_discord() -> None:
    """A port that hangs forever: recording changes still returns at once."""
    never = asyncio.Event()

    class Hanging(FakeChannels):
        async def post(self, channel_id: int, **kwargs: object) -> int:
            await never.wait()
            return 0

    rig = Rig(channels=Hanging())
    await rig.updates.follow(GUILD, FollowTarget(channel_id=CHANNEL, market_id=SITE_A), [site()])
    await asyncio.wait_for(rig.change(site(provided=6000), site()), timeout=1)
    flushing = asyncio.ensure_future(rig.updates.flush())
    await asyncio.wait_for(rig.change(site(provided=6500), site(provided=6000)), timeout=1)
    assert not flushing.done()
    flushing.cancel()


async def test_old_history_updates_the_live_message_but_not_the_feed() -> None:
    rig = await followed()
    old = NOW - timedelta(days=3)
    rig.clock.advance(11)
    await rig.change(site(provided=6000, updated=old, contributions={("X", "steel"): 200}), site(updated=old))
    rig.clock.advance(60)
    await rig.updates.flush()
    assert rig.channels.ops() == [("post", CHANNEL, 501), ("edit", CHANNEL, 501)]
    assert not any("delivered" in line for line in rig.channels.lines(CHANNEL))


async def test_a_returning_uploaders_old_hand_ins_are_not_told_beside_todays() -> None:
    """Bob's uploader was off for three days: his hand-ins of then reach the bot in the same
    change as Carl's of now, on a site that Alice's readings kept current. Only Carl's is news."""
    rig = await followed()
    rig.clock.advance(11)
    after = site(provided=6100, contributions={("Bob", "steel"): 2000, ("Carl", "steel"): 300})
    deliveries = (
        Delivery("Bob", "steel", 1500, NOW - timedelta(days=3)),
        Delivery("Bob", "steel", 500, NOW - timedelta(days=3, hours=1)),
        Delivery("Carl", "steel", 300, NOW - timedelta(minutes=2)),
    )
    await rig.updates.sites_changed([SiteChange(GUILD, after, site(), deliveries)])
    rig.clock.advance(60)
    await rig.updates.flush()
    feed = [line for line in rig.channels.lines(CHANNEL) if "delivered" in line]
    assert feed == ["CMDR Carl delivered 300 t of Steel to Orbital Construction Site: Y, 58.0% to 61.0%"]


async def test_unfollow_stops_updates() -> None:
    rig = await followed()
    assert await rig.updates.unfollow(GUILD, CHANNEL) == 1
    rig.clock.advance(11)
    await rig.change(site(provided=6000), site())
    await rig.updates.flush()
    assert rig.channels.ops() == [("post", CHANNEL, 501)]
    assert (await rig.store.load_all())[GUILD].follows == []


async def test_closing_tells_the_last_state_even_inside_the_edit_interval() -> None:
    rig = await followed()
    rig.clock.advance(2)
    await rig.change(site(provided=6000, contributions={("X", "steel"): 200}), site())
    await rig.updates.close()
    assert rig.channels.ops() == [("post", CHANNEL, 501), ("post", CHANNEL, 502), ("edit", CHANNEL, 501)]
    assert "60.0%" in (rig.channels.messages[501][2][0].description or "")
    assert rig.channels.lines(CHANNEL) == [
        "CMDR X delivered 200 t of Steel to Orbital Construction Site: Y, 58.0% to 60.0%"
    ]


# --- Discord answering slowly: what is recorded meanwhile is neither lost nor sent twice ----------


async def test_a_change_recorded_while_an_edit_is_answered_is_shown_next() -> None:
    rig = await followed()  # at 58%; no threshold is crossed below, so only the edit is sent
    rig.clock.advance(11)
    await rig.change(site(provided=7000), site())
    rig.channels.gate = asyncio.Event()
    flushing = asyncio.ensure_future(rig.updates.flush())
    await asyncio.wait_for(rig.channels.received.wait(), BOUND)  # the edit to 70% is at Discord
    await rig.change(site(provided=7400), site(provided=7000))
    rig.channels.gate.set()
    await asyncio.wait_for(flushing, BOUND)
    rig.clock.advance(11)
    await rig.updates.flush()
    assert rig.channels.ops() == [("post", CHANNEL, 501), ("edit", CHANNEL, 501), ("edit", CHANNEL, 501)]
    (_, _, embeds) = rig.channels.messages[501]
    assert "74.0%" in (embeds[0].description or "")


async def test_a_line_recorded_while_lines_are_posted_is_posted_next() -> None:
    rig = await followed(sites=[site(provided=4000)])
    await rig.change(site(provided=5500), site(provided=4000))  # "reached 50%" waits
    rig.channels.gate = asyncio.Event()
    rig.clock.advance(11)
    flushing = asyncio.ensure_future(rig.updates.flush())
    await asyncio.wait_for(rig.channels.received.wait(), BOUND)
    await rig.change(site(provided=10_000, complete=True), site(provided=5500))
    rig.channels.gate.set()
    await asyncio.wait_for(flushing, BOUND)
    rig.clock.advance(11)
    await rig.updates.flush()
    text = "\n".join(rig.channels.lines(CHANNEL))
    assert "reached 50%" in text
    assert "is complete!" in text


async def test_stopping_during_a_post_lets_it_finish_and_does_not_post_it_again() -> None:
    rig = Rig()
    await rig.updates.load()
    rig.channels.gate = asyncio.Event()
    rig.updates.start(None, interval=0.01)
    await rig.updates.follow(GUILD, FollowTarget(channel_id=CHANNEL, market_id=SITE_A), [site()])
    await asyncio.wait_for(rig.channels.received.wait(), BOUND)  # the live message is at Discord
    closing = asyncio.ensure_future(rig.updates.close())
    await asyncio.sleep(0)  # (one turn of the loop: close has started waiting for the pass)
    rig.channels.gate.set()
    await asyncio.wait_for(closing, BOUND)
    assert rig.channels.ops() == [("post", CHANNEL, 501)]
    assert (await rig.store.load_all())[GUILD].messages == {f"{CHANNEL}:{SITE_A}": 501}


async def test_a_backlog_longer_than_one_message_is_posted_whole_in_order() -> None:
    """Lines piled up while Discord was unreachable: every one is posted, the newest (here the
    completion) included, in as many messages of at most 2,000 characters as needed."""
    rig = await followed(sites=[site(provided=0)])
    provided, contributions = 0, {}
    for i in range(25):
        before = site(provided=provided, contributions=dict(contributions))
        provided += 400
        contributions[(f"Hauler {i:02d}", "steel" if provided <= 4000 else "titanium")] = 400
        now = site(provided=provided, contributions=dict(contributions), complete=provided >= 10_000)
        await rig.change(now, before)
        rig.channels.fail.append(UnreachableError("cannot reach Discord"))
        rig.clock.advance(30)
        await rig.updates.flush()
    rig.channels.fail.clear()
    rig.clock.advance(30)
    await rig.updates.flush()
    posts = [s.content for s in rig.channels.log if s.op == "post" and s.content]
    assert len(posts) >= 2
    assert all(len(p) <= 2000 for p in posts)
    text = "\n".join(posts)
    assert "more updates" not in text
    where = [text.find(f"Hauler {i:02d}") for i in range(25)]
    assert -1 not in where
    assert where == sorted(where)  # in the order they happened
    assert text.rstrip().endswith("is complete!")


async def test_offline_message_numbers_never_repeat_a_saved_one_after_a_restart() -> None:
    """Offline, the console numbers its own messages; a new process must not number a new message
    like one a live message or a board of an earlier run was saved as (both would be 'message 1')."""
    store = MemoryFollowStore()
    rig = Rig(store=store)
    await rig.updates.load()
    await rig.updates.follow(GUILD, FollowTarget(channel_id=CHANNEL, market_id=SITE_A), [site(SITE_A)])
    await rig.updates.flush(final=True)
    restarted = ChannelUpdates(rig.channels, store, clock=rig.clock, now=lambda: NOW)
    await restarted.load()
    assert rig.channels.in_use_ids == [501]  # told the port which ids are taken

    port = ConsoleChannelPort(io.StringIO(), now=lambda: NOW)
    port.in_use([3, 7])
    port.in_use([])
    assert await port.post(CHANNEL, content="x", embeds=[]) == 8


async def test_unfollowing_one_site_after_a_restart_keeps_the_others_live_message() -> None:
    store = MemoryFollowStore()
    rig = Rig(store=store)
    await rig.updates.load()
    await rig.updates.follow(GUILD, FollowTarget(channel_id=CHANNEL, market_id=SITE_A), [site(SITE_A)])
    await rig.updates.follow(GUILD, FollowTarget(channel_id=CHANNEL, market_id=SITE_B), [site(SITE_B)])
    await rig.updates.flush(final=True)
    assert rig.channels.ops() == [("post", CHANNEL, 501), ("post", CHANNEL, 502)]
    restarted = ChannelUpdates(rig.channels, store, clock=rig.clock, now=lambda: NOW)
    await restarted.load()
    assert await restarted.unfollow(GUILD, CHANNEL, market_id=SITE_B) == 1
    rig.clock.advance(60)
    await restarted.sites_changed([SiteChange(GUILD, site(SITE_A, provided=6000), site(SITE_A))])
    await restarted.flush()
    assert rig.channels.ops()[2:] == [("edit", CHANNEL, 501)]
    assert (await store.load_all())[GUILD].messages == {f"{CHANNEL}:{SITE_A}": 501}


class _HangingFirstPost(FakeChannels):
    """Discord never answers the first post of text (discord.py sleeping out a long rate limit)."""

    hang_next = True

    async def post(self, channel_id: int, *, content: str | None, embeds: Sequence[discord.Embed]) -> int:
        if content and self.hang_next:
            self.hang_next = False
            self.received.set()
            await asyncio.Event().wait()
        return await FakeChannels.post(self, channel_id, content=content, embeds=embeds)


async def test_a_stop_that_cannot_wait_for_discord_keeps_the_lines_for_the_last_pass() -> None:
    channels = _HangingFirstPost()
    rig = Rig(channels=channels)
    rig.updates.close_wait = 0.05
    await rig.updates.load()
    await rig.updates.follow(GUILD, FollowTarget(channel_id=CHANNEL, market_id=SITE_A), [site(provided=4000)])
    await rig.change(site(provided=5500), site(provided=4000))  # "reached 50%" waits to be posted
    rig.updates.start(None, interval=0.01)
    await asyncio.wait_for(channels.received.wait(), BOUND)  # that post hangs at Discord
    await asyncio.wait_for(rig.updates.close(), BOUND)
    assert "reached 50%" in "\n".join(channels.lines(CHANNEL))  # cancelled there, posted by the last pass


async def test_a_stop_is_bounded_when_discord_never_answers(caplog: pytest.LogCaptureFixture) -> None:
    class Silent(FakeChannels):
        async def post(self, channel_id: int, *, content: str | None, embeds: Sequence[discord.Embed]) -> int:
            self.received.set()
            await asyncio.Event().wait()
            return 0

    channels = Silent()
    rig = Rig(channels=channels)
    rig.updates.close_wait = 0.05
    await rig.updates.load()
    await rig.updates.follow(GUILD, FollowTarget(channel_id=CHANNEL, market_id=SITE_A), [site()])
    rig.updates.start(None, interval=0.01)
    await asyncio.wait_for(channels.received.wait(), BOUND)
    await asyncio.wait_for(rig.updates.close(), BOUND)  # the pass, then the last pass: 0.05 s each
    assert "did not answer the last pass within 0.05 s" in caplog.text


async def test_what_a_cut_last_pass_posted_is_saved_for_the_restart() -> None:
    """The last pass is cut at close_wait by a second channel's hanging post: what it announced in
    the first channel is still saved, so a restart does not announce it again."""
    stuck = CHANNEL + 1

    class HangsInOne(FakeChannels):
        async def post(self, channel_id: int, *, content: str | None, embeds: Sequence[discord.Embed]) -> int:
            if channel_id == stuck:
                await asyncio.Event().wait()
            return await FakeChannels.post(self, channel_id, content=content, embeds=embeds)

    store, channels = MemoryFollowStore(), HangsInOne()
    rig = Rig(store=store, channels=channels)
    rig.updates.close_wait = 0.05
    await rig.updates.load()
    for channel in (CHANNEL, stuck):
        target = FollowTarget(channel_id=channel, market_id=SITE_A)
        await rig.updates.follow(GUILD, target, [site(provided=4000)])
    await rig.change(site(provided=5500), site(provided=4000))  # "reached 50%" in both channels
    await asyncio.wait_for(rig.updates.close(), BOUND)
    assert sum("reached 50%" in line for line in channels.lines(CHANNEL)) == 1
    saved = (await store.load_all())[GUILD]
    assert "50" in saved.marks[f"{CHANNEL}:{SITE_A}"]


# --- one channel waiting on Discord holds up no other ----------------------------------------------


async def test_a_channel_waiting_on_discord_holds_up_no_other_channel() -> None:
    """discord.py waits out a channel's rate limit inside the request (a 429's retry_after, or the
    bucket of 5 messages per 5 s that one /colony follow of a system fills). Meanwhile the other
    channels are posted and edited as usual, pass after pass; the waiting one is not sent to again
    until Discord answers, then the rest of its work goes out once, with the newest state."""
    busy, quiet = CHANNEL, CHANNEL + 1
    rig = Rig()
    rig.channels.held[busy] = asyncio.Event()
    await rig.updates.load()
    both = [site(SITE_A), site(SITE_B)]
    await rig.updates.follow(GUILD, FollowTarget(channel_id=busy, system=SYSTEM), both)
    await rig.updates.follow(OTHER_GUILD, FollowTarget(channel_id=quiet, market_id=SITE_B), both)
    rig.updates.start(None, interval=0.01)

    def sent(channel: int) -> list[str]:
        return [op for op, ch, _ in rig.channels.ops() if ch == channel]

    await until(lambda: sent(quiet) == ["post"], "the quiet channel's live message is posted")
    rig.clock.advance(11)
    await rig.change(site(SITE_B, provided=6000), site(SITE_B), guild=OTHER_GUILD)
    await rig.change(site(SITE_B, provided=6000), site(SITE_B))
    await until(lambda: sent(quiet) == ["post", "edit"], "the quiet channel's next edit")
    assert sent(busy) == ["post"]  # still waiting for its first answer, and not sent to again

    rig.channels.held[busy].set()
    await until(lambda: len(sent(busy)) == 2, "the busy channel's second live message")
    await asyncio.wait_for(rig.updates.close(), BOUND)
    assert sent(busy) == ["post", "post"]
    _, second = [s.message_id for s in rig.channels.log if s.channel_id == busy]  # site B's
    (_, _, embeds) = rig.channels.messages[second]
    assert "60.0%" in (embeds[0].description or "")


# --- a channel that refuses the bot -----------------------------------------------------------------


async def test_a_week_without_permission_to_post_leaves_one_message_not_a_backlog() -> None:
    """An admin takes Send Messages away, or kicks the bot: a week of hourly deliveries must not
    pile up in memory, nor be dumped into the channel in one go when the permission is back. Kept:
    what one message holds, the newest lines, after a note of how many were not posted."""
    rig = await followed(sites=[site(provided=0)])
    rig.channels.refusing.add(CHANNEL)
    before, contributions = site(provided=0), {}
    hours = 7 * 24
    for hour in range(hours):  # 10 t an hour: no threshold crossed, one feed line each
        contributions[(f"Hauler {hour:03d}", "steel")] = 10
        now = site(provided=10 * (hour + 1), contributions=dict(contributions))
        await rig.change(now, before)
        before = now
        rig.clock.advance(3600)
        await rig.updates.flush()
    rig.channels.refusing.clear()
    rig.clock.advance(300)
    await rig.updates.flush()
    rig.clock.advance(3600)
    await rig.updates.flush()  # and nothing is left for later

    (text,) = [s.content for s in rig.channels.log if s.op == "post" and s.content]
    note, *lines = text.split("\n")
    skipped = int(note.split()[1].replace(",", ""))
    assert note == f"\u2026 {skipped} earlier updates not posted: the bot could not post here"
    assert len(text) <= 2000
    assert skipped + len(lines) == hours
    assert lines[-1].startswith(f"CMDR Hauler {hours - 1:03d} delivered 10 t of Steel")
