"""A journal generator: three commanders hauling to two construction sites, in the game's format.

The numbers are consistent by construction: one depot model per site is the truth; every
`ColonisationContribution` adds exactly what the commander bought, and every depot snapshot any
commander's journal shows is that model at that moment. The project ships this generator because
it cannot ship the shared real journals (their licences differ); the layout, field names and
quirks follow them (../shared/journals/README.md).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bot.demo.gameformat import Fixed, Json, line

SYSTEM = "Col 285 Sector GF-F b12-5"
SYSTEM_ADDRESS = 2_869_708_875_137
SYSTEM_POS: list[Json] = [Fixed(-81.78125, 5), Fixed(-148.40625, 5), Fixed(-27.18750, 5)]
MARKET_SYSTEM = "Arietis Sector HW-W b1-3"
MARKET_SYSTEM_ADDRESS = 7_267_755_541_929
MARKET_POS: list[Json] = [Fixed(-74.53125, 5), Fixed(-150.12500, 5), Fixed(-20.65625, 5)]
MARKET_STATION = "Hedin Hub"
MARKET_ID = 3_229_709_312
GAME_VERSION = "4.2.2.0"
FIRST_HAND_IN = 260  # seconds after a commander's login
TRIP = 420  # seconds from one hand-in to the next
BUILD = "r318733/r0 "


@dataclass(frozen=True, slots=True)
class Commodity:
    symbol: str  # canonical, as in MarketBuy.Type and depot names without $ and _name;
    camel: str  # as ColonisationContribution writes it (quirk 13)
    localised: str
    payment: int
    price: int


COMMODITIES = {
    c.symbol: c
    for c in (
        Commodity("steel", "Steel", "Steel", 5057, 312),
        Commodity("aluminium", "Aluminium", "Aluminium", 3239, 431),
        Commodity("titanium", "Titanium", "Titanium", 5360, 1127),
        Commodity("cmmcomposite", "CMMComposite", "CMM Composite", 6788, 5921),
        Commodity("ceramiccomposites", "CeramicComposites", "Ceramic Composites", 724, 244),
        Commodity("liquidoxygen", "LiquidOxygen", "Liquid oxygen", 2260, 684),
        Commodity("polymers", "Polymers", "Polymers", 682, 172),
        Commodity("insulatingmembrane", "InsulatingMembrane", "Insulating Membrane", 11788, 7987),
        Commodity("copper", "Copper", "Copper", 689, 517),
        Commodity("semiconductors", "Semiconductors", "Semiconductors", 1526, 921),
    )
}


@dataclass(frozen=True, slots=True)
class DemoSite:
    market_id: int
    name: str
    station_type: str
    dist_ls: Fixed
    required: dict[str, int]
    provided: dict[str, int]  # before the scenario: earlier deliveries by commanders without the uploader


@dataclass(frozen=True, slots=True)
class DemoCommander:
    name: str
    fid: str
    ship: str
    ship_localised: str
    ship_id: int
    capacity: int
    trips: int
    delay: int  # seconds after the scenario start this commander logs in


SITES = (
    DemoSite(
        3_958_346_754,
        "Orbital Construction Site: Vela Vision",
        "SpaceConstructionDepot",
        Fixed(412.6, 6),
        required={
            "aluminium": 5200,
            "ceramiccomposites": 900,
            "cmmcomposite": 4400,
            "copper": 400,
            "liquidoxygen": 1500,
            "polymers": 700,
            "semiconductors": 300,
            "steel": 6800,
            "titanium": 4900,
        },
        provided={
            "aluminium": 4050,
            "ceramiccomposites": 900,
            "cmmcomposite": 2900,
            "copper": 400,
            "liquidoxygen": 1100,
            "polymers": 700,
            "semiconductors": 300,
            "steel": 4300,
            "titanium": 3170,
        },
    ),
    DemoSite(
        4_212_063_747,
        "Planetary Construction Site: Kuiper Drilling Base",
        "PlanetaryConstructionDepot",
        Fixed(1525.575489, 6),
        required={
            "aluminium": 1400,
            "insulatingmembrane": 600,
            "liquidoxygen": 700,
            "steel": 2200,
            "titanium": 1100,
        },
        provided={
            "aluminium": 700,
            "insulatingmembrane": 0,
            "liquidoxygen": 300,
            "steel": 1200,
            "titanium": 500,
        },
    ),
)

COMMANDERS = (
    DemoCommander("Ada Quill", "F10000001", "type9", "Type-9 Heavy", 12, 784, 4, 0),
    DemoCommander("Brannock", "F10000002", "cutter", "Imperial Cutter", 7, 720, 4, 170),
    DemoCommander("Ysolde Vex", "F10000003", "python_nx", "Python Mk II", 3, 416, 5, 340),
)


@dataclass(frozen=True, slots=True)
class JournalLine:
    commander: str
    at: datetime
    text: str  # without its CRLF


@dataclass
class Journals:
    start: datetime
    files: dict[str, str]  # commander -> file name
    lines: list[JournalLine]
    final: dict[int, dict[str, int]] = field(default_factory=dict)  # market id -> provided at the end

    def folder(self, root: Path, commander: str) -> Path:
        return root / commander.replace(" ", "_")

    def write_all(self, root: Path) -> None:
        """Every line at once, e.g. for tests; `grow` in bot.demo.scenario writes them paced."""
        for commander, name in self.files.items():
            folder = self.folder(root, commander)
            folder.mkdir(parents=True, exist_ok=True)
            text = "".join(f"{jl.text}\r\n" for jl in self.lines if jl.commander == commander)
            (folder / name).write_bytes(text.encode("utf-8"))


class _Depot:
    def __init__(self, site: DemoSite) -> None:
        self.site = site
        self.provided = dict(site.provided)

    @property
    def complete(self) -> bool:
        return all(self.provided[k] >= v for k, v in self.site.required.items())

    def remaining(self) -> dict[str, int]:
        return {k: v - self.provided[k] for k, v in self.site.required.items() if v > self.provided[k]}

    def snapshot(self) -> dict[str, Json]:
        required = sum(self.site.required.values())
        progress = sum(self.provided.values()) / required
        resources: list[Json] = [
            {
                "Name": f"${k}_name;",
                "Name_Localised": COMMODITIES[k].localised,
                "RequiredAmount": v,
                "ProvidedAmount": self.provided[k],
                "Payment": COMMODITIES[k].payment,
            }
            for k, v in sorted(self.site.required.items())  # the game sorts by Name (README §3.1)
        ]
        return {
            "MarketID": self.site.market_id,
            "ConstructionProgress": Fixed(round(progress, 6)),
            "ConstructionComplete": self.complete,
            "ConstructionFailed": False,
            "ResourcesRequired": resources,
        }


@dataclass(frozen=True, order=True, slots=True)
class _Step:
    at: int  # seconds after the scenario start
    seq: int  # file order within one commander's journal
    commander: str = field(compare=False)
    event: str = field(compare=False)  # a game event, or "depot" / "contribute" (read the depot model)
    fields: dict[str, Json] = field(compare=False, default_factory=dict)
    market: int = field(compare=False, default=0)
    cargo: tuple[tuple[str, int], ...] = field(compare=False, default=())


def _station(site: DemoSite | None) -> dict[str, Json]:
    if site is None:
        return {
            "StationName": MARKET_STATION,
            "StationType": "Coriolis",
            "MarketID": MARKET_ID,
            "StationFaction": {"Name": "Arietis Industries", "FactionState": "Boom"},
            "StationGovernment": "$government_Corporate;",
            "StationGovernment_Localised": "Corporate",
            "StationServices": [
                "dock",
                "autodock",
                "commodities",
                "contacts",
                "refuel",
                "repair",
                "rearm",
                "outfitting",
                "shipyard",
                "stationMenu",
            ],
            "StationEconomy": "$economy_Industrial;",
            "StationEconomy_Localised": "Industrial",
            "StationEconomies": [
                {"Name": "$economy_Industrial;", "Name_Localised": "Industrial", "Proportion": Fixed(1.0)}
            ],
        }
    return {
        "StationName": site.name,
        "StationType": site.station_type,
        "MarketID": site.market_id,
        "StationFaction": {"Name": "Brewer Corporation"},
        "StationGovernment": "$government_Corporate;",
        "StationGovernment_Localised": "Corporate",
        "StationServices": [
            "dock",
            "autodock",
            "commodities",
            "contacts",
            "rearm",
            "refuel",
            "repair",
            "flightcontroller",
            "stationoperations",
            "stationMenu",
            "colonisationcontribution",
        ],
        "StationEconomy": "$economy_Colony;",
        "StationEconomy_Localised": "Colony",
        "StationEconomies": [
            {"Name": "$economy_Colony;", "Name_Localised": "Colony", "Proportion": Fixed(1.0)}
        ],
    }


def _system(at_site: bool) -> dict[str, Json]:
    return {
        "StarSystem": SYSTEM if at_site else MARKET_SYSTEM,
        "SystemAddress": SYSTEM_ADDRESS if at_site else MARKET_SYSTEM_ADDRESS,
        "StarPos": SYSTEM_POS if at_site else MARKET_POS,
    }


def _plan_trips() -> list[tuple[int, DemoCommander, int]]:
    """(seconds of the hand-in, commander, trip number) for every trip, in hand-in order."""
    trips = [(c.delay + FIRST_HAND_IN + n * TRIP, c, n) for c in COMMANDERS for n in range(c.trips)]
    return sorted(trips, key=lambda t: (t[0], t[1].name))


def _allocate(depots: dict[int, _Depot]) -> dict[tuple[str, int], tuple[int, list[tuple[str, int]]]]:
    """What each trip carries where, decided in hand-in order so nothing exceeds what a site needs:
    the small planetary site first (it completes), then the orbital one."""
    remaining = {m: d.remaining() for m, d in depots.items()}
    plan: dict[tuple[str, int], tuple[int, list[tuple[str, int]]]] = {}
    order = [SITES[1].market_id, SITES[0].market_id]
    for _, commander, n in _plan_trips():
        market = next((m for m in order if remaining[m]), order[-1])
        hold = commander.capacity
        cargo: list[tuple[str, int]] = []
        for symbol, need in sorted(remaining[market].items(), key=lambda kv: (-kv[1], kv[0])):
            if hold == 0 or len(cargo) == 3:
                break
            take = min(need, hold)
            cargo.append((symbol, take))
            hold -= take
            remaining[market][symbol] -= take
            if remaining[market][symbol] == 0:
                del remaining[market][symbol]
        plan[(commander.name, n)] = (market, cargo)
    return plan


def _commander_steps(
    c: DemoCommander,
    plan: dict[tuple[str, int], tuple[int, list[tuple[str, int]]]],
    sites: dict[int, DemoSite],
) -> Iterator[_Step]:
    seq = iter(range(1_000_000))
    t = c.delay

    def step(at: int, event: str, **fields: Json) -> _Step:
        return _Step(at, next(seq), c.name, event, fields)

    yield step(
        t, "Fileheader", part=1, language="English/UK", Odyssey=True, gameversion=GAME_VERSION, build=BUILD
    )
    yield step(t + 9, "Commander", FID=c.fid, Name=c.name)
    yield step(
        t + 9,
        "LoadGame",
        FID=c.fid,
        Commander=c.name,
        Horizons=True,
        Odyssey=True,
        Ship=c.ship,
        Ship_Localised=c.ship_localised,
        ShipID=c.ship_id,
        ShipName="",
        ShipIdent="",
        FuelLevel=Fixed(32),
        FuelCapacity=Fixed(32),
        GameMode="Group",
        Group="Colony Builders",
        Credits=912_345_678,
        Loan=0,
        language="English/UK",
        gameversion=GAME_VERSION,
        build=BUILD,
    )
    yield step(
        t + 10,
        "Loadout",
        Ship=c.ship,
        ShipID=c.ship_id,
        ShipName="",
        ShipIdent="",
        HullValue=76_555_842,
        ModulesValue=84_363_302,
        HullHealth=Fixed(1),
        UnladenMass=Fixed(1066.5),
        CargoCapacity=c.capacity,
        MaxJumpRange=Fixed(24.604622),
        FuelCapacity={"Main": Fixed(32), "Reserve": Fixed(0.77)},
        Rebuy=8_045_957,
        Modules=[],
    )
    yield step(
        t + 10,
        "Location",
        DistFromStarLS=Fixed(1304.22),
        Docked=True,
        **_station(None),
        Taxi=False,
        Multicrew=False,
        **_system(False),
        SystemAllegiance="Independent",
        SystemEconomy="$economy_Industrial;",
        SystemEconomy_Localised="Industrial",
        Population=2_411_550,
        Body="Hedin Hub",
        BodyID=31,
        BodyType="Station",
    )
    yield step(t + 11, "Cargo", Vessel="Ship", Count=0, Inventory=[])
    yield step(t + 11, "Music", MusicTrack="Starport")
    for n in range(c.trips):
        market, cargo = plan[(c.name, n)]
        site = sites[market]
        hand_in = c.delay + FIRST_HAND_IN + n * TRIP
        buy = hand_in - 190
        yield step(
            buy - 5,
            "Market",
            MarketID=MARKET_ID,
            StationName=MARKET_STATION,
            StationType="Coriolis",
            StarSystem=MARKET_SYSTEM,
        )
        held = 0
        for symbol, count in cargo:
            item = COMMODITIES[symbol]
            extra: dict[str, Json] = (
                {} if item.localised.lower() == symbol else {"Type_Localised": item.localised}
            )
            yield step(
                buy,
                "MarketBuy",
                MarketID=MARKET_ID,
                Type=symbol,
                **extra,
                Count=count,
                BuyPrice=item.price,
                TotalCost=item.price * count,
            )
            held += count
        yield step(buy + 1, "Cargo", Vessel="Ship", Count=held)
        yield step(
            buy + 20,
            "Undocked",
            StationName=MARKET_STATION,
            StationType="Coriolis",
            MarketID=MARKET_ID,
            Taxi=False,
            Multicrew=False,
        )
        yield step(buy + 21, "Music", MusicTrack="NoTrack")
        yield step(
            buy + 75,
            "FSDJump",
            Taxi=False,
            Multicrew=False,
            **_system(True),
            SystemAllegiance="",
            SystemEconomy="$economy_None;",
            SystemEconomy_Localised="None",
            Population=0,
            Body=f"{SYSTEM} A",
            BodyID=1,
            BodyType="Star",
            JumpDist=Fixed(9.372, 3),
            FuelUsed=Fixed(1.220931),
            FuelLevel=Fixed(30.779069),
        )
        yield step(buy + 76, "Music", MusicTrack="Supercruise")
        dock = hand_in - 24
        yield step(dock - 30, "Music", MusicTrack="DockingComputer")
        yield step(
            dock,
            "Docked",
            **_station(site),
            Taxi=False,
            Multicrew=False,
            StarSystem=SYSTEM,
            SystemAddress=SYSTEM_ADDRESS,
            DistFromStarLS=site.dist_ls,
            LandingPads={"Small": 8, "Medium": 4, "Large": 4},
        )
        # A snapshot right after docking, then every 15 s while docked (README quirk 19).
        for offset in (1, 16):
            yield _Step(dock + offset, next(seq), c.name, "depot", market=market)
        yield _Step(hand_in, next(seq), c.name, "contribute", market=market, cargo=tuple(cargo))
        yield _Step(hand_in, next(seq), c.name, "depot", market=market)
        yield step(hand_in + 1, "Cargo", Vessel="Ship", Count=0)
        for offset in (15, 30):
            yield _Step(hand_in + offset, next(seq), c.name, "depot", market=market)
        yield step(
            hand_in + 40,
            "Undocked",
            StationName=site.name,
            StationType=site.station_type,
            MarketID=market,
            Taxi=False,
            Multicrew=False,
        )
        yield step(hand_in + 41, "Music", MusicTrack="Exploration")
        yield step(
            hand_in + 120,
            "FSDJump",
            Taxi=False,
            Multicrew=False,
            **_system(False),
            SystemAllegiance="Independent",
            SystemEconomy="$economy_Industrial;",
            SystemEconomy_Localised="Industrial",
            Population=2_411_550,
            Body=f"{MARKET_SYSTEM} A",
            BodyID=1,
            BodyType="Star",
            JumpDist=Fixed(9.372, 3),
            FuelUsed=Fixed(1.220931),
            FuelLevel=Fixed(29.558138),
        )
        next_buy = hand_in + TRIP - 190
        yield step(
            next_buy - 12,
            "Docked",
            **_station(None),
            Taxi=False,
            Multicrew=False,
            **{k: v for k, v in _system(False).items() if k != "StarPos"},
            DistFromStarLS=Fixed(1304.22),
            LandingPads={"Small": 6, "Medium": 8, "Large": 5},
        )
    yield step(c.delay + FIRST_HAND_IN + c.trips * TRIP - 100, "Shutdown")


def generate(start: datetime) -> Journals:
    """The whole scenario, lines in game-time order across the three journals."""
    depots = {s.market_id: _Depot(s) for s in SITES}
    sites = {s.market_id: s for s in SITES}
    plan = _allocate(depots)
    steps: list[_Step] = list(heapq.merge(*(sorted(_commander_steps(c, plan, sites)) for c in COMMANDERS)))
    lines: list[JournalLine] = []
    for step in steps:
        at = start + timedelta(seconds=step.at)
        if step.event == "depot":
            text = line(at, "ColonisationConstructionDepot", **depots[step.market].snapshot())
        elif step.event == "contribute":
            contributions: list[Json] = []
            for symbol, count in step.cargo:
                depots[step.market].provided[symbol] += count
                item = COMMODITIES[symbol]
                contributions.append(
                    {"Name": f"${item.camel}_name;", "Name_Localised": item.localised, "Amount": count}
                )
            text = line(at, "ColonisationContribution", MarketID=step.market, Contributions=contributions)
        else:
            text = line(at, step.event, **step.fields)
        lines.append(JournalLine(step.commander, at, text))
    files = {
        c.name: f"Journal.{(start + timedelta(seconds=c.delay)).strftime('%Y-%m-%dT%H%M%S')}.01.log"
        for c in COMMANDERS
    }
    return Journals(start, files, lines, {m: dict(d.provided) for m, d in depots.items()})
