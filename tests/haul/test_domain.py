"""The pure hauling code, case by case: cargo and carrier stock between snapshots, the gap, the board
line's order of filling, rates and ETA, claimable tonnes, the plan, why a claim closes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain import hauling as domain
from bot.domain.keys import Key
from bot.domain.sites import LedgerEntry
from bot.views import CommodityView, SiteView
from wire import CargoTransferEvent, CargoTransferItem, MarketBuyEvent

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
CARRIER = 3_700_000_001
SITE = 3_950_000_001


def key(minutes: float) -> Key:
    return Key(T0 + timedelta(minutes=minutes), "Journal.a.log", int(minutes * 100), f"{minutes:032}")


def entry(
    minutes: float, commander: str, tonnes: int, user: int = 1, commodity: str = "steel"
) -> LedgerEntry:
    return LedgerEntry(key(minutes), 0, SITE, commander, commodity, None, tonnes, user)


def site(remaining: dict[str, int], *, complete: bool = False) -> SiteView:
    goods = [CommodityView(name=n, required=r + 10, provided=10, remaining=r) for n, r in remaining.items()]
    return SiteView(
        market_id=SITE, station_name="Vela Vision", station_type=None, system_name="Sys", system_address=1,
        progress=0.5, complete=complete, failed=False, updated_at=T0, contributions=[],
        commodities=goods,
    )  # fmt: skip


def test_moves_from_the_wire_events() -> None:
    buy = MarketBuyEvent(
        id="a" * 32,
        timestamp=T0,
        source="J",
        offset=1,
        commander="A",
        market_id=CARRIER,
        commodity="steel",
        count=5,
    )
    transfer = CargoTransferEvent(
        id="b" * 32, timestamp=T0, source="J", offset=2, commander="A", at_market_id=CARRIER,
        transfers=[CargoTransferItem(commodity="steel", count=3, direction="toship"),
                   CargoTransferItem(commodity="steel", count=2, direction="tocarrier"),
                   CargoTransferItem(commodity="steel", count=9, direction="tosrv")],
    )  # fmt: skip
    assert [(m.ship, m.carrier) for m in domain.moves_of(buy)] == [(5, -5)]
    assert [(m.ship, m.carrier, m.market_id) for m in domain.moves_of(transfer)] == [
        (3, -3, CARRIER),
        (-2, 2, CARRIER),
    ]


def test_ship_cargo_moves_forward_from_the_snapshot_and_ignores_older_or_others_moves() -> None:
    moves = [
        domain.Move(key(1), "A", CARRIER, "steel", 100, -100),  # before the snapshot: already in it
        domain.Move(key(3), "A", CARRIER, "steel", 200, -200),
        domain.Move(key(4), "B", CARRIER, "steel", 999, -999),  # someone else's
    ]
    deliveries = [entry(5, "A", 150), entry(6, "B", 10)]
    cargo = domain.ship_cargo([("steel", 100)], key(2), "A", moves, deliveries)
    assert cargo == {"steel": 150}
    assert domain.ship_cargo([("steel", 10)], key(2), "A", [], [entry(5, "A", 40)]) == {}  # never negative


def test_carrier_stock_and_the_gap_to_the_next_snapshot() -> None:
    moves = [
        domain.Move(key(1), "A", CARRIER, "steel", -500, 500),  # sold to the carrier
        domain.Move(key(2), "A", CARRIER, "steel", 200, -200),  # bought back
        domain.Move(key(2), "A", SITE, "steel", 50, -50),  # at another market: not this carrier
        domain.Move(key(8), "A", CARRIER, "steel", 100, -100),  # after the second snapshot
    ]
    assert domain.carrier_stock({"steel": 1000}, key(0), CARRIER, moves) == {"steel": 1200}
    # The second snapshot (minute 5) saw 1,250: 50 t fewer than the 1,300 tracked up to then.
    gap = domain.stock_gap({"steel": 1000}, key(0), {"steel": 1250, "gold": 4}, key(5), CARRIER, moves)
    assert gap == {"gold": 4, "steel": -50}


def test_a_board_line_fills_ships_then_claims_then_carriers_then_open() -> None:
    line = domain.board_line("steel", None, 1000, ships=300, claimed=500, carriers=400, linked=True)
    assert (line.in_ships, line.claimed, line.on_carriers, line.open) == (300, 500, 200, 0)
    assert line.to_load_on_carriers == 0  # the carrier's 400 t more than cover the 200 t left
    short = domain.board_line("steel", None, 1000, ships=300, claimed=100, carriers=400, linked=True)
    assert (short.on_carriers, short.open, short.to_load_on_carriers) == (400, 200, 200)
    over = domain.board_line("steel", None, 100, ships=250, claimed=0, carriers=0, linked=False)
    assert (over.in_ships, over.open, over.surplus, over.to_load_on_carriers) == (100, 0, 150, None)


def test_rates_and_eta_are_hidden_before_any_delivery() -> None:
    assert domain.rates([], 5000, T0) == []
    ledger = [entry(-600, "A", 1800), entry(-30, "A", 600)]  # 10 h and 30 min ago, sorted like a ledger
    three, day = domain.rates(ledger, 4800, T0)
    assert (three.tonnes, three.per_hour) == (600, 200.0)
    assert three.eta == T0 + timedelta(hours=24)
    assert (day.tonnes, day.per_hour) == (2400, 100.0)
    stale = domain.rates([entry(-60 * 30, "A", 600)], 4800, T0)
    assert [r.eta for r in stale] == [None, None]  # delivered, but not in the last 24 h


def test_claims_close_when_covered_expired_or_the_site_is_done() -> None:
    claim = domain.Claim(1, SITE, 1, "steel", 500, T0, T0 + timedelta(hours=4))
    delivered = domain.delivered_toward(
        claim, [entry(-1, "A", 999), entry(1, "A", 200), entry(2, "B", 300, user=2)]
    )
    assert delivered == 200  # only the claimer's, only since the claim
    progress = domain.ClaimProgress(claim, delivered)
    assert domain.closing_reason(progress, site({"steel": 900}), T0) is None
    assert domain.closing_reason(progress, site({"steel": 900}), T0 + timedelta(hours=4)) == "expired"
    assert domain.closing_reason(progress, site({"steel": 900}, complete=True), T0) == "site_complete"
    assert domain.closing_reason(domain.ClaimProgress(claim, 500), site({"steel": 900}), T0) == "covered"
    # Others delivered the rest: the site needs no more steel, so the claim is covered too.
    assert domain.closing_reason(progress, site({"steel": 0, "gold": 5}), T0) == "covered"
    assert domain.closing_reason(progress, site({"gold": 5}), T0) is None  # no steel known: kept


def test_the_plan_skips_claimers_and_idle_haulers_and_defaults_the_hold() -> None:
    board = domain.build_boards(
        [domain.SiteInput(site({"steel": 1000, "gold": 300}), [])], [], [], [], T0
    ).boards[SITE]
    assert (board.capacity, board.haulers, board.trips) == (794, 0, 2)  # no known hold: 794 t
    haulers = [
        domain.Hauler("Big", 1, 700, T0, {}),
        domain.Hauler("Small", 2, 400, T0, {}),
        domain.Hauler("Idle", 3, 900, T0 - timedelta(days=2), {}),
        domain.Hauler("Claimer", 4, 800, T0, {}),
    ]
    plan = domain.plan(board, haulers, claimers=[4], now=T0)
    assert [(p.commander, p.commodity, p.tonnes) for p in plan.lines] == [
        ("Big", "steel", 700),
        ("Small", "gold", 300),
    ]
    assert plan.unassigned == 300
    assert domain.claimable(board, "steel", own_cargo=0) == 1000
    assert domain.claimable(board, "silver", own_cargo=0) == 0


OTHER = SITE + 1


def other_site(remaining: dict[str, int], *, complete: bool = False) -> SiteView:
    view = site(remaining, complete=complete)
    return view.model_copy(update={"market_id": OTHER, "station_name": "Kuiper Drilling Base"})


def test_a_shared_carriers_stock_covers_the_next_site_when_ships_or_a_claim_cover_the_first() -> None:
    """A carrier linked to two sites: what ships (or a claim) already cover at the first leaves the
    carrier's stock to the second. Shared out on the full need, the first took it, its cap hid it,
    and the second was told to load 1,000 t more onto a carrier that already held them."""
    sites = [domain.SiteInput(site({"steel": 1000}), []), domain.SiteInput(other_site({"steel": 1000}), [])]
    carriers = [domain.CarrierHold(CARRIER, {"steel": 1000}, (SITE, OTHER))]
    hauler = domain.Hauler("X", 1, 1000, T0, {"steel": 1000}, docked_at=SITE)
    boards = domain.build_boards(sites, [hauler], carriers, [], T0).boards
    first, second = boards[SITE].lines[0], boards[OTHER].lines[0]
    assert (first.in_ships, first.on_carriers, first.open) == (1000, 0, 0)
    assert (second.on_carriers, second.open, second.to_load_on_carriers) == (1000, 0, 0)
    claim = domain.Claim(1, SITE, 7, "steel", 1000, T0, T0 + timedelta(hours=4))
    boards = domain.build_boards(sites, [], carriers, [domain.ClaimProgress(claim, 0)], T0).boards
    first, second = boards[SITE].lines[0], boards[OTHER].lines[0]
    assert (first.claimed, first.on_carriers, first.open) == (1000, 0, 0)
    assert (second.on_carriers, second.open) == (1000, 0)


def test_cargo_bought_after_a_site_is_finished_counts_where_the_commander_is_docked() -> None:
    """The site last delivered to is complete: the new load is for the site they are docked at (the
    one `/haul mine` names), not for the finished one; docked at a finished site too, it is for
    no site yet."""
    sites = [
        domain.SiteInput(site({"steel": 0}, complete=True), []),
        domain.SiteInput(other_site({"steel": 5000}), []),
    ]
    hauler = domain.Hauler("X", 1, 720, T0, {"steel": 700}, docked_at=OTHER, last_delivered=SITE)
    boards = domain.build_boards(sites, [hauler], [], [], T0)
    assert boards.boards[OTHER].lines[0].in_ships == 700
    assert [(c.market_id, c.tonnes) for c in boards.attribution.cargo] == [(OTHER, 700)]
    idle = domain.Hauler("X", 1, 720, T0, {"steel": 700}, docked_at=SITE, last_delivered=SITE)
    boards = domain.build_boards(sites, [idle], [], [], T0)
    assert boards.boards[OTHER].lines[0].in_ships == 0
    assert [(c.market_id, c.tonnes) for c in boards.attribution.cargo] == [(None, 700)]


def test_cargo_for_goods_the_site_no_longer_needs_shows_as_surplus() -> None:
    """Steel provided in full while a hauler still brings 500 t: the board says so (surplus), as
    it does for goods still needed, and the hold it lists is accounted for."""
    sites = [domain.SiteInput(site({"steel": 0, "water": 300}), [])]
    hauler = domain.Hauler("X", 1, 1000, T0, {"steel": 500, "water": 100}, docked_at=SITE)
    board = domain.build_boards(sites, [hauler], [], [], T0).boards[SITE]
    lines = {line.name: line for line in board.lines}
    assert (lines["steel"].remaining, lines["steel"].in_ships, lines["steel"].surplus) == (0, 0, 500)
    assert (lines["water"].remaining, lines["water"].in_ships, lines["water"].open) == (300, 100, 200)
    assert board.remaining == 300
    assert {c.name: c.tonnes for c in board.cargo} == {"steel": 500, "water": 100}
