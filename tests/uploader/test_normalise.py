"""The normaliser on crafted lines: every kind, the context it carries, de-duplication, bad input."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter

from uploader.journal.reader import RawLine, event_id
from uploader.normalise.normaliser import Normaliser, NormaliserState
from wire import (
    BeaconDeployedEvent,
    CargoEvent,
    CargoItem,
    CargoTransferEvent,
    CarrierDepositFuelEvent,
    CarrierJumpCancelledEvent,
    CarrierJumpEvent,
    CarrierJumpRequestEvent,
    CarrierLocationEvent,
    CarrierStatsEvent,
    CarrierTradeOrderEvent,
    CommanderEvent,
    ConstructionCompleteEvent,
    ContributionEvent,
    DepotEvent,
    DockedEvent,
    FsdJumpEvent,
    KnownEvent,
    LoadoutEvent,
    LocationEvent,
    MarketBuyEvent,
    MarketEvent,
    MarketItem,
    MarketSellEvent,
    ShutdownEvent,
    SystemClaimEvent,
    SystemClaimReleaseEvent,
    UndockedEvent,
)

pytestmark = pytest.mark.uploader_only

FP = "ab" * 32
SOURCE = "Journal.2025-04-08T215854.01.log"
SHIP_ID = 3958981890
CARRIER_ID = 3710508288
SYSTEM = "Col 285 Sector GF-F b12-5"
ADDRESS = 11668486497665
KNOWN = TypeAdapter(KnownEvent)


def _bytes(obj: dict[str, Any] | bytes, spaced: bool = False) -> bytes:
    if isinstance(obj, bytes):
        return obj
    if spaced:  # the game's own layout: { "key":value, "key":value }
        inner = ", ".join(f"{json.dumps(k)}:{json.dumps(v, ensure_ascii=False)}" for k, v in obj.items())
        return ("{ " + inner + " }").encode()
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def lines_of(*objs: dict[str, Any] | bytes, start: int = 0) -> list[RawLine]:
    out = []
    offset = start
    for obj in objs:
        data = _bytes(obj)
        out.append(RawLine(offset, data))
        offset += len(data) + 1
    return out


def ev(event: str, second: int = 0, **fields: Any) -> dict[str, Any]:
    return {"timestamp": f"2025-04-08T21:{second // 60:02d}:{second % 60:02d}Z", "event": event, **fields}


def run(*objs: dict[str, Any] | bytes, normaliser: Normaliser | None = None) -> list[KnownEvent]:
    n = normaliser or Normaliser()
    return n.feed(SOURCE, FP, lines_of(*objs))


def docked_ship(second: int = 0, **extra: Any) -> dict[str, Any]:
    return ev(
        "Docked",
        second,
        StationName="$EXT_PANEL_ColonisationShip:#index=1;",
        StationName_Localised="System Colonisation Ship",
        StationType="SurfaceStation",
        StarSystem=SYSTEM,
        SystemAddress=ADDRESS,
        MarketID=SHIP_ID,
        StationServices=["dock", "commodities", "colonisationcontribution"],
        **extra,
    )


def docked_carrier(second: int = 0) -> dict[str, Any]:
    return ev(
        "Docked",
        second,
        StationName="H5L-69X",
        StationType="FleetCarrier",
        StarSystem=SYSTEM,
        SystemAddress=ADDRESS,
        MarketID=CARRIER_ID,
        StationServices=["dock", "commodities", "carriermanagement"],
    )


def depot(second: int = 0, titanium: int = 788, market_id: int = SHIP_ID, **extra: Any) -> dict[str, Any]:
    return ev(
        "ColonisationConstructionDepot",
        second,
        MarketID=market_id,
        ConstructionProgress=round((titanium + 100) / 50000, 6),
        ConstructionComplete=False,
        ConstructionFailed=False,
        ResourcesRequired=[
            {
                "Name": "$aluminium_name;",
                "Name_Localised": "Aluminium",
                "RequiredAmount": 10000,
                "ProvidedAmount": 100,
                "Payment": 3239,
            },
            {
                "Name": "$titanium_name;",
                "Name_Localised": "Titanium",
                "RequiredAmount": 40000,
                "ProvidedAmount": titanium,
                "Payment": 5360,
            },
        ],
        **extra,
    )


# --- context ------------------------------------------------------------------------------------


def test_commander_from_commander_and_loadgame_is_carried_on_every_event() -> None:
    events = run(
        ev("Commander", 1, FID="F123456789", Name="TEST"),
        ev("LoadGame", 2, FID="F123456789", Commander="TEST", ShipName="Raider's", Credits=437910254),
        ev("Shutdown", 3),
    )
    assert [type(e) for e in events] == [CommanderEvent, ShutdownEvent]  # LoadGame said nothing new
    assert isinstance(events[0], CommanderEvent)
    assert events[0].name == "TEST"
    assert all((e.commander, e.fid) == ("TEST", "F123456789") for e in events)


def test_loadgame_alone_names_the_commander_and_a_new_one_replaces_the_fid() -> None:
    n = Normaliser()
    (first,) = run(ev("LoadGame", 1, FID="F1", Commander="ONE"), normaliser=n)
    assert isinstance(first, CommanderEvent)
    assert (first.name, first.commander, first.fid) == ("ONE", "ONE", "F1")
    (second,) = run(ev("LoadGame", 2, Commander="TWO"), normaliser=n)
    assert (second.commander, second.fid) == ("TWO", None)


def test_docking_context_and_construction_site_flag() -> None:
    events = run(
        ev("Location", 0, StarSystem="Xinca", SystemAddress=4408557439331, Docked=False),
        docked_ship(1),
        ev("Cargo", 2, Vessel="Ship", Count=0, Inventory=[]),
        ev(
            "Undocked",
            3,
            StationName="$EXT_PANEL_ColonisationShip:#index=1;",
            StationName_Localised="System Colonisation Ship",
            MarketID=SHIP_ID,
        ),
        ev("Cargo", 4, Vessel="Ship", Count=0, Inventory=[]),
    )
    location, docked, cargo_docked, undocked, cargo_free = events
    assert isinstance(location, LocationEvent)
    assert (location.at_system, location.at_station, location.docked) == ("Xinca", None, False)
    assert isinstance(docked, DockedEvent)
    assert docked.station_name == "System Colonisation Ship"
    assert docked.construction_site is True
    assert (docked.at_system, docked.at_system_address) == (SYSTEM, ADDRESS)
    assert (docked.at_station, docked.at_market_id) == ("System Colonisation Ship", SHIP_ID)
    assert (cargo_docked.at_station, cargo_docked.at_market_id) == ("System Colonisation Ship", SHIP_ID)
    assert isinstance(undocked, UndockedEvent)
    assert (undocked.market_id, undocked.station_name) == (SHIP_ID, "System Colonisation Ship")
    assert (undocked.at_station, undocked.at_market_id, undocked.at_system) == (None, None, SYSTEM)
    assert (cargo_free.at_station, cargo_free.at_market_id, cargo_free.at_system) == (None, None, SYSTEM)


def test_construction_depot_station_types_are_sites_and_ordinary_stations_are_not() -> None:
    site = ev(
        "Docked",
        1,
        StationName="Planetary Construction Site: Moorcock Vision",
        StationType="PlanetaryConstructionDepot",
        StarSystem=SYSTEM,
        MarketID=4212062211,
    )
    port = ev(
        "Docked", 2, StationName="Coelho Hub", StationType="Orbis", StarSystem="Xinca", MarketID=3229709312
    )
    first, second = run(site, port)
    assert isinstance(first, DockedEvent)
    assert isinstance(second, DockedEvent)
    assert (first.construction_site, second.construction_site) == (True, False)
    assert first.system_address is None  # absent in the line: unknown, not invented


def test_named_colonisation_ship_never_sends_the_raw_symbol() -> None:
    (docked,) = run(
        ev(
            "Docked",
            1,
            StationName="$EXT_PANEL_ColonisationShip; Dupont Territories",
            StationType="SurfaceStation",
            StarSystem="HIP 1",
            MarketID=3950902274,
            StationServices=["colonisationcontribution"],
        )
    )
    assert isinstance(docked, DockedEvent)
    assert docked.station_name == "System Colonisation Ship: Dupont Territories"
    assert "$EXT_PANEL" not in docked.model_dump_json()


def test_location_docked_at_a_site_after_login_sets_the_station() -> None:
    events = run(
        ev(
            "Location",
            1,
            Docked=True,
            StationName="Planetary Construction Site: Zhao Drilling Base",
            StationType="PlanetaryConstructionDepot",
            MarketID=4256179715,
            StationServices=["dock", "colonisationcontribution"],
            StarSystem="Fengiri",
            SystemAddress=4649025276275,
        ),
        depot(2, market_id=4256179715),
    )
    location, site = events
    assert isinstance(location, LocationEvent)
    assert (location.docked, location.market_id, location.construction_site) == (True, 4256179715, True)
    assert isinstance(site, DepotEvent)
    assert site.station_name == "Planetary Construction Site: Zhao Drilling Base"
    assert site.station_type == "PlanetaryConstructionDepot"
    assert (site.system_name, site.system_address) == ("Fengiri", 4649025276275)


def test_fsd_jump_leaves_the_station_and_carrier_jump_can_dock() -> None:
    events = run(
        docked_ship(1),
        ev("FSDJump", 2, StarSystem="Xinca", SystemAddress=4408557439331, JumpDist=12.5, FuelUsed=3.2),
        ev(
            "CarrierJump",
            3,
            Docked=True,
            StationName="H5L-69X",
            StationType="FleetCarrier",
            MarketID=CARRIER_ID,
            StarSystem=SYSTEM,
            SystemAddress=ADDRESS,
        ),
        ev("CarrierJump", 4, Docked=False, OnFoot=True, StarSystem="Elsewhere", SystemAddress=7),
    )
    _, jump, carried, on_foot = events
    assert isinstance(jump, FsdJumpEvent)
    assert (jump.system_name, jump.at_system, jump.at_station, jump.at_market_id) == (
        "Xinca",
        "Xinca",
        None,
        None,
    )
    assert isinstance(carried, CarrierJumpEvent)
    assert (carried.docked, carried.market_id, carried.station_name) == (True, CARRIER_ID, "H5L-69X")
    assert (carried.at_system, carried.at_station, carried.at_market_id) == (SYSTEM, "H5L-69X", CARRIER_ID)
    # On foot aboard the carrier when it jumps ("Docked": false, "OnFoot": true): the ship is still
    # docked on it (the real journals' next Undocked is from the carrier), and so are the trades.
    assert isinstance(on_foot, CarrierJumpEvent)
    assert (on_foot.docked, on_foot.market_id, on_foot.at_station, on_foot.at_system) == (
        True, CARRIER_ID, "H5L-69X", "Elsewhere"
    )  # fmt: skip


# --- colonisation -------------------------------------------------------------------------------


def test_depot_canonical_names_and_station_only_when_docked_at_that_very_depot() -> None:
    n = Normaliser()
    here, elsewhere = run(docked_ship(1), depot(2), depot(3, market_id=3958345730), normaliser=n)[1:]
    assert isinstance(here, DepotEvent)
    assert [(r.name, r.name_localised, r.required, r.provided, r.payment) for r in here.resources] == [
        ("aluminium", "Aluminium", 10000, 100, 3239),
        ("titanium", "Titanium", 40000, 788, 5360),
    ]
    assert (here.market_id, here.progress, here.complete, here.failed) == (SHIP_ID, 0.01776, False, False)
    assert (here.station_name, here.station_type) == ("System Colonisation Ship", "SurfaceStation")
    assert (here.system_name, here.system_address) == (SYSTEM, ADDRESS)
    # Quirk 22: a depot written while docked elsewhere gets no station, only the `at_*` context.
    assert isinstance(elsewhere, DepotEvent)
    assert (elsewhere.station_name, elsewhere.system_name, elsewhere.station_type) == (None, None, None)
    assert elsewhere.at_market_id == SHIP_ID


def test_depot_snapshots_identical_but_for_time_are_sent_once_until_the_next_dock() -> None:
    n = Normaliser()
    events = run(
        docked_ship(0),
        depot(1),
        depot(16),  # the same 15 s later
        ev("Music", 20, MusicTrack="Starport"),
        depot(31),  # still the same, other lines in between
        depot(46, titanium=1564),  # changed: sent
        depot(61, titanium=1564),
        docked_ship(90),  # a new dock: the first snapshot after it is sent again
        depot(91, titanium=1564),
        normaliser=n,
    )
    depots = [e for e in events if isinstance(e, DepotEvent)]
    assert [(d.timestamp.second, d.resources[1].provided) for d in depots] == [
        (1, 788),
        (46, 1564),
        (31, 1564),
    ]
    assert [d.timestamp.minute for d in depots] == [0, 0, 1]
    assert n.stats.duplicates == 3


def test_depot_written_with_other_spacing_is_still_recognised_as_a_repeat() -> None:
    n = Normaliser()
    compact = _bytes(depot(1))
    spaced = _bytes(depot(16), spaced=True)
    assert compact != spaced.replace(b"21:00:16", b"21:00:01")  # bytes differ beyond the time
    events = run(docked_ship(0), compact, spaced, normaliser=n)
    assert [type(e) for e in events] == [DockedEvent, DepotEvent]
    assert n.stats.duplicates == 1


def test_legacy_depot_shape_commodities_total_delivered() -> None:
    # The shape the original design supported; no real line uses it (journals/README §2).
    (legacy,) = run(
        ev(
            "ColonisationConstructionDepot",
            1,
            MarketID=SHIP_ID,
            Commodities=[
                {"Name": "$Steel_name;", "Name_Localised": "Steel", "Total": 400, "Delivered": 100},
                {"Name": "$Water_name;", "Total": 100, "Delivered": 100},
            ],
        )
    )
    assert isinstance(legacy, DepotEvent)
    assert [(r.name, r.name_localised, r.required, r.provided) for r in legacy.resources] == [
        ("steel", "Steel", 400, 100),
        ("water", None, 100, 100),
    ]
    assert (legacy.progress, legacy.complete, legacy.failed) == (0.4, False, False)


def test_contribution_both_shapes_and_both_spellings() -> None:
    n = Normaliser()
    events = run(
        docked_ship(0),
        ev(
            "ColonisationContribution",
            1,
            MarketID=SHIP_ID,
            Contributions=[
                {"Name": "$Titanium_name;", "Name_Localised": "Titanium", "Amount": 776},
                {"Name": "$CMMComposite_name;", "Name_Localised": "CMM Composite", "Amount": 24},
            ],
        ),
        # Flat legacy shape, no MarketID: the depot docked at.
        ev(
            "ColonizationContribution",
            2,
            Commodity="$LiquidOxygen_name;",
            Commodity_Localised="Liquid oxygen",
            Quantity=10,
            TotalQuantity=500,
        ),
        normaliser=n,
    )
    _, modern, flat = events
    assert isinstance(modern, ContributionEvent)
    assert [(i.name, i.name_localised, i.amount) for i in modern.items] == [
        ("titanium", "Titanium", 776),
        ("cmmcomposite", "CMM Composite", 24),
    ]
    assert isinstance(flat, ContributionEvent)
    assert flat.market_id == SHIP_ID
    assert [(i.name, i.name_localised, i.amount) for i in flat.items] == [
        ("liquidoxygen", "Liquid oxygen", 10)
    ]


def test_claim_release_beacon_and_completion_with_both_spellings() -> None:
    events = run(
        ev("FSDJump", 0, StarSystem="Col 285 Sector PT-Q c5-24", SystemAddress=6680653861562),
        ev("ColonisationSystemClaim", 1, StarSystem="Col 285 Sector PT-Q c5-24", SystemAddress=6680653861562),
        b'{"timestamp": "2025-04-09T08:09:37Z", "event": "ColonisationBeaconDeployed"}',
        ev("ColonizationSystemClaimRelease", 3, StarSystem="Other", SystemAddress=5070075078009),
        ev("ColonizationBeaconDeployed", 4),
        docked_ship(5),
        ev("CompleteConstruction", 6),
    )
    _, claim, beacon, release, beacon2, _, complete = events
    assert isinstance(claim, SystemClaimEvent)
    assert (claim.system_name, claim.system_address) == ("Col 285 Sector PT-Q c5-24", 6680653861562)
    assert isinstance(beacon, BeaconDeployedEvent)
    assert (beacon.system_name, beacon.system_address) == ("Col 285 Sector PT-Q c5-24", 6680653861562)
    assert isinstance(release, SystemClaimReleaseEvent)
    assert (release.system_name, release.system_address) == ("Other", 5070075078009)
    assert isinstance(beacon2, BeaconDeployedEvent)
    assert isinstance(complete, ConstructionCompleteEvent)
    assert complete.market_id == SHIP_ID


def test_beacon_before_any_location_has_no_system() -> None:
    (beacon,) = run(ev("ColonisationBeaconDeployed", 1))
    assert isinstance(beacon, BeaconDeployedEvent)
    assert (beacon.system_name, beacon.system_address) == (None, None)


# --- ship, cargo, trade -------------------------------------------------------------------------


class FixedSideFiles:
    """A SideFiles that answers from memory and records what it was asked."""

    def __init__(self, cargo: list[CargoItem] | None, market: list[MarketItem] | None) -> None:
        self._cargo = cargo
        self._market = market
        self.asked: list[tuple[str, object]] = []

    def cargo(
        self, event_time: datetime, *, count: int | None = None, vessel: str = "Ship"
    ) -> list[CargoItem] | None:
        self.asked.append(("cargo", event_time))
        return self._cargo

    def market(self, market_id: int, event_time: datetime) -> list[MarketItem] | None:
        self.asked.append(("market", (market_id, event_time)))
        return self._market


def test_loadout_keeps_hull_and_capacity_only() -> None:
    (loadout,) = run(
        ev(
            "Loadout",
            1,
            Ship="Type9",
            ShipID=20,
            ShipName="Raider's buttcheeks",
            ShipIdent="BUTT",
            HullValue=61291584,
            CargoCapacity=776,
            Rebuy=7282745,
        )
    )
    assert isinstance(loadout, LoadoutEvent)
    assert (loadout.ship, loadout.cargo_capacity) == ("type9", 776)
    dumped = loadout.model_dump_json()
    for private in ("Raider", "BUTT", "61291584", "7282745"):
        assert private not in dumped


def test_cargo_with_inventory_bare_without_and_with_side_files() -> None:
    inventory_line = ev(
        "Cargo",
        1,
        Vessel="Ship",
        Count=780,
        Inventory=[
            {"Name": "titanium", "Count": 776, "Stolen": 0},
            {"Name": "drones", "Name_Localised": "Limpet", "Count": 4, "Stolen": 1, "MissionID": 99},
        ],
    )
    bare = ev("Cargo", 2, Vessel="Ship", Count=4)
    full, bare_event = run(inventory_line, bare)
    assert isinstance(full, CargoEvent)
    assert full.inventory == [
        CargoItem(name="titanium", count=776),
        CargoItem(name="drones", name_localised="Limpet", count=4, stolen=True, mission=True),
    ]
    assert isinstance(bare_event, CargoEvent)
    assert (bare_event.count, bare_event.inventory) == (4, None)

    side = FixedSideFiles(cargo=[CargoItem(name="drones", count=4)], market=None)
    (read,) = Normaliser(side_files=side).feed(SOURCE, FP, lines_of(bare))
    assert isinstance(read, CargoEvent)
    assert read.inventory == [CargoItem(name="drones", count=4)]
    assert side.asked == [("cargo", datetime(2025, 4, 8, 21, 0, 2, tzinfo=UTC))]

    unmatched = FixedSideFiles(cargo=None, market=None)
    (stale,) = Normaliser(side_files=unmatched).feed(SOURCE, FP, lines_of(bare))
    assert isinstance(stale, CargoEvent)
    assert stale.inventory is None


def test_market_buy_sell_and_cargo_transfer() -> None:
    buy, sell, transfer = run(
        ev("MarketBuy", 1, MarketID=3229709312, Type="titanium", Count=776, BuyPrice=3920, TotalCost=3041920),
        ev(
            "MarketSell",
            2,
            MarketID=CARRIER_ID,
            Type="cmmcomposite",
            Type_Localised="CMM Composite",
            Count=776,
            SellPrice=4446,
            TotalSale=3450096,
            AvgPricePaid=3920,
        ),
        ev(
            "CargoTransfer",
            3,
            Transfers=[
                {
                    "Type": "cmmcomposite",
                    "Type_Localised": "CMM Composite",
                    "Count": 776,
                    "Direction": "tocarrier",
                },
                {"Type": "polymers", "Count": 289, "Direction": "toship"},
            ],
        ),
    )
    assert isinstance(buy, MarketBuyEvent)
    assert (buy.market_id, buy.commodity, buy.commodity_localised, buy.count) == (
        3229709312,
        "titanium",
        None,
        776,
    )
    assert isinstance(sell, MarketSellEvent)
    assert (sell.commodity, sell.commodity_localised, sell.count) == ("cmmcomposite", "CMM Composite", 776)
    assert "3450096" not in sell.model_dump_json()  # no credits
    assert isinstance(transfer, CargoTransferEvent)
    assert [(t.commodity, t.count, t.direction) for t in transfer.transfers] == [
        ("cmmcomposite", 776, "tocarrier"),
        ("polymers", 289, "toship"),
    ]


def _market_line(second: int, market_id: int, station_type: str, name: str = "H5L-69X") -> dict[str, Any]:
    return ev(
        "Market", second, MarketID=market_id, StationName=name, StationType=station_type, StarSystem=SYSTEM
    )


def test_market_at_a_carrier_reads_market_json_and_elsewhere_does_not() -> None:
    items = [MarketItem(name="titanium", stock=21872, demand=0, buy_price=4447)]
    side = FixedSideFiles(cargo=None, market=items)
    n = Normaliser(side_files=side)
    events = n.feed(
        SOURCE,
        FP,
        lines_of(
            docked_carrier(1),
            _market_line(2, CARRIER_ID, "FleetCarrier"),
            _market_line(3, 3229709312, "Orbis", "Coelho Hub"),
            _market_line(4, 3700000001, ""),  # StationType "" (quirk 17) but a carrier's MarketID range
        ),
    )
    _, market, ranged = events
    assert isinstance(market, MarketEvent)
    assert (market.market_id, market.station_name, market.station_type) == (
        CARRIER_ID,
        "H5L-69X",
        "FleetCarrier",
    )
    assert (market.system_name, market.items) == (SYSTEM, items)
    assert isinstance(ranged, MarketEvent)
    assert ranged.station_type is None
    assert side.asked == [
        ("market", (CARRIER_ID, datetime(2025, 4, 8, 21, 0, 2, tzinfo=UTC))),
        ("market", (3700000001, datetime(2025, 4, 8, 21, 0, 4, tzinfo=UTC))),
    ]


def test_market_without_a_matching_market_json_or_without_side_files_sends_nothing() -> None:
    line = _market_line(2, CARRIER_ID, "FleetCarrier")
    assert (
        Normaliser(side_files=FixedSideFiles(cargo=None, market=None)).feed(SOURCE, FP, lines_of(line)) == []
    )
    assert run(line) == []


# --- fleet carriers -----------------------------------------------------------------------------


def carrier_stats(second: int, fuel: int = 933, balance: int = 238420742) -> dict[str, Any]:
    return ev(
        "CarrierStats",
        second,
        CarrierID=CARRIER_ID,
        Callsign="H5L-69X",
        Name="SPONSORED BY THARGOIDS",
        DockingAccess="all",
        AllowNotorious=True,
        FuelLevel=fuel,
        SpaceUsage={"TotalCapacity": 25000, "Crew": 2680, "Cargo": 16485, "FreeSpace": 0},
        Finance={"CarrierBalance": balance, "AvailableBalance": -5},
        Crew=[{"CrewRole": "Captain", "CrewName": "Clara Marsh"}],
    )


def test_carrier_stats_drop_finance_and_crew_and_repeats() -> None:
    n = Normaliser()
    events = run(
        carrier_stats(1),
        carrier_stats(14),  # identical but for time
        carrier_stats(20, balance=1),  # only finance changed: nothing we send changed
        carrier_stats(30, fuel=900),
        normaliser=n,
    )
    assert [(type(e), e.timestamp.second) for e in events] == [
        (CarrierStatsEvent, 1),
        (CarrierStatsEvent, 30),
    ]
    first = events[0]
    assert isinstance(first, CarrierStatsEvent)
    assert (first.carrier_id, first.callsign, first.name, first.docking_access) == (
        CARRIER_ID,
        "H5L-69X",
        "SPONSORED BY THARGOIDS",
        "all",
    )
    assert (first.fuel_level, first.cargo_used, first.total_capacity, first.free_space) == (
        933,
        16485,
        25000,
        0,
    )
    dumped = first.model_dump_json()
    assert "238420742" not in dumped
    assert "Clara" not in dumped
    assert n.stats.duplicates == 2


def test_other_carrier_events() -> None:
    events = run(
        ev("CarrierLocation", 1, CarrierID=CARRIER_ID, StarSystem=SYSTEM, SystemAddress=ADDRESS, BodyID=8),
        ev(
            "CarrierJumpRequest",
            2,
            CarrierID=CARRIER_ID,
            SystemName=SYSTEM,
            Body="Col 285 Sector GF-F b12-5 A 5",
            SystemAddress=ADDRESS,
            BodyID=8,
            DepartureTime="2025-04-08T21:36:10Z",
        ),
        ev("CarrierJumpCancelled", 3, CarrierID=CARRIER_ID, CarrierType="SquadronCarrier"),
        ev(
            "CarrierTradeOrder",
            4,
            CarrierID=CARRIER_ID,
            BlackMarket=False,
            Commodity="titanium",
            SaleOrder=21872,
            Price=4447,
        ),
        ev(
            "CarrierTradeOrder",
            5,
            CarrierID=CARRIER_ID,
            BlackMarket=False,
            Commodity="aluminium",
            CancelTrade=True,
        ),
        ev("CarrierDepositFuel", 6, CarrierID=CARRIER_ID, Amount=386, Total=1000),
    )
    location, request, cancelled, sale, cancel, fuel = events
    assert isinstance(location, CarrierLocationEvent)
    assert (location.carrier_id, location.system_name, location.body_id) == (CARRIER_ID, SYSTEM, 8)
    assert isinstance(request, CarrierJumpRequestEvent)
    assert request.departure_time == datetime(2025, 4, 8, 21, 36, 10, tzinfo=UTC)
    assert (request.system_name, request.body) == (SYSTEM, "Col 285 Sector GF-F b12-5 A 5")
    assert isinstance(cancelled, CarrierJumpCancelledEvent)
    assert cancelled.carrier_type == "SquadronCarrier"
    assert isinstance(sale, CarrierTradeOrderEvent)
    assert (sale.commodity, sale.sale_order, sale.purchase_order, sale.price) == (
        "titanium",
        21872,
        None,
        4447,
    )
    assert isinstance(cancel, CarrierTradeOrderEvent)
    assert (cancel.commodity, cancel.cancel_trade) == ("aluminium", True)
    assert isinstance(fuel, CarrierDepositFuelEvent)
    assert (fuel.amount, fuel.total) == (386, 1000)


# --- ids, unknown and bad input -----------------------------------------------------------------


def test_ids_come_from_fingerprint_offset_and_bytes() -> None:
    lines = lines_of(ev("Shutdown", 1), ev("Shutdown", 2), start=1000)
    events = Normaliser().feed(SOURCE, FP, lines)
    assert [e.id for e in events] == [event_id(FP, line.offset, line.data) for line in lines]
    assert [e.offset for e in events] == [1000, 1000 + len(lines[0].data) + 1]
    assert all(e.source == SOURCE for e in events)
    again = Normaliser().feed(SOURCE, FP, lines[1:])
    assert again[0].id == events[1].id


def test_unknown_and_irrelevant_events_give_nothing_and_are_not_invalid() -> None:
    n = Normaliser()
    events = run(
        ev("Music", 1, MusicTrack="MainMenu"),
        ev("SomethingFromTheFuture", 2, Payload={"a": [1, 2]}),
        ev("ReceiveText", 3, From="x", Message="private chat", Channel="npc"),
        ev("SendText", 4, To="y", Message="private chat too"),
        b'{"timestamp": "2026-09-19T09:51:51Z", "event": "MarketID"}',
        # Objects without an event name are lines of no event we send: never parsed nor judged,
        # like every line of an event we do not send (the fast scan never looks at them either).
        b'{"timestamp":"2025-04-08T21:00:01Z","MusicTrack":"x"}',
        b'{"timestamp":"2025-04-08T21:00:01Z","event":""}',
        b'{"timestamp":"2025-04-08T21:00:01Z","event":"Music","MusicTrack":"Sta',
        normaliser=n,
    )
    assert events == []
    assert (n.stats.lines, n.stats.invalid, n.stats.events) == (8, 0, 0)


def test_an_empty_key_is_tolerated() -> None:
    n = Normaliser()
    events = run(
        b'{"timestamp": "2026-03-10T15:43:11Z", "event": "CarrierNameChange", "CarrierID": 3706381824, '
        b'"": "FleetCarrier", "Name": "Maria Sklodowska", "Callsign": "W1V-NXM"}',
        ev("CarrierDepositFuel", 6, CarrierID=CARRIER_ID, Amount=7, Total=769, **{"": "FleetCarrier"}),
        normaliser=n,
    )
    assert [type(e) for e in events] == [CarrierDepositFuelEvent]
    assert n.stats.invalid == 0


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            b'{"timestamp":"2025-04-08T21:00:01Z","event":"Docked","StationName":"An',
            "not a complete JSON object",
        ),
        (b'{"timestamp":"2025-04-08T21:00:01Z","event":"Docked",}', "not JSON"),
        (b'["timestamp","event"]', "not a JSON object"),
        (b'garbage "event":"Docked"', "not a JSON object"),
        (b'{"event":"Shutdown"}', "'timestamp' must be a string, got NoneType"),
        (b'{"timestamp":"yesterday","event":"Shutdown"}', "'timestamp' is not an ISO 8601 time: 'yesterday'"),
        (
            b'{"timestamp":"2025-04-08T21:00:01Z","event":"MarketBuy","MarketID":"3229709312","Type":"x","Count":1}',
            "'MarketID' must be an integer, got str",
        ),
        (
            b'{"timestamp":"2025-04-08T21:00:01Z","event":"MarketBuy","MarketID":1,"Type":"x","Count":true}',
            "'Count' must be an integer, got bool",
        ),
        (
            b'{"timestamp":"2025-04-08T21:00:01Z","event":"MarketBuy","MarketID":1,"Type":"x","Count":-4}',
            "Input should be greater than or equal to 0",
        ),
        (
            b'{"timestamp":"2025-04-08T21:00:01Z","event":"ColonisationContribution","MarketID":1,'
            b'"Contributions":[]}',
            "List should have at least 1 item",
        ),
        (
            b'{"timestamp":"2025-04-08T21:00:01Z","event":"ColonisationConstructionDepot","MarketID":1}',
            "depot without ResourcesRequired or Commodities",
        ),
        (
            b'{"timestamp":"2025-04-08T21:00:01Z","event":"Cargo","Count":1,"Inventory":[7]}',
            "must hold objects",
        ),
    ],
)
def test_a_bad_line_is_skipped_logged_and_counted(
    data: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    n = Normaliser()
    good_before = _bytes(ev("Shutdown", 0))
    good_after = _bytes(ev("Shutdown", 9))
    lines = [RawLine(0, good_before), RawLine(500, data), RawLine(1000, good_after)]
    with caplog.at_level(logging.WARNING, logger="uploader.normalise.normaliser"):
        events = n.feed(SOURCE, FP, lines)
    assert [e.offset for e in events] == [0, 1000]
    assert (n.stats.lines, n.stats.invalid, n.stats.events) == (3, 1, 2)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert message.startswith(f"skipping line of {SOURCE} at byte 500: ")
    assert reason in message


def test_a_bad_docking_line_leaves_the_context_alone() -> None:
    n = Normaliser()
    run(docked_ship(1), normaliser=n)
    before = n.state
    bad = ev(
        "Docked", 2, StationName="Elsewhere", StationType="Orbis", StarSystem="X", MarketID="not a number"
    )
    assert run(bad, normaliser=n) == []
    assert n.state == before
    assert n.stats.invalid == 1


def test_a_huge_relevant_line_is_normalised() -> None:
    huge = ev(
        "Cargo", 1, Vessel="Ship", Count=1, Junk="x" * 3_000_000, Inventory=[{"Name": "gold", "Count": 1}]
    )
    (cargo,) = run(huge)
    assert isinstance(cargo, CargoEvent)
    assert cargo.inventory == [CargoItem(name="gold", count=1)]


def test_game_layout_and_compact_layout_give_the_same_events() -> None:
    objs = [docked_ship(1), depot(2), ev("Undocked", 3, StationName="x", MarketID=SHIP_ID)]
    compact = Normaliser().feed(SOURCE, FP, [RawLine(i, _bytes(o)) for i, o in enumerate(objs)])
    spaced = Normaliser().feed(SOURCE, FP, [RawLine(i, _bytes(o, spaced=True)) for i, o in enumerate(objs)])
    strip = {"id"}  # the id hashes the bytes, which differ
    assert [e.model_dump(exclude=strip) for e in compact] == [e.model_dump(exclude=strip) for e in spaced]


# --- state --------------------------------------------------------------------------------------


def test_state_round_trips_through_json_and_resumes_context_and_dedupe() -> None:
    n = Normaliser()
    run(
        ev("Commander", 0, FID="F1", Name="TEST"),
        docked_carrier(1),
        carrier_stats(2),
        docked_ship(3),
        depot(4),
        normaliser=n,
    )
    state = n.state
    assert isinstance(state, NormaliserState)
    restored = NormaliserState.model_validate_json(state.model_dump_json())
    assert restored == state
    assert CARRIER_ID in restored.known_carriers
    resumed = Normaliser(restored)
    events = run(depot(19), carrier_stats(20), ev("Shutdown", 21), normaliser=resumed)
    assert [type(e) for e in events] == [ShutdownEvent]  # both repeats recognised after the restart
    (shutdown,) = events
    assert (shutdown.commander, shutdown.at_station, shutdown.at_market_id) == (
        "TEST",
        "System Colonisation Ship",
        SHIP_ID,
    )


def test_state_refuses_unknown_fields() -> None:
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        NormaliserState.model_validate({"commander": "x", "surprise": 1})


def test_every_event_is_valid_wire_json() -> None:
    events = run(
        ev("Commander", 0, FID="F1", Name="TEST"),
        docked_ship(1),
        depot(2),
        ev(
            "ColonisationContribution",
            3,
            MarketID=SHIP_ID,
            Contributions=[{"Name": "$Steel_name;", "Amount": 5}],
        ),
        carrier_stats(4),
        ev("Shutdown", 5),
    )
    for event in events:
        assert KNOWN.validate_json(event.model_dump_json()) == event


def test_location_docked_without_a_marketid_still_places_the_commander_but_docked_needs_one() -> None:
    n = Normaliser()
    (location,) = run(
        ev("Location", 1, Docked=True, StationName="Old Port", StationType="Coriolis", StarSystem="Sol"),
        normaliser=n,
    )
    assert isinstance(location, LocationEvent)
    assert (location.station_name, location.market_id, location.at_station) == ("Old Port", None, "Old Port")
    assert run(ev("Docked", 2, StationName="Old Port", StarSystem="Sol"), normaliser=n) == []
    assert n.stats.invalid == 1


class BrokenSideFiles:
    """Side files whose reads fail (a locked or vanished file): the events must still go."""

    def cargo(
        self, event_time: datetime, *, count: int | None = None, vessel: str = "Ship"
    ) -> list[CargoItem] | None:
        raise PermissionError("Cargo.json is locked")

    def market(self, market_id: int, event_time: datetime) -> list[MarketItem] | None:
        raise PermissionError("Market.json is locked")


def test_a_failing_side_file_read_keeps_the_event(caplog: pytest.LogCaptureFixture) -> None:
    n = Normaliser(side_files=BrokenSideFiles())
    with caplog.at_level(logging.WARNING, logger="uploader.normalise.normaliser"):
        events = n.feed(SOURCE, FP, lines_of(ev("Cargo", 1, Vessel="Ship", Count=4), ev("Shutdown", 2)))
    cargo, _ = events
    assert isinstance(cargo, CargoEvent)
    assert (cargo.count, cargo.inventory) == (4, None)
    assert [r.getMessage() for r in caplog.records] == [
        f"could not read Cargo.json for the line of {SOURCE} at byte 0"
    ]
    assert n.stats.invalid == 0


def test_an_unexpected_error_on_one_line_skips_only_that_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import uploader.normalise.normaliser as module

    def explode(self: Normaliser, obj: dict[str, Any], line: object) -> list[KnownEvent]:
        raise TypeError("a bug")

    monkeypatch.setitem(module._HANDLERS_WITHOUT_SIDE_FILES, b"Loadout", explode)
    n = Normaliser()
    lines = lines_of(ev("Loadout", 1, Ship="type9", CargoCapacity=8), ev("Shutdown", 2))
    with caplog.at_level(logging.WARNING, logger="uploader.normalise.normaliser"):
        events = n.feed(SOURCE, FP, lines)
    assert [type(e) for e in events] == [ShutdownEvent]
    assert n.stats.invalid == 1
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == f"skipping line of {SOURCE} at byte 0: unexpected error"
    assert record.exc_info is not None


def test_trades_after_a_carrier_jump_made_on_foot_are_at_the_carrier() -> None:
    """On foot aboard the carrier while it jumps, the ship stays docked on it: a transfer to the
    carrier after the jump must name the carrier, or the bot books it nowhere."""
    events = run(
        docked_carrier(1),
        ev("CarrierJump", 2, Docked=False, OnFoot=True, StarSystem=SYSTEM, SystemAddress=ADDRESS),
        ev("CargoTransfer", 3, Transfers=[{"Type": "steel", "Count": 76, "Direction": "tocarrier"}]),
        ev("Undocked", 4, StationName="H5L-69X", StationType="FleetCarrier", MarketID=CARRIER_ID),
    )
    (transfer,) = [e for e in events if isinstance(e, CargoTransferEvent)]
    assert (transfer.at_market_id, transfer.at_station, transfer.at_system) == (CARRIER_ID, "H5L-69X", SYSTEM)


def test_a_legacy_galaxy_session_sends_nothing_and_the_next_live_one_does() -> None:
    """Journals README quirk 30: the 3.8 client plays the legacy galaxy, where none of this squadron's
    sites, carriers or trades are; its position must not mix into the live data."""
    normaliser = Normaliser()
    legacy = normaliser.feed("Journal.231231160210.01.log", "cd" * 32, lines_of(
        ev("Fileheader", 0, part=1, language="English\\UK", Odyssey=False, gameversion="3.8.0.1400"),
        ev("Commander", 1, FID="F1", Name="TEST"),
        docked_carrier(2),
        ev("MarketBuy", 3, MarketID=CARRIER_ID, Type="steel", Count=700, BuyPrice=1, TotalCost=700),
    ))  # fmt: skip
    assert legacy == []
    live = normaliser.feed("Journal.2025-04-08T215854.01.log", FP, lines_of(
        ev("Fileheader", 10, part=1, language="English/UK", Odyssey=True, gameversion="4.1.1.0"),
        ev("Commander", 11, FID="F1", Name="TEST"),
        docked_ship(12),
    ))  # fmt: skip
    assert [e.kind for e in live] == ["commander", "docked"]
    restored = Normaliser(normaliser.state)  # the flag is part of the saved context, per file
    assert restored.state.legacy is False


def test_a_new_session_does_not_start_where_the_last_one_ended() -> None:
    """The game closed while docked (no Shutdown, no Undocked): the next session's lines before its
    own Location must not place the commander at the old station."""
    normaliser = Normaliser()
    ended = lines_of(ev("Commander", 0, FID="F1", Name="ALICE"), docked_ship(1))
    normaliser.feed("Journal.A.log", "aa" * 32, ended)
    events = normaliser.feed("Journal.B.log", "bb" * 32, lines_of(
        ev("Fileheader", 10, part=1, gameversion="4.1.1.0"),
        ev("Commander", 11, FID="F2", Name="BOB"),
        ev("CarrierLocation", 12, CarrierID=CARRIER_ID, StarSystem=SYSTEM, SystemAddress=ADDRESS, BodyID=8),
    ))  # fmt: skip
    located = events[-1]
    assert (located.commander, located.at_station, located.at_market_id, located.at_system) == (
        "BOB", None, None, None
    )  # fmt: skip
    # A Continued part (part 2) carries on its session: the place stays.
    normaliser.feed("Journal.C.log", "cc" * 32, lines_of(docked_ship(20)))
    events = normaliser.feed("Journal.D.log", "dd" * 32, lines_of(
        ev("Fileheader", 30, part=2, gameversion="4.1.1.0"),
        ev("Cargo", 31, Vessel="Ship", Count=0, Inventory=[]),
    ))  # fmt: skip
    assert events[-1].at_market_id == SHIP_ID


def test_a_wrong_type_in_a_field_the_normaliser_uses_skips_the_line() -> None:
    """Never a silently wrong event: a StationServices that is no list, a tonnage written `true`
    (also after the same resource with numbers was seen, which a cache could confuse: 1 == True)."""
    n = Normaliser()
    assert run({**docked_ship(), "StationServices": "colonisationcontribution"}, normaliser=n) == []
    assert n.stats.invalid == 1
    ones, truthy = depot(1), depot(3)
    ones["ResourcesRequired"][0].update(RequiredAmount=1, ProvidedAmount=1)
    truthy["ResourcesRequired"][0].update(RequiredAmount=True, ProvidedAmount=True)
    assert [e.kind for e in run(docked_ship(2), ones, normaliser=n)] == ["docked", "depot"]
    assert run(truthy, normaliser=n) == []
    assert n.stats.invalid == 2
    # The same for a payment: 1 seen first, then `true`.
    n, paid_one, paid_true = Normaliser(), depot(1), depot(3)
    paid_one["ResourcesRequired"][0].update(Payment=1)
    paid_true["ResourcesRequired"][0].update(Payment=True)
    assert [e.kind for e in run(docked_ship(2), paid_one, normaliser=n)] == ["docked", "depot"]
    assert run(paid_true, normaliser=n) == []
    assert n.stats.invalid == 1
