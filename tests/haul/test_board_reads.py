"""A board pass reads only what can still move a number, reads it once, and never under the write lock.

The board is worked out every 15 s and after every change, for months. Reread on each pass, the
trades since the oldest linked carrier's snapshot became the guild's whole history, parsed while
holding the write lock every upload waits for. These tests count the stored trades handed to the
board and assert orders, not timings; and that the windows a long-running bot keeps give the numbers
a bot reading everything afresh (a restarted one) gives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench._squadron import COMMODITIES, START, Commander, batch, squadron_sites
from bot.services.bundle import Services, build_services
from bot.services.hauling import HaulService
from bot.store.db import Database
from bot.store.hauling import HaulStore
from bot.store.tokens import TokenRecord
from tests.bot._helpers import T0, Journal
from tests.bot._helpers import batch as one_batch
from tests.haul._world import Clock
from wire import Batch

GUILD = 7
TRIPS = 120  # one every 2 h: ten days of one commander's hauling
GAP = timedelta(hours=2)
AWAY = 3_690_000_000  # a carrier nobody trades at (the bench's commanders trade at 3_700_000_000 + n)
STOCK = [{"name": name, "stock": 50_000, "demand": 0} for name in COMMODITIES]


class Reads:
    """Counts the stored trades and transfers the store hands the board, whichever read it takes."""

    def __init__(self, store: HaulStore) -> None:
        self.rows = 0
        for name in ("moves", "moves_after", "carrier_moves"):
            read = getattr(store, name, None)
            if read is not None:
                setattr(store, name, self._counted(read))

    def _counted(self, read: Any) -> Any:
        async def counted(*args: Any, **kwargs: Any) -> Any:
            found = await read(*args, **kwargs)
            self.rows += len(found)
            return found

        return counted


@dataclass
class Squadron:
    db: Database
    services: Services
    clock: Clock
    token: TokenRecord
    cmdr: Commander
    sent: int = 0

    @property
    def trading_at(self) -> int:
        """The carrier the commander buys at on every trip (bench/_squadron.py)."""
        return 3_700_000_000 + hash(self.cmdr.name) % 1000

    async def send(self, events: list[dict[str, Any]]) -> None:
        for start in range(0, len(events), 500):
            self.sent += 1
            body = batch(events[start : start + 500], f"b{self.sent}")
            await self.services.intake.submit(self.token, Batch.model_validate(body))
        self.clock.now = max(self.clock.now, self.cmdr.clock)

    async def seen_once(self, carrier: int) -> None:
        """The carrier's market seen once, now, and the carrier linked to the first site for good."""
        await self.send([self.cmdr._base("market", market_id=carrier, station_name="ABC-123",
                                         station_type="FleetCarrier", items=STOCK)])  # fmt: skip
        await self.services.hauling.link_carrier(GUILD, carrier, self.cmdr.sites[0].market_id)

    async def haul(self, trips: int) -> None:
        events = []
        for _ in range(trips):
            events += self.cmdr.trip_events()
            self.cmdr.clock += GAP
        await self.send(events)


@asynccontextmanager
async def squadron(tmp_path: Path) -> AsyncIterator[Squadron]:
    db = Database(tmp_path / "colony.db", synchronous="NORMAL")
    await db.open()
    try:
        clock = Clock(START)
        services = await build_services(db, clock=clock)
        _, token = await services.tokens.issue(GUILD, 100)
        cmdr = Commander("CMDR Long", "Journal.2025-04-08T200000.01.log", squadron_sites(GUILD, 3))
        yield Squadron(db, services, clock, token, cmdr)
        await services.intake.close()
    finally:
        await db.close()


async def test_a_pass_reads_no_trade_before_the_holds_nor_away_from_serving_carriers(tmp_path: Path) -> None:
    """A carrier seen once, ten days ago, serves a site, and nobody trades at it: a pass reads the
    trades at it since (none) and those since the active holds' snapshots (none since the last
    trip's), not every trade since the carrier's snapshot."""
    async with squadron(tmp_path) as s:
        await s.seen_once(AWAY)
        await s.haul(TRIPS)
        reads = Reads(s.services.hauling.store)
        board = (await s.services.hauling.boards(GUILD))[0]
        assert board.carriers == [AWAY]
        assert reads.rows == 0, f"one board pass read {reads.rows} of the {TRIPS} trades of ten days"


