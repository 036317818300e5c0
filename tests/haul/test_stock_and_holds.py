"""Carrier stock gaps and what counts as in ships: edge cases, through the real intake and HaulService."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.services.bundle import Services, build_services
from bot.store.db import Database
from tests.bot._helpers import T0, Journal, batch
from tests.haul._world import Clock
from wire import Batch

GUILD = 111
SITE, STATION, CARRIER = 3958981890, 3229709312, 3710508288
RES = {"steel": (5000, 0), "titanium": (800, 0)}


@asynccontextmanager
async def bot(tmp_path: Path) -> AsyncIterator[tuple[Services, Any]]:
    db = Database(tmp_path / "colony.db")
    await db.open()
    try:
        services = await build_services(db, clock=Clock(T0 + timedelta(minutes=60)))
        tokens: dict[int, Any] = {}

        async def send(user: int, events: list[dict[str, Any]]) -> None:
            if user not in tokens:
                _, tokens[user] = await services.tokens.issue(GUILD, user, f"u{user}")
            await services.intake.submit(tokens[user], Batch.model_validate(batch(events)))

        yield services, send
        await services.intake.close()
    finally:
        await db.close()


def cargo(j: Journal, minutes: float, items: dict[str, int] | None, count: int = 0) -> dict[str, Any]:
    inventory = None if items is None else [{"name": n, "count": c} for n, c in items.items()]
    total = sum((items or {}).values()) or count
    return j.event("cargo", minutes, vessel="Ship", count=total, inventory=inventory)


def market(j: Journal, minutes: float, steel: int) -> dict[str, Any]:
    return j.event(
        "market", minutes, market_id=CARRIER, station_name="H5L-69X", station_type="FleetCarrier",
        system_name="Col 285 Sector GF-F b12-5", items=[{"name": "steel", "stock": steel, "demand": 0}],
    )  # fmt: skip


async def test_carrier_gap_counts_untracked_fills_that_members_bought_afterwards(tmp_path: Path) -> None:
    """Snapshot 100 t; the public fills the owner's buy order (+500 t, untracked); a member buys 300 t
    (tracked); the next snapshot reads 300 t. Moved by someone without the uploader: +500 t."""
    async with bot(tmp_path) as (services, send):
        owner, bob = Journal("Owner", source="Journal.o.log"), Journal("Bob", source="Journal.b.log")
        owner.at_market_id = bob.at_market_id = CARRIER
        await send(1, [market(owner, 0, 100)])
        await send(2, [bob.event("market_buy", 10, market_id=CARRIER, commodity="steel", count=300)])
        await send(1, [market(owner, 20, 300)])
        (view,) = await services.hauling.carrier_stock(GUILD)
        (steel,) = view.lines
        assert (steel.snapshot, steel.tonnes) == (300, 300)
        assert steel.gap == 300 - (100 - 300)  # +500


async def test_board_lists_in_ships_only_what_in_ships_counts(tmp_path: Path) -> None:
    """README: the board's `cargo` is "the holds counted in `in_ships`"; limpets are not."""
    async with bot(tmp_path) as (services, send):
        a = Journal("Alice")
        events = [a.docked(0, SITE, "Vela"), a.depot(0, SITE, RES)]
        await send(1, [*events, cargo(a, 1, {"steel": 600, "drones": 20})])
        board = await services.hauling.board(GUILD, SITE)
        assert board is not None
        assert board.in_ships == 600
        assert [(c.name, c.tonnes) for c in board.cargo] == [("steel", 600)]


async def test_cargo_bought_after_an_empty_bare_cargo_line_counts_in_ships(tmp_path: Path) -> None:
    """`_hold` starts a hold from a bare `Cargo` with Count 0 (no inventory), but `_stored` only loads
    the trades after an inventory's time: the 700 t bought afterwards are never seen."""
    async with bot(tmp_path) as (services, send):
        a = Journal("Alice")
        await send(1, [a.docked(0, SITE, "Vela"), a.depot(0, SITE, RES),
                       a.contribution(1, SITE, {"steel": 700}),
                       a.depot(1, SITE, {"steel": (5000, 700), "titanium": (800, 0)}),
                       cargo(a, 1, None, count=0),  # bare Cargo: the hold is empty
                       a.docked(20, STATION, "Coelho Hub", site=False, station_type="Coriolis"),
                       a.event("market_buy", 21, market_id=STATION, commodity="steel", count=700)])
        board = await services.hauling.board(GUILD, SITE)
        assert board is not None
        steel = next(x for x in board.lines if x.name == "steel")
        assert (steel.remaining, steel.in_ships, steel.open) == (4300, 700, 3600)
