"""Game-format journals of a whole squadron hauling to shared construction sites, for the soak.

Every commander plays two sessions (two journal files). A trip: docked at a squadron carrier, buy
from its market, undock, supercruise to a site in the same system, dock, a depot snapshot on
docking and every 15 s while docked (quirk 19), hand in (ColonisationContribution), empty cargo,
undock, back to the carrier. Carrier owners post trade orders. Noise lines (music, chat, scans,
targets, status) make up about two thirds of all lines, as in the real sessions.

The depot numbers are consistent: one model per site is the truth, every snapshot any commander's
journal shows is that model at that game moment, and every hand-in adds exactly what was bought.
Lines are produced in game-time order across the squadron (so the models evolve in that order);
`SquadronJournals.commanders` holds each commander's files and lines with their game times, which a
writer appends at a chosen pace.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.demo.gameformat import Fixed, Json, line

START = datetime(2031, 6, 1, 18, 0, tzinfo=UTC)
SYSTEM = "Soak Sector AB-C d1-2"
SYSTEM_ADDRESS = 5_068_732_573_049
COMMODITIES = (
    ("steel", "Steel", 312), ("aluminium", "Aluminium", 431), ("titanium", "Titanium", 1127),
    ("cmmcomposite", "CMM Composite", 5921), ("liquidoxygen", "Liquid oxygen", 684),
    ("polymers", "Polymers", 172), ("copper", "Copper", 517), ("semiconductors", "Semiconductors", 921),
)  # fmt: skip
NOISE = (
    ("Music", {"MusicTrack": "Supercruise"}),
    ("Music", {"MusicTrack": "Exploration"}),
    ("ReceiveText", {"From": "$npc_name_decorate:#name=Traffic Control;",
                     "Message": "$STATION_docking_granted;",
                     "Message_Localised": "Docking request granted.", "Channel": "npc"}),
    ("ReceiveText", {"From": "Wing Mate", "Message": "o7 hauling again", "Channel": "squadron"}),
    ("FSSSignalDiscovered", {"SystemAddress": SYSTEM_ADDRESS, "SignalName": "$MULTIPLAYER_SCENARIO14_TITLE;",
                             "SignalType": "USS", "IsStation": False}),
    ("ShipTargeted", {"TargetLocked": False}),
    ("NavBeaconScan", {"SystemAddress": SYSTEM_ADDRESS, "NumBodies": 12}),
    ("FuelScoop", {"Scooped": Fixed(4.2, 6), "Total": Fixed(32.0, 6)}),
    ("ReservoirReplenished", {"FuelMain": Fixed(31.5, 6), "FuelReservoir": Fixed(0.77, 6)}),
    ("SupercruiseDestinationDrop", {"Type": "Soak Station", "Threat": 0}),
)  # fmt: skip
CAPACITIES = (416, 512, 720, 784)
TRIP = 300  # game seconds from one hand-in to the next, roughly
DOCKED_AT_SITE = 40  # game seconds spent docked at a site: snapshots at +1, +16, +31


@dataclass(frozen=True, slots=True)
class Site:
    market_id: int
    name: str
    required: dict[str, int]


@dataclass(frozen=True, slots=True)
class Carrier:
    market_id: int
    callsign: str
    owner: int  # index of the commander who owns it


@dataclass(slots=True)
class JournalFile:
    name: str
    lines: list[tuple[float, str]] = field(default_factory=list)  # (game seconds, text without CRLF)


@dataclass(slots=True)
class CommanderJournals:
    name: str
    files: list[JournalFile]

    @property
    def line_count(self) -> int:
        return sum(len(f.lines) for f in self.files)


@dataclass(frozen=True, slots=True)
class SquadronJournals:
    commanders: list[CommanderJournals]
    sites: list[Site]
    start: datetime


@dataclass(order=True, slots=True)
class _Step:
    at: float
    who: int
    seq: int
    event: str = field(compare=False)
    fields: dict[str, Json] = field(compare=False, default_factory=dict)
    site: int = field(compare=False, default=-1)
    cargo: tuple[str, int] | None = field(compare=False, default=None)
    file: int = field(compare=False, default=0)


def _sites(count: int) -> list[Site]:
    return [
        Site(3_960_000_000 + n, f"Orbital Construction Site: Soak {n}",
             {c[0]: 400_000 + 50_000 * k for k, c in enumerate(COMMODITIES)})
        for n in range(count)
    ]  # fmt: skip


def _carriers(commanders: int) -> list[Carrier]:
    owners = range(0, commanders, 10)
    return [
        Carrier(3_710_000_000 + k, f"S{k:02d}-{k * 7 % 100:02d}X", owner) for k, owner in enumerate(owners)
    ]


def _station(site: Site) -> dict[str, Json]:
    return {"StationName": site.name, "StationType": "SpaceConstructionDepot", "MarketID": site.market_id,
            "StationFaction": {"Name": "Soak Builders"}, "StationGovernment": "$government_Corporate;",
            "StationServices": ["dock", "autodock", "commodities", "colonisationcontribution"],
            "StationEconomy": "$economy_Colony;", "StarSystem": SYSTEM, "SystemAddress": SYSTEM_ADDRESS,
            "DistFromStarLS": Fixed(412.6, 6)}  # fmt: skip


def _carrier_station(carrier: Carrier) -> dict[str, Json]:
    return {"StationName": carrier.callsign, "StationType": "FleetCarrier", "MarketID": carrier.market_id,
            "StationFaction": {"Name": "FleetCarrier"}, "StationServices": ["dock", "commodities"],
            "StarSystem": SYSTEM, "SystemAddress": SYSTEM_ADDRESS,
            "DistFromStarLS": Fixed(410.1, 6)}  # fmt: skip


def _commander_steps(
    who: int, name: str, sites: list[Site], carriers: list[Carrier], duration: float, rng: random.Random
) -> Iterator[_Step]:
    seq = iter(range(10**9))
    t = float(who * 3)  # distinct start seconds: distinct Fileheaders (event ids are seeded by them)
    carrier = carriers[who % len(carriers)]
    own = next((c for c in carriers if c.owner == who), None)
    capacity = CAPACITIES[who % len(CAPACITIES)]
    fid = f"F{7_000_000 + who}"
    file = 0

    def step(at: float, event: str, **fields: Json) -> _Step:
        return _Step(at, who, next(seq), event, fields, file=file)

    def noise(start: float, end: float, count: int) -> Iterator[_Step]:
        for k in range(count):
            event, fields = NOISE[rng.randrange(len(NOISE))]
            yield step(start + (end - start) * (k + 1) / (count + 1), event, **fields)

    def login(at: float) -> Iterator[_Step]:
        yield step(at, "Fileheader", part=1, language="English/UK", Odyssey=True, gameversion="4.2.1.0",
                   build="r316941/r0 ")  # fmt: skip
        yield step(at + 5, "Commander", FID=fid, Name=name)
        yield step(at + 5, "LoadGame", FID=fid, Commander=name, Horizons=True, Odyssey=True, Ship="type9",
                   ShipID=who, GameMode="Group", Group="Soak", Credits=100_000_000, Loan=0)  # fmt: skip
        yield step(at + 6, "Location", Docked=True, **_carrier_station(carrier), Taxi=False, Multicrew=False,
                   StarPos=[Fixed(1.5, 5), Fixed(2.5, 5), Fixed(3.5, 5)], Population=0)  # fmt: skip
        yield step(at + 7, "Cargo", Vessel="Ship", Count=0, Inventory=[])
        yield step(at + 7, "Music", MusicTrack="Starport")

    yield from login(t)
    t += 20
    half = duration / 2
    trip = 0
    while t < duration:
        if file == 0 and t >= half:
            yield step(t, "Shutdown")
            file = 1
            t += 30
            yield from login(t)
            t += 20
        site_index = (who + trip) % len(sites)
        site = sites[site_index]
        commodity = COMMODITIES[(who * 3 + trip) % len(COMMODITIES)]
        amount = capacity - rng.randrange(0, 50)
        yield step(t, "Market", MarketID=carrier.market_id, StationName=carrier.callsign,
                   StationType="FleetCarrier", StarSystem=SYSTEM)  # fmt: skip
        yield step(t + 4, "MarketBuy", MarketID=carrier.market_id, Type=commodity[0], Count=amount,
                   BuyPrice=commodity[2], TotalCost=commodity[2] * amount)  # fmt: skip
        if commodity[1].lower() != commodity[0]:
            pass  # the game adds Type_Localised only where it differs; the normaliser ignores it
        yield step(t + 5, "Cargo", Vessel="Ship", Count=amount)
        if own is not None and trip % 3 == 0:
            yield step(t + 6, "CarrierTradeOrder", CarrierID=own.market_id, CarrierType="FleetCarrier",
                       BlackMarket=False, Commodity=commodity[0], PurchaseOrder=5000 + trip,
                       Price=commodity[2] + 10)  # fmt: skip
        yield step(t + 20, "Undocked", StationName=carrier.callsign, StationType="FleetCarrier",
                   MarketID=carrier.market_id, Taxi=False, Multicrew=False)  # fmt: skip
        yield from noise(t + 21, t + 60, 8)
        yield step(t + 62, "SupercruiseExit", StarSystem=SYSTEM, SystemAddress=SYSTEM_ADDRESS, Body=site.name,
                   BodyType="Station")  # fmt: skip
        dock = t + 80
        yield step(dock, "Docked", **_station(site), Taxi=False, Multicrew=False,
                   LandingPads={"Small": 8, "Medium": 4, "Large": 4})  # fmt: skip
        yield _Step(dock + 1, who, next(seq), "depot", site=site_index, file=file)
        yield _Step(dock + 10, who, next(seq), "contribute", site=site_index, cargo=(commodity[0], amount),
                    file=file)  # fmt: skip
        yield _Step(dock + 10, who, next(seq), "depot", site=site_index, file=file)
        yield step(dock + 11, "Cargo", Vessel="Ship", Count=0)
        for offset in (16, 31):
            yield _Step(dock + offset, who, next(seq), "depot", site=site_index, file=file)
        yield from noise(dock + 2, dock + DOCKED_AT_SITE, 4)
        yield step(dock + DOCKED_AT_SITE, "Undocked", StationName=site.name,
                   StationType="SpaceConstructionDepot",
                   MarketID=site.market_id, Taxi=False, Multicrew=False)  # fmt: skip
        yield from noise(dock + DOCKED_AT_SITE + 1, dock + 150, 8)
        back = dock + 160
        yield step(back, "Docked", **_carrier_station(carrier), Taxi=False, Multicrew=False,
                   LandingPads={"Small": 4, "Medium": 4, "Large": 8})  # fmt: skip
        yield from noise(back + 1, back + 20, 3)
        t = back + 20 + rng.uniform(0, TRIP - 260)
        trip += 1
    yield step(t, "Shutdown")


def generate(
    commanders: int, game_seconds: float, *, seed: int = 8, sites: int | None = None
) -> SquadronJournals:
    """`commanders` commanders hauling for `game_seconds` of game time, all lines rendered."""
    rng = random.Random(seed)
    site_list = _sites(sites or max(1, commanders // 8))
    carriers = _carriers(commanders)
    names = [f"Soak Hauler {who:02d}" for who in range(commanders)]
    streams = [
        list(
            _commander_steps(who, names[who], site_list, carriers, game_seconds, random.Random(rng.random()))
        )
        for who in range(commanders)
    ]
    provided = {n: dict.fromkeys(s.required, 0) for n, s in enumerate(site_list)}
    out = [CommanderJournals(name, []) for name in names]
    for step in heapq.merge(*(sorted(s) for s in streams)):
        at = START + timedelta(seconds=step.at)
        journals = out[step.who]
        if step.event == "Fileheader":
            journals.files.append(JournalFile(f"Journal.{at.strftime('%Y-%m-%dT%H%M%S')}.01.log"))
        if step.event == "depot":
            text = line(
                at, "ColonisationConstructionDepot", **_depot(site_list[step.site], provided[step.site])
            )
        elif step.event == "contribute":
            assert step.cargo is not None
            symbol, amount = step.cargo
            provided[step.site][symbol] += amount
            localised = next(c[1] for c in COMMODITIES if c[0] == symbol)
            camel = "".join(part.title() for part in localised.split())
            text = line(at, "ColonisationContribution", MarketID=site_list[step.site].market_id,
                        Contributions=[{"Name": f"${camel}_name;", "Name_Localised": localised,
                                        "Amount": amount}])  # fmt: skip
        else:
            text = line(at, step.event, **step.fields)
        journals.files[-1].lines.append((step.at, text))
    return SquadronJournals(out, site_list, START)


def _depot(site: Site, provided: dict[str, int]) -> dict[str, Json]:
    required = sum(site.required.values())
    done = sum(min(provided[k], v) for k, v in site.required.items())
    resources: list[Json] = [
        {"Name": f"${k}_name;", "Name_Localised": next(c[1] for c in COMMODITIES if c[0] == k),
         "RequiredAmount": v, "ProvidedAmount": min(provided[k], v), "Payment": 1000 + len(k)}
        for k, v in sorted(site.required.items())
    ]  # fmt: skip
    return {"MarketID": site.market_id, "ConstructionProgress": Fixed(round(done / required, 6)),
            "ConstructionComplete": False, "ConstructionFailed": False,
            "ResourcesRequired": resources}  # fmt: skip