async def test_the_trades_at_a_serving_carrier_are_read_once(tmp_path: Path) -> None:
    """The carrier the commander buys at, seen once and linked: its stock is its snapshot less every
    buy since, all read by the first pass; the next pass reads only the two trips' buys uploaded
    since, and shows what a restarted bot (reading everything afresh) shows."""
    async with squadron(tmp_path) as s:
        await s.seen_once(s.trading_at)
        await s.haul(TRIPS)
        hauling = s.services.hauling
        reads = Reads(hauling.store)
        first = (await hauling.boards(GUILD))[0]
        assert reads.rows == TRIPS
        assert first.on_carriers > 0
        await s.haul(2)
        reads.rows = 0
        again = await hauling.boards(GUILD)
        assert reads.rows == 2, f"the second pass read {reads.rows} trades; 2 were uploaded since the first"
        restarted = HaulService(s.db, s.services.state, clock=s.clock)
        assert again == await restarted.boards(GUILD)
        assert await hauling.carrier_stock(GUILD) == await restarted.carrier_stock(GUILD)


async def test_a_carrier_serving_only_finished_sites_is_not_read(tmp_path: Path) -> None:
    """Links never expire: a carrier whose only site is finished stays on that site's board, but its
    stock counts at no site, so its trades are not read."""
    async with squadron(tmp_path) as s:
        await s.seen_once(s.trading_at)
        await s.haul(TRIPS)
        site = s.cmdr.sites[0]
        done = s.cmdr._depot(site) | {"complete": True, "progress": 1.0}
        await s.send([done])
        reads = Reads(s.services.hauling.store)
        boards = await s.services.hauling.boards(GUILD)
        finished = await s.services.hauling.board(GUILD, site.market_id)
        assert reads.rows == 0, f"the board read {reads.rows} trades of a carrier serving no site in need"
        assert finished is not None
        assert finished.complete
        assert finished.carriers == [s.trading_at]
        # Not built on every pass: the boards listed are those of the sites still being built.
        assert [b.market_id for b in boards] == [m.market_id for m in s.cmdr.sites[1:]]


async def test_an_upload_is_not_made_to_wait_for_a_board_pass(tmp_path: Path) -> None:
    """A board pass held up halfway through its reads: an upload sent meanwhile is stored and answered
    before the pass ends. (Under the write lock, as before, the upload waited for the whole pass.)"""
    async with squadron(tmp_path) as s:
        await s.seen_once(s.trading_at)
        await s.haul(3)
        store = s.services.hauling.store
        links, halfway, go_on = store.links, asyncio.Event(), asyncio.Event()

        async def held_up(*args: Any) -> dict[int, tuple[int, ...]]:
            halfway.set()
            await go_on.wait()
            return await links(*args)

        store.links = held_up  # type: ignore[method-assign]
        order: list[str] = []

        async def board_pass() -> None:
            await s.services.hauling.boards(GUILD)
            order.append("board pass done")

        running = asyncio.create_task(board_pass())
        try:
            await halfway.wait()
            assert not s.db.lock.locked(), "the board pass holds the write lock an upload needs"
            await s.haul(1)
            order.append("upload answered")
        finally:
            go_on.set()
            await running
        assert order == ["upload answered", "board pass done"]


async def test_a_trade_stored_while_a_window_is_read_counts_once(tmp_path: Path) -> None:
    """A trade at the carrier is stored after the pass looked for new rows and before it reads the
    carrier's window: the window's read finds it too, but leaves it to the next look for new rows,
    which takes it once."""
    async with squadron(tmp_path) as s:
        await s.seen_once(s.trading_at)
        await s.haul(3)
        store = s.services.hauling.store
        carrier_moves, halfway, go_on = store.carrier_moves, asyncio.Event(), asyncio.Event()

        async def held_up(*args: Any) -> Any:
            halfway.set()
            await go_on.wait()
            return await carrier_moves(*args)

        store.carrier_moves = held_up  # type: ignore[method-assign]
        running = asyncio.create_task(s.services.hauling.boards(GUILD))
        try:
            await halfway.wait()
            await s.haul(1)
        finally:
            go_on.set()
            await running
        store.carrier_moves = carrier_moves  # type: ignore[method-assign]
        await s.services.hauling.boards(GUILD)
        restarted = HaulService(s.db, s.services.state, clock=s.clock)
        assert await s.services.hauling.carrier_stock(GUILD) == await restarted.carrier_stock(GUILD)


# --- the kept windows give what a fresh read gives ----------------------------------------------

SITE, CARRIER = 3958981890, 3710508288
RES = {"steel": (5000, 0), "titanium": (800, 0)}


