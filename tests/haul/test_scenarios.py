"""Multi-commander hauling scenarios over the real April 2025 journal (and renamed copies of it for
other commanders), through the real normaliser, intake, store and hauling service, with a clock the
test moves. After every step the board must add up: remaining = ships + claimed + carriers + open."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from bot.services import hauling as service
from tests.haul._world import (
    APRIL,
    CARRIER,
    GUILD,
    SITE,
    at,
    journal_events,
    line_of,
    renamed_copy,
    world,
)
from wire import (
    CargoEvent,
    CargoTransferEvent,
    CargoTransferItem,
    ContributionEvent,
    ContributionItem,
    MarketEvent,
    MarketItem,
)

pytestmark = pytest.mark.samples

TEST_USER, WING_USER, NOBODY = 77, 78, 79


async def test_a_claim_shrinks_with_the_claimers_deliveries_and_closes_when_covered(
    tmp_path: Path, samples: Path
) -> None:
    async with world(tmp_path) as w:
        await w.join("TEST", TEST_USER, samples / APRIL)
        await w.play("TEST", "2025-04-08T21:44:01")  # docked at the site, 776 t of titanium aboard
        before = await w.board()
        remaining = line_of(before, "titanium")[0]
        assert before.rates == []  # no delivery yet: no pace, no ETA

        claim = await w.services.hauling.claim(GUILD, TEST_USER, "Titanium", 2000)  # site: docked at
        assert (claim.market_id, claim.commodity, claim.tonnes, claim.status) == (
            SITE,
            "titanium",
            2000,
            "open",
        )
        assert claim.expires_at - claim.created_at == timedelta(hours=4)
        # The claimer's cargo counts once, toward the claim: 776 in ships, 1,224 claimed and not loaded.
        assert line_of(await w.board(), "titanium") == (remaining, 776, 1224, 0, remaining - 2000)

        await w.play("TEST", "2025-04-08T21:46:11")  # contribution of 776 t, depot updated
        board = await w.board()
        remaining = line_of(board, "titanium")[0]
        (open_claim,) = board.claims
        assert (open_claim.delivered, open_claim.remaining, open_claim.in_ships) == (776, 1224, 0)
        assert line_of(board, "titanium") == (remaining, 0, 1224, 0, remaining - 1224)
        assert [(r.window_hours, r.tonnes) for r in board.rates] == [(3, 776), (24, 776)]
        eta = board.rates[0].eta
        assert eta is not None
        assert eta == w.clock.now + timedelta(hours=board.remaining / (776 / 3))

        await w.play("TEST", "2025-04-08T21:57:10")  # a second delivery, then 776 t loaded again
        board = await w.board()
        (open_claim,) = board.claims
        assert (open_claim.delivered, open_claim.remaining, open_claim.in_ships) == (1552, 448, 448)
        remaining = line_of(board, "titanium")[0]
        assert line_of(board, "titanium") == (remaining, 776, 0, 0, remaining - 776)

        await w.play("TEST", "2025-04-08T22:02:10")  # the third delivery covers it
        board = await w.board()
        assert board.claims == []
        (closed,) = await w.services.hauling.claims(GUILD, closed_within=timedelta(days=1))
        assert (closed.status, closed.delivered, closed.remaining) == ("covered", 2328, 0)
        assert line_of(board, "titanium")[1:3] == (0, 0)


async def test_two_commanders_cargo_in_flight_and_a_refused_claim(tmp_path: Path, samples: Path) -> None:
    async with world(tmp_path) as w:
        wing = renamed_copy(samples / APRIL, tmp_path / "Journal.2025-04-08T215900.01.log", "WING", "F987",
                            shift=timedelta(seconds=30))  # fmt: skip
        await w.join("TEST", TEST_USER, samples / APRIL)
        await w.join("WING", WING_USER, wing)
        await w.play("TEST", "2025-04-08T20:26:21")  # bought 776 t of titanium at Coelho Hub
        mine = await w.services.hauling.mine(GUILD, TEST_USER)
        assert [(c.name, c.tonnes, c.station_name) for c in mine.cargo] == [("titanium", 776, "Coelho Hub")]
        await w.play("TEST", "2025-04-08T20:30:52")  # sold to the own carrier: no longer in flight
        assert (await w.services.hauling.mine(GUILD, TEST_USER)).cargo == []
        await w.play("TEST", "2025-04-08T21:26:03")  # bought again, not yet hauling for a site
        await w.play("WING", "2025-04-08T21:26:03")
        mine = await w.services.hauling.mine(GUILD, TEST_USER)
        assert [(c.commander, c.name, c.tonnes, c.market_id) for c in mine.cargo] == [
            ("TEST", "titanium", 776, None)
        ]
        assert mine.hauling_for is None

        await w.play("TEST", "2025-04-08T21:44:01")  # docked at the site: the cargo now counts there
        await w.play("WING", "2025-04-08T21:44:01")
        board = await w.board()
        remaining, ships, claimed, carriers, _ = line_of(board, "titanium")
        assert (ships, claimed, carriers) == (776, 0, 0)  # WING docks 30 s later: still on the way in
        wing_mine = await w.services.hauling.mine(GUILD, WING_USER)
        assert [(c.tonnes, c.market_id) for c in wing_mine.cargo] == [(776, None)]

        await w.play("WING", "2025-04-08T21:44:40")
        board = await w.board()
        assert line_of(board, "titanium") == (remaining, 1552, 0, 0, remaining - 1552)
        assert [(c.commander, c.tonnes, c.station_name) for c in board.cargo] == [
            ("TEST", 776, "System Colonisation Ship"),
            ("WING", 776, "System Colonisation Ship"),
        ]
        assert board.haulers == 2
        assert board.capacity == 776
        assert board.trips == -(-(board.remaining - 1552) // 776)

        # A third member claims more than is left unclaimed: refused with the numbers, nothing stored.
        with pytest.raises(service.ClaimTooLargeError) as refused:
            await w.services.hauling.claim(GUILD, NOBODY, "titanium", remaining - 1551, SITE)
        err = refused.value
        assert (err.asked, err.available, err.remaining, err.in_ships, err.claimed) == (
            remaining - 1551, remaining - 1552, remaining, 1552, 0,
        )  # fmt: skip
        assert await w.services.hauling.claims(GUILD) == []
        # WING may claim its own cargo on top of the open need.
        claim = await w.services.hauling.claim(GUILD, WING_USER, "titanium", remaining - 776, SITE)
        board = await w.board()
        assert line_of(board, "titanium") == (remaining, 1552, remaining - 1552, 0, 0)
        with pytest.raises(service.ClaimTooLargeError):
            await w.services.hauling.claim(GUILD, NOBODY, "titanium", 1, SITE)

        await w.play("TEST", "2025-04-08T21:46:11")  # TEST delivers: its cargo is gone from the board
        board = await w.board()
        remaining = line_of(board, "titanium")[0]
        assert line_of(board, "titanium")[1] == 776  # only WING's hold now
        assert (await w.services.hauling.mine(GUILD, TEST_USER)).cargo == []
        released = await w.services.hauling.release(GUILD, WING_USER, claim.id)
        assert [c.status for c in released] == ["released"]
        with pytest.raises(service.NoClaimError):
            await w.services.hauling.release(GUILD, WING_USER, claim.id)


async def test_a_claim_closes_as_covered_when_others_deliver_everything_left(
    tmp_path: Path, samples: Path
) -> None:
    async with world(tmp_path) as w:
        await w.join("TEST", TEST_USER, samples / APRIL)
        wing = await w.join("WING", WING_USER, samples / APRIL)
        await w.play("TEST", "2025-04-08T21:44:01")
        claim = await w.services.hauling.claim(GUILD, NOBODY, "steel", 500, SITE)
        steel = line_of(await w.board(), "steel")[0]
        assert steel > 500
        delivery = ContributionEvent(
            id=_id("wing-steel"), timestamp=at("2025-04-08T21:45:00"), source="Journal.wing.log",
            offset=1, commander="WING", market_id=SITE,
            items=[ContributionItem(name="steel", amount=steel - 1)],
        )  # fmt: skip
        await w.send(wing.token, [delivery])
        assert [c.id for c in (await w.board()).claims] == [claim.id]  # 1 t still needed: kept open

        last = delivery.model_copy(
            update={"id": _id("wing-2"), "offset": 2, "items": [ContributionItem(name="steel", amount=1)]}
        )
        await w.send(wing.token, [last])
        board = await w.board()
        assert board.claims == []
        assert all(line.name != "steel" for line in board.lines)
        (closed,) = await w.services.hauling.claims(GUILD, closed_within=timedelta(days=1))
        assert (closed.id, closed.status, closed.delivered) == (claim.id, "covered", 0)
        assert (await w.services.hauling.mine(GUILD, NOBODY)).claims == []


async def test_claims_expire_on_the_clock_and_a_finished_site_closes_its_claims(
    tmp_path: Path, samples: Path
) -> None:
    async with world(tmp_path) as w:
        await w.join("TEST", TEST_USER, samples / APRIL)
        await w.play("TEST", "2025-04-08T21:44:01")
        await w.services.hauling.set_expiry(GUILD, 1.5)
        first = await w.services.hauling.claim(GUILD, NOBODY, "steel", 500, SITE)
        assert first.expires_at == w.clock.now + timedelta(hours=1.5)
        w.clock.now += timedelta(hours=1, minutes=29)
        assert await w.services.hauling.settle(GUILD) == []
        w.clock.now += timedelta(minutes=1)
        (expired,) = await w.services.hauling.settle(GUILD)
        assert (expired.id, expired.status) == (first.id, "expired")
        assert (await w.board()).claims == []
        with pytest.raises(service.BadExpiryError):
            await w.services.hauling.set_expiry(GUILD, 0.1)

        second = await w.services.hauling.claim(GUILD, TEST_USER, "titanium", 100, SITE)
        finished = w.commanders["TEST"]
        path = samples / "ed-journals/excerpt_Journal.2025-04-11T181749.01_lines610-845_completion.log"
        await w.send(finished.token, journal_events(path))  # the completion, three days later
        w.clock.now = at("2025-04-11T21:10:00")
        board = await w.board()
        assert board.complete
        assert board.lines == []
        assert board.remaining == 0
        (closed,) = await w.services.hauling.claims(GUILD, closed_within=timedelta(days=1))
        assert (closed.id, closed.status) == (second.id, "site_complete")
        with pytest.raises(service.SiteDoneError):
            await w.services.hauling.claim(GUILD, TEST_USER, "titanium", 1, SITE)


def _id(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _market(when: str, titanium: int, offset: int) -> MarketEvent:
    """The owner's Market.json at the carrier (the sample journal came without side files)."""
    return MarketEvent(
        id=_id(f"market-{offset}"), timestamp=at(when), source="Market.json", offset=offset, commander="TEST",
        at_market_id=CARRIER, market_id=CARRIER, station_name="H5L-69X", station_type="FleetCarrier",
        items=[MarketItem(name="titanium", name_localised="Titanium", stock=titanium, demand=0),
               MarketItem(name="steel", stock=0, demand=2000)],
    )  # fmt: skip


