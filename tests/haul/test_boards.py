"""The haul board as the second live message of a followed site: posted once, edited in place as
claims and cargo move, expiry notes in the channel, kept across restarts, Discord failures absorbed.
The store is filled from the real April 2025 journal; Discord is an in-memory fake channel."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.notify.boards import BoardUpdates, MemoryBoardStore
from bot.notify.channels import (
    ChannelUpdates,
    FollowTarget,
    MemoryFollowStore,
    RateLimitedError,
    UnreachableError,
)
from tests.bot._helpers import BOUND, Journal, batch, until
from tests.discord._fakes import FakeChannels, FakeClock
from tests.haul._world import APRIL, GUILD, SITE, World, world
from wire import Batch

pytestmark = pytest.mark.samples

CHANNEL = 10
SHIP = "System Colonisation Ship"


def boards_for(w: World, port: FakeChannels, channels: ChannelUpdates, store: MemoryBoardStore,
               clock: FakeClock) -> BoardUpdates:  # fmt: skip
    return BoardUpdates(port, store, w.services.hauling, channels, clock=clock, now=w.clock)


async def following_the_site(
    w: World, port: FakeChannels, clock: FakeClock, *channel_ids: int
) -> ChannelUpdates:
    """Channel updates following the April site in each of `channel_ids` (CHANNEL when none)."""
    channels = ChannelUpdates(port, MemoryFollowStore(), clock=clock, now=w.clock)
    sites = await w.services.queries.sites(GUILD)
    for channel_id in channel_ids or (CHANNEL,):
        await channels.follow(GUILD, FollowTarget(channel_id=channel_id, market_id=SITE), sites)
    return channels


def board_messages(port: FakeChannels, channel_id: int = CHANNEL) -> dict[int, str]:
    """message id -> description, of the haul boards in the channel."""
    return {
        mid: embeds[0].description or ""
        for mid, (channel, _, embeds) in port.messages.items()
        if channel == channel_id and embeds and (embeds[0].title or "").startswith("Haul board:")
    }


async def test_the_board_is_a_second_live_message_edited_in_place(tmp_path: Path, samples: Path) -> None:
    async with world(tmp_path) as w:
        await w.join("TEST", 77, samples / APRIL)
        await w.play("TEST", "2025-04-08T21:44:01")
        port, clock = FakeChannels(), FakeClock()
        channels = await following_the_site(w, port, clock)
        store = MemoryBoardStore()
        boards = boards_for(w, port, channels, store, clock)
        await boards.load()
        await channels.flush()
        await boards.flush()
        (progress_id,) = [
            m for m, (c, _, e) in port.messages.items() if c == CHANNEL and m not in board_messages(port)
        ]
        (board_id,) = board_messages(port)
        assert board_id != progress_id
        assert "776 in ships + 0 claimed" in board_messages(port)[board_id]
        assert store.saved == {GUILD: {f"{CHANNEL}:{SITE}": board_id}}

        await boards.flush()  # nothing changed: no call at all
        assert [op for op in port.ops() if op[2] == board_id] == [("post", CHANNEL, board_id)]

        await w.services.hauling.claim(GUILD, 79, "steel", 500, SITE)
        await boards.flush()  # changed, but edited at most once per edit interval
        assert "500 claimed" not in board_messages(port)[board_id]
        clock.advance(10)
        await boards.flush()
        assert "776 in ships + 500 claimed" in board_messages(port)[board_id]
        assert port.ops()[-1] == ("edit", CHANNEL, board_id)

        # The claim expires on the clock: a note in the channel, the board edited.
        w.clock.now += timedelta(hours=4)
        clock.advance(10)
        await boards.flush()
        assert port.lines(CHANNEL)[-1] == (
            f"\u231b Claim `#1` of <@79> expired: 500 t Steel for {SHIP} is open again."
        )
        assert "776 in ships + 0 claimed" in board_messages(port)[board_id]

        # Deleted by a moderator: posted anew. Restarted: the same message is edited.
        port.delete(board_id)
        await w.play("TEST", "2025-04-08T21:46:11")
        clock.advance(10)
        await boards.flush()
        (new_id,) = board_messages(port)
        assert new_id != board_id
        assert "0 in ships" in board_messages(port)[new_id]
        restarted = boards_for(w, port, channels, store, clock)
        port.in_use_ids.clear()
        await restarted.load()
        assert restarted.message_id(GUILD, CHANNEL, SITE) == new_id
        assert port.in_use_ids == [new_id]  # so an offline port numbers past it
        await w.services.hauling.claim(GUILD, 79, "steel", 100, SITE)
        await restarted.flush()
        assert port.ops()[-1] == ("edit", CHANNEL, new_id)
        assert "100 claimed" in board_messages(port)[new_id]

        # Rate limited: nothing raised, paused, then done.
        await w.services.hauling.claim(GUILD, 79, "steel", 50, SITE)
        port.fail.append(RateLimitedError(30.0))
        clock.advance(10)
        await restarted.flush()
        assert "150 claimed" not in board_messages(port)[new_id]
        clock.advance(31)
        await restarted.flush()
        assert "150 claimed" in board_messages(port)[new_id]

        # Discord unreachable: retried after 5 s, not after the 30 s of a channel's error.
        await w.services.hauling.claim(GUILD, 79, "steel", 25, SITE)
        port.fail.append(UnreachableError("cannot reach Discord: connection refused"))
        clock.advance(10)
        await restarted.flush()
        assert "175 claimed" not in board_messages(port)[new_id]
        clock.advance(5)
        await restarted.flush()
        assert "175 claimed" in board_messages(port)[new_id]


async def test_no_follow_no_board(tmp_path: Path, samples: Path) -> None:
    async with world(tmp_path) as w:
        await w.join("TEST", 77, samples / APRIL)
        await w.play("TEST", "2025-04-08T21:44:01")
        port, clock = FakeChannels(), FakeClock()
        channels = ChannelUpdates(port, MemoryFollowStore(), clock=clock, now=w.clock)
        boards = boards_for(w, port, channels, MemoryBoardStore(), clock)
        await boards.load()
        await boards.flush()
        assert port.log == []


async def test_an_expiry_closed_by_a_command_is_still_told_once(tmp_path: Path, samples: Path) -> None:
    async with world(tmp_path) as w:
        await w.join("TEST", 77, samples / APRIL)
        await w.play("TEST", "2025-04-08T21:44:01")
        port, clock = FakeChannels(), FakeClock()
        channels = ChannelUpdates(port, MemoryFollowStore(), clock=clock, now=w.clock)
        sites = await w.services.queries.sites(GUILD)
        await channels.follow(GUILD, FollowTarget(channel_id=CHANNEL, system=sites[0].system_name), sites)
        boards = boards_for(w, port, channels, MemoryBoardStore(), clock)
        await boards.load()
        await boards.flush()
        await w.services.hauling.claim(GUILD, 79, "steel", 500, SITE)
        w.clock.now += timedelta(hours=4, seconds=1)
        (closed,) = await w.services.hauling.closed_since(GUILD, w.clock.now - timedelta(minutes=1))
        assert closed.status == "expired"  # closed by this read, not by the boards' pass
        await boards.flush()
        await boards.flush()
        notes = [line for line in port.lines(CHANNEL) if "expired" in line]
        assert notes == [f"\u231b Claim `#1` of <@79> expired: 500 t Steel for {SHIP} is open again."]
        restarted = boards_for(w, port, channels, MemoryBoardStore(), clock)
        await restarted.load()
        await restarted.flush()
        assert [line for line in port.lines(CHANNEL) if "expired" in line] == notes  # not told again


async def test_a_followed_site_that_completes_gets_its_finished_board(tmp_path: Path, samples: Path) -> None:
    """A pass builds the boards of the sites still being built and of the followed ones: a followed
    site that completes has its live board edited to say so."""
    async with world(tmp_path) as w:
        await w.join("TEST", 77, samples / APRIL)
        await w.play("TEST", "2025-04-08T21:44:01")
        port, clock = FakeChannels(), FakeClock()
        channels = await following_the_site(w, port, clock)
        boards = boards_for(w, port, channels, MemoryBoardStore(), clock)
        await boards.load()
        await boards.flush()
        (board_id,) = board_messages(port)
        assert "nothing left to haul" not in board_messages(port)[board_id]
        done = Journal("TEST").depot(50, SITE, {"steel": (1, 1)}, complete=True)
        await w.services.intake.submit(w.commanders["TEST"].token, Batch.model_validate(batch([done])))
        clock.advance(10)
        await boards.flush()
        assert "complete: nothing left to haul" in board_messages(port)[board_id]
        assert await w.services.hauling.boards(GUILD) == []  # no site left being built


async def test_another_guilds_pass_does_not_make_an_expiry_note_told_twice(
    tmp_path: Path, samples: Path
) -> None:
    """Each guild's pass forgets the expiry notes older than its own look-back. With one memory of
    told notes for every guild, the second guild's pass (a little later on the clock) forgot the
    first guild's note, and the first guild's next pass told it again."""
    other = GUILD + 1
    async with world(tmp_path) as w:
        await w.join("TEST", 77, samples / APRIL)
        await w.play("TEST", "2025-04-08T21:44:01")
        _, token = await w.services.tokens.issue(other, 78, "TWIN")
        await w.send(token, w.commanders["TEST"].events[: w.commanders["TEST"].sent])  # same sites
        port, clock = FakeChannels(), FakeClock()
        channels = ChannelUpdates(port, MemoryFollowStore(), clock=clock, now=w.clock)
        for guild, channel in ((GUILD, CHANNEL), (other, CHANNEL + 1)):
            sites = await w.services.queries.sites(guild)
            await channels.follow(guild, FollowTarget(channel_id=channel, market_id=SITE), sites)
        boards = boards_for(w, port, channels, MemoryBoardStore(), clock)
        await boards.load()
        await boards.flush()
        await w.services.hauling.claim(GUILD, 79, "steel", 500, SITE)
        w.clock.now += timedelta(hours=4, seconds=1)

        def ticking() -> datetime:  # the clock moves while a pass runs, as a real one does
            w.clock.now += timedelta(seconds=3)
            return w.clock.now

        w.services.hauling.clock = ticking
        for _ in range(200):  # passes over both guilds for a good ten minutes of the clock
            await boards.flush()
            clock.advance(1)
        notes = [line for line in port.lines(CHANNEL) if "expired" in line]
        assert notes == [f"\u231b Claim `#1` of <@79> expired: 500 t Steel for {SHIP} is open again."]
        assert not [line for line in port.lines(CHANNEL + 1) if "expired" in line]


async def test_a_channel_waiting_on_discord_holds_up_no_other_channels_board(
    tmp_path: Path, samples: Path
) -> None:
    """discord.py sits out a channel's rate limit inside the request; the site's board in another
    channel is posted meanwhile, and the waiting channel's board is not posted twice."""
    busy, quiet = CHANNEL, CHANNEL + 1
    async with world(tmp_path) as w:
        await w.join("TEST", 77, samples / APRIL)
        await w.play("TEST", "2025-04-08T21:44:01")
        port, clock = FakeChannels(), FakeClock()
        port.held[busy] = asyncio.Event()
        channels = await following_the_site(w, port, clock, busy, quiet)
        store = MemoryBoardStore()
        boards = boards_for(w, port, channels, store, clock)
        await boards.load()
        flushing = asyncio.ensure_future(boards.flush())
        await until(lambda: len(board_messages(port, quiet)) == 1, "the other channel's board is posted")
        assert not flushing.done()
        clock.advance(10)
        await w.services.hauling.claim(GUILD, 79, "steel", 500, SITE)
        await boards.flush()  # a pass meanwhile edits the quiet channel's board, leaves the busy one
        assert "500 claimed" in next(iter(board_messages(port, quiet).values()))
        port.held[busy].set()
        await asyncio.wait_for(flushing, BOUND)
        assert [op for op, channel, _ in port.ops() if channel == busy] == ["post"]
        assert set(store.saved[GUILD]) == {f"{busy}:{SITE}", f"{quiet}:{SITE}"}


async def test_a_stop_is_bounded_when_discord_never_answers_a_board_post(
    tmp_path: Path, samples: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """discord.py's own waits (a rate limit, aiohttp's 300 s timeout) must not hold the stop past
    the deploy's grace, when the process is killed: the board posted in the other channel would
    then not be saved, and be posted again after the restart."""
    stuck, fine = CHANNEL, CHANNEL + 1
    async with world(tmp_path) as w:
        await w.join("TEST", 77, samples / APRIL)
        await w.play("TEST", "2025-04-08T21:44:01")
        port, clock = FakeChannels(), FakeClock()
        port.held[stuck] = asyncio.Event()  # Discord has the post and never answers
        channels = await following_the_site(w, port, clock, stuck, fine)
        store = MemoryBoardStore()
        boards = boards_for(w, port, channels, store, clock)
        boards.close_wait = 0.05
        await boards.load()
        boards.start()
        await asyncio.wait_for(port.received.wait(), BOUND)  # a pass is at Discord
        await asyncio.wait_for(boards.close(), BOUND)
    assert "a post still unanswered after 0.05 s is abandoned" in caplog.text
    assert store.saved == {GUILD: {f"{fine}:{SITE}": next(iter(board_messages(port, fine)))}}