def _market(j: Journal, minutes: float, steel: int) -> dict[str, Any]:
    return j.event("market", minutes, market_id=CARRIER, station_name="H5L-69X", station_type="FleetCarrier",
                   items=[{"name": "steel", "stock": steel, "demand": 0},
                          {"name": "titanium", "stock": 100, "demand": 0}])  # fmt: skip


def _cargo(j: Journal, minutes: float, items: dict[str, int]) -> dict[str, Any]:
    inventory = [{"name": n, "count": c} for n, c in items.items()]
    return j.event("cargo", minutes, vessel="Ship", count=sum(items.values()), inventory=inventory)


def _trade(j: Journal, kind: str, minutes: float, tonnes: int, commodity: str = "steel") -> dict[str, Any]:
    return j.event(kind, minutes, market_id=CARRIER, commodity=commodity, count=tonnes)


def _transfer(j: Journal, minutes: float, tonnes: int, direction: str = "tocarrier") -> dict[str, Any]:
    return j.event("cargo_transfer", minutes,
                   transfers=[{"commodity": "steel", "count": tonnes, "direction": direction}])  # fmt: skip


async def test_a_long_running_board_shows_what_a_restarted_one_shows(tmp_path: Path) -> None:
    """Uploads older (in game time) than what was read already, a newer snapshot, a late one between
    two, a late older hold, a new link, a link to a finished site: after each, the numbers from the
    windows kept since the first pass equal those of a bot reading everything afresh."""
    db = Database(tmp_path / "colony.db")
    await db.open()
    try:
        clock = Clock(T0 + timedelta(hours=1))
        services = await build_services(db, clock=clock)
        tokens = {u: (await services.tokens.issue(GUILD, u, f"u{u}"))[1] for u in (1, 2)}
        alice = Journal("Alice", source="Journal.a.log")
        bob = Journal("Bob", source="Journal.b.log")
        alice.at_market_id = bob.at_market_id = CARRIER

        async def numbers(kept: HaulService | None = None) -> tuple[Any, ...]:
            """The boards, the carriers' stock and Alice's holds: from `kept`'s windows (the board
            trims them, the carriers' look widens them again), or each read afresh by a new bot."""

            def hauling() -> HaulService:
                return kept or HaulService(db, services.state, clock=clock)

            boards, carriers = await hauling().boards(GUILD), await hauling().carrier_stock(GUILD)
            return boards, carriers, await hauling().mine(GUILD, 1)

        async def compare(user: int, events: list[dict[str, Any]]) -> None:
            if events:
                await services.intake.submit(tokens[user], Batch.model_validate(one_batch(events)))
            assert await numbers(services.hauling) == await numbers()

        site = [alice.docked(0, SITE, "Vela"), alice.depot(0, SITE, RES)]
        await compare(1, [*site, _cargo(alice, 1, {"steel": 100})])
        alice.at_market_id = CARRIER
        await compare(1, [_market(alice, 5, 1000), _trade(alice, "market_buy", 6, 200),
                          _cargo(alice, 7, {"steel": 300})])  # fmt: skip
        await services.hauling.link_carrier(GUILD, CARRIER, SITE)
        await compare(1, [])
        # Bob's uploader catches up: a buy before the snapshot (already in it), one after, a load.
        await compare(2, [_trade(bob, "market_buy", 3, 50), _trade(bob, "market_buy", 8, 70),
                          _transfer(bob, 9, 40), _cargo(bob, 10, {})])  # fmt: skip
        await compare(1, [_market(alice, 20, 900), _transfer(alice, 21, 300), _cargo(alice, 22, {})])
        await compare(2, [_market(bob, 15, 880)])  # between the two: the previous snapshot now
        await compare(1, [_cargo(alice, 4, {"steel": 999})])  # older than her hold: changes nothing
        await compare(2, [_trade(bob, "market_sell", 30, 25, "titanium"), _transfer(bob, 31, 10, "toship"),
                          _cargo(bob, 32, {"steel": 10})])  # fmt: skip
        await services.hauling.link_carrier(GUILD, CARRIER, SITE, remove=True)
        await compare(2, [_trade(bob, "market_buy", 33, 5)])
        await services.hauling.link_carrier(GUILD, CARRIER, SITE)
        await compare(1, [alice.depot(40, SITE, RES, complete=True), _trade(alice, "market_buy", 41, 1)])
        await services.intake.close()
    finally:
        await db.close()