async def test_carrier_stock_follows_buys_sells_and_transfers_with_the_gap_shown(
    tmp_path: Path, samples: Path
) -> None:
    async with world(tmp_path) as w:
        test = await w.join("TEST", TEST_USER, samples / APRIL)
        await w.play("TEST", "2025-04-08T21:44:01")  # the site is known
        assert await w.services.hauling.link_carrier(GUILD, CARRIER, SITE)
        assert not await w.services.hauling.link_carrier(GUILD, CARRIER, SITE)  # already linked

        # A snapshot before the six sells to the carrier (20:30 .. 21:22), sent late: order is by game time.
        await w.send(test.token, [_market("2025-04-08T20:30:00", 1000, 1)])
        stock = {c.carrier_id: c for c in await w.services.hauling.carrier_stock(GUILD)}[CARRIER]
        titanium = next(x for x in stock.lines if x.name == "titanium")
        # 1,000 t plus the six sells of 776 t to the carrier since (the buys back from it come later).
        assert (titanium.snapshot, titanium.tonnes, titanium.gap) == (1000, 1000 + 6 * 776, 0)
        assert stock.sites == [SITE]

        transfer = CargoTransferEvent(
            id=_id("transfer-1"), timestamp=at("2025-04-08T21:45:00"), source="Journal.extra.log",
            offset=1, commander="TEST", at_market_id=CARRIER,
            transfers=[CargoTransferItem(commodity="titanium", count=100, direction="tocarrier")],
        )  # fmt: skip
        await w.send(test.token, [transfer])
        await w.play("TEST", "2025-04-08T21:57:10")  # two buys of 776 from the carrier
        stock = {c.carrier_id: c for c in await w.services.hauling.carrier_stock(GUILD)}[CARRIER]
        expected = 1000 + 6 * 776 + 100 - 2 * 776
        assert next(x for x in stock.lines if x.name == "titanium").tonnes == expected
        board = await w.board()
        remaining, ships, claimed, carriers, _ = line_of(board, "titanium")
        assert carriers == min(expected, remaining - ships - claimed)
        line = next(x for x in board.lines if x.name == "titanium")
        assert line.to_load_on_carriers == remaining - ships - claimed - carriers == line.open
        assert board.carriers == [CARRIER]

        # The owner's next snapshot disagrees with what was tracked: the gap is shown, the snapshot wins.
        await w.send(test.token, [_market("2025-04-08T21:58:00", expected - 204, 2)])
        stock = {c.carrier_id: c for c in await w.services.hauling.carrier_stock(GUILD)}[CARRIER]
        titanium = next(x for x in stock.lines if x.name == "titanium")
        assert (titanium.snapshot, titanium.tonnes, titanium.gap) == (expected - 204, expected - 204, -204)
        assert stock.previous_snapshot_at == at("2025-04-08T20:30:00")

        assert await w.services.hauling.link_carrier(GUILD, CARRIER, SITE, remove=True)
        board = await w.board()
        assert line_of(board, "titanium")[3] == 0
        assert board.carriers == []


