"""The program's core: started and stopped in order, notifications off the request path."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import ColonyCore, StartupError
from bot.http.keys import STREAMS
from bot.notify.feed import ChangeFeed, Delivery, SiteChange
from tests.bot._helpers import BOUND, T0, Journal, batch, make_settings, until
from wire import Batch

SITE = 3958981890


class Recorder:
    """A notifier that remembers what it was told (and can be slow, like Discord)."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.changes: list[SiteChange] = []
        self.seen = asyncio.Event()
        self.gate = gate

    async def sites_changed(self, changes: Sequence[SiteChange]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.changes.extend(changes)
        self.seen.set()


async def test_core_serves_notifies_and_stops_in_order(tmp_path: Path) -> None:
    gate = asyncio.Event()  # the notifier is stuck (Discord is slow): uploads must not wait for it
    recorder = Recorder(gate)
    core = ColonyCore(make_settings(tmp_path), notifiers=[recorder])
    await core.start()
    try:
        token, _ = await core.services.tokens.issue(1, 2)
        alice = Journal("Alice")
        body = batch([alice.docked(0, SITE, "Site"), alice.depot(0, SITE, {"steel": (100, 50)})])
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{core.port}/api/v1/events"
            async with session.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
                assert resp.status == 200
        assert recorder.changes == []
        gate.set()
        await asyncio.wait_for(recorder.seen.wait(), 5)
        [change] = recorder.changes
        assert (change.guild_id, change.market_id, change.previous, change.site.progress) == (
            1,
            SITE,
            None,
            0.5,
        )
    finally:
        await core.stop()
    with pytest.raises(RuntimeError, match="not started"):
        _ = core.port


async def test_a_change_carries_the_hand_ins_of_its_batch_with_their_game_times(tmp_path: Path) -> None:
    """The channels tell a delivery as news only when it is recent in game time: the change must
    say when each hand-in of the batch was made."""
    recorder = Recorder()
    core = ColonyCore(make_settings(tmp_path), notifiers=[recorder])
    await core.start()
    try:
        alice = Journal("Alice")
        first = [alice.docked(0, SITE, "Site"), alice.depot(0, SITE, {"steel": (100, 50), "gold": (9, 0)})]
        second = [
            alice.contribution(5, SITE, {"steel": 10, "gold": 4}),
            alice.contribution(7, SITE, {"steel": 1}),
        ]
        token, _ = await core.services.tokens.issue(1, 2)
        for events in (first, second):
            async with aiohttp.ClientSession() as session:
                url = f"http://127.0.0.1:{core.port}/api/v1/events"
                headers = {"Authorization": f"Bearer {token}"}
                async with session.post(url, json=batch(events), headers=headers) as resp:
                    assert resp.status == 200
        await until(lambda: len(recorder.changes) == 2, "both batches are announced")
        assert recorder.changes[0].deliveries == ()
        assert recorder.changes[1].deliveries == (
            Delivery("Alice", "steel", 10, T0 + timedelta(minutes=5)),
            Delivery("Alice", "gold", 4, T0 + timedelta(minutes=5)),
            Delivery("Alice", "steel", 1, T0 + timedelta(minutes=7)),
        )
    finally:
        await core.stop()


async def test_a_notifier_that_fails_does_not_stop_the_others(tmp_path: Path) -> None:
    class Broken:
        async def sites_changed(self, changes: Sequence[SiteChange]) -> None:
            raise RuntimeError("discord is down")

    recorder = Recorder()
    core = ColonyCore(make_settings(tmp_path), notifiers=[Broken(), recorder])
    await core.start()
    try:
        _, record = await core.services.tokens.issue(1, 2)

        await core.services.intake.submit(
            record, Batch.model_validate(batch([Journal("A").depot(0, SITE, {"s": (9, 1)})]))
        )
        await asyncio.wait_for(recorder.seen.wait(), 5)
    finally:
        await core.stop()
    assert recorder.changes[0].market_id == SITE


async def test_start_fails_loudly_and_cleans_up(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="does not exist"):
        await ColonyCore(make_settings(tmp_path, db_path=tmp_path / "missing" / "x.db")).start()


async def test_feed_subscribers_see_their_guild_and_a_slow_one_loses_oldest_first() -> None:
    from bot.views import SiteView

    def view(market_id: int) -> SiteView:
        return SiteView(
            market_id=market_id, station_name=None, station_type=None, system_name=None, system_address=None,
            progress=0.0, complete=False, failed=False, updated_at=None, commodities=[], contributions=[],
        )  # fmt: skip

    feed = ChangeFeed(queue_size=2)
    mine = feed.subscribe(guild_id=1)
    everyone = feed.subscribe()
    for n in range(3):
        feed.publish([SiteChange(1, view(n), None), SiteChange(2, view(100 + n), None)])
    assert mine.dropped == 1
    assert [c.market_id for c in await mine.get()] == [1]
    assert [c.market_id for c in await mine.get()] == [2]
    assert [c.market_id for c in await everyone.get()] == [1, 101]
    feed.close()
    assert [c.market_id for c in await everyone.get()] == [2, 102]
    assert [changes async for changes in everyone] == []


async def test_the_step_before_the_store_closes_runs_after_intake_stopped_with_the_store_open(
    tmp_path: Path,
) -> None:
    # The Discord client unloads its extensions in this step: their last channel-update pass
    # must find the web server gone (no new uploads) and the database still usable.
    core = ColonyCore(make_settings(tmp_path))
    await core.start()
    port = core.port
    seen: list[object] = []

    async def before_store_closes() -> None:
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as session:
                await session.get(f"http://127.0.0.1:{port}/api/v1/health")
        seen.append(await core.services.queries.stats(1))

    await core.stop(before_store_closes=before_store_closes)
    assert len(seen) == 1


async def test_an_upload_in_flight_when_shutdown_begins_is_still_announced(tmp_path: Path) -> None:
    """aiohttp ends the live streams (on_shutdown) before it waits for the requests in progress.
    Closing the whole change feed there dropped the changes of an upload still being handled: it
    was stored and answered 200, but its announcement (a site completed!) was never posted."""
    recorder = Recorder()
    core = ColonyCore(make_settings(tmp_path), notifiers=[recorder])
    await core.start()
    token, _ = await core.services.tokens.issue(111, 2)
    alice = Journal("Alice")
    events = [alice.docked(0, SITE, "Site"), alice.depot(0, SITE, {"steel": (100, 100)}, complete=True)]
    intake = core.services.intake
    submit = intake.submit
    gate, entered = asyncio.Event(), asyncio.Event()

    async def held_submit(*args: Any, **kwargs: Any) -> Any:  # the upload waits in the intake
        entered.set()
        await gate.wait()
        return await submit(*args, **kwargs)

    intake.submit = held_submit  # type: ignore[method-assign]
    assert core._runner is not None
    streams = core._runner.app[STREAMS]
    async with aiohttp.ClientSession() as session:
        post = asyncio.create_task(
            session.post(
                f"http://127.0.0.1:{core.port}/api/v1/events",
                json=batch(events),
                headers={"Authorization": f"Bearer {token}"},
            )
        )
        try:
            await asyncio.wait_for(entered.wait(), BOUND)
            stopping = asyncio.create_task(core.stop())
            # aiohttp's on_shutdown has run (it ends the streams; it once closed the whole feed).
            await until(lambda: streams.closed or core.services.feed.closed, "shutdown has begun")
        finally:
            gate.set()
        async with await asyncio.wait_for(post, BOUND) as resp:
            assert resp.status == 200
            assert await resp.json() == {"accepted": 2, "duplicates": 0, "ignored": 0}
        await asyncio.wait_for(stopping, BOUND)
    assert [c.became_complete for c in recorder.changes if c.site.market_id == SITE][-1:] == [True]