async def test_the_plan_gives_each_active_hauler_one_hold(tmp_path: Path, samples: Path) -> None:
    async with world(tmp_path) as w:
        wing = renamed_copy(samples / APRIL, tmp_path / "Journal.wing.log", "WING", "F987")
        await w.join("TEST", TEST_USER, samples / APRIL)
        await w.join("WING", WING_USER, wing)
        await w.play("TEST", "2025-04-08T21:46:11")
        await w.play("WING", "2025-04-08T21:46:11")
        board = await w.board()
        plan = await w.services.hauling.plan(GUILD, SITE)
        assert plan is not None
        assert [(p.commander, p.discord_user_id, p.tonnes) for p in plan.lines] == [
            ("TEST", str(TEST_USER), 776),
            ("WING", str(WING_USER), 776),
        ]
        biggest = max(board.lines, key=lambda x: (x.open + x.on_carriers, x.name))
        assert plan.lines[0].commodity == biggest.name
        assert plan.unassigned == sum(x.open + x.on_carriers for x in board.lines) - 2 * 776

        claim = await w.services.hauling.claim_planned(GUILD, WING_USER, SITE)
        assert (claim.commodity, claim.tonnes) == (plan.lines[1].commodity, 776)
        again = await w.services.hauling.plan(GUILD, SITE)
        assert again is not None
        assert [p.commander for p in again.lines] == ["TEST"]
        assert again.already_claimed == [str(WING_USER)]
        with pytest.raises(service.NoPlanLineError):
            await w.services.hauling.claim_planned(GUILD, NOBODY, SITE)


async def test_a_later_cargo_line_counting_zero_empties_the_hold(tmp_path: Path, samples: Path) -> None:
    """Cargo lines without an inventory (every old one in a backfill: Cargo.json describes today)
    still say how much is aboard. A newer one saying 0 (cargo ejected, a mission, a rebuy) empties
    the hold the board counted; it used to stay in ships for a day."""
    async with world(tmp_path) as w:
        await w.join("TEST", TEST_USER, samples / APRIL)
        await w.play("TEST", "2025-04-08T21:44:01")  # docked at the site with 776 t of titanium
        board = await w.board()
        remaining = line_of(board, "titanium")[0]
        assert line_of(board, "titanium")[1] == 776
        cmdr = w.commanders["TEST"]
        last = cmdr.events[cmdr.sent - 1]
        bare = CargoEvent(
            id=hashlib.md5(b"bare cargo").hexdigest(), timestamp=last.timestamp + timedelta(seconds=5),
            source=last.source, offset=last.offset + 10_000, commander="TEST", vessel="Ship", count=0,
        )  # fmt: skip
        await w.send(cmdr.token, [bare])
        board = await w.board()
        assert line_of(board, "titanium") == (remaining, 0, 0, 0, remaining)
        assert (await w.services.hauling.mine(GUILD, TEST_USER)).cargo == []
