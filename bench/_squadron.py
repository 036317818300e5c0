"""Real-shaped wire events for the bot's benchmarks: commanders hauling between a carrier and sites.

Each commander's stream follows the rhythm of the real April-2025 journal: dock at the carrier, buy,
cargo, undock, jump, dock at the site, a depot snapshot (19 commodities, as the real primary port),
a contribution, the snapshot after it, cargo, undock; plus a kind this bot does not know, as a
newer uploader would send. Depot numbers grow with the deliveries, as the game's do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

COMMODITIES = (
    "aluminium", "ceramiccomposites", "cmmcomposite", "computercomponents", "copper", "emergencypowercells",
    "evacuationshelter", "foodcartridges", "fruitandvegetables", "insulatingmembrane", "liquidoxygen",
    "medicaldiagnosticequipment", "nonlethalweapons", "polymers", "powergenerators", "semiconductors",
    "steel", "superconductors", "titanium",
)  # fmt: skip
START = datetime(2025, 4, 8, 20, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Site:
    market_id: int
    name: str
    system: str
    system_address: int


def squadron_sites(guild: int, count: int) -> list[Site]:
    return [
        Site(
            3_950_000_000 + guild * 1000 + n,
            f"Orbital Construction Site: Bench {guild}-{n}",
            f"Bench Sector {guild}-{n // 3}",
            1_000_000 + guild * 100 + n // 3,
        )
        for n in range(count)
    ]


@dataclass
class Commander:
    name: str
    source: str
    sites: list[Site]
    provided: dict[tuple[int, str], int] = field(default_factory=dict)
    offset: int = 0
    clock: datetime = START
    trip: int = 0

    def _base(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.offset += 180
        self.clock += timedelta(seconds=7)
        ident = hashlib.blake2b(f"{self.source}:{self.offset}".encode(), digest_size=16).hexdigest()
        return {
            "kind": kind, "id": ident, "timestamp": self.clock.isoformat().replace("+00:00", "Z"),
            "source": self.source, "offset": self.offset, "commander": self.name, "fid": "F" + self.name[-6:],
        } | fields  # fmt: skip

    def _depot(self, site: Site) -> dict[str, Any]:
        resources = []
        required_total = provided_total = 0
        for index, name in enumerate(COMMODITIES):
            required = 2000 + 500 * index
            provided = min(required, self.provided.get((site.market_id, name), 0))
            required_total += required
            provided_total += provided
            resources.append(
                {"name": name, "name_localised": name.title(), "required": required, "provided": provided,
                 "payment": 3000 + index}
            )  # fmt: skip
        return self._base(
            "depot", market_id=site.market_id, progress=round(provided_total / required_total, 6),
            complete=False, failed=False, resources=resources, at_market_id=site.market_id,
            at_station=site.name, at_system=site.system, at_system_address=site.system_address,
        )  # fmt: skip

    def trip_events(self) -> list[dict[str, Any]]:
        site = self.sites[self.trip % len(self.sites)]
        commodity = COMMODITIES[self.trip % len(COMMODITIES)]
        self.trip += 1
        carrier = 3_700_000_000 + hash(self.name) % 1000
        amount = 700 + self.trip % 90
        here = {"at_system": site.system, "at_system_address": site.system_address}
        events = [
            self._base("docked", market_id=carrier, station_name="H5L-69X", station_type="FleetCarrier",
                       system_name=site.system, system_address=site.system_address, **here),
            self._base("market_buy", market_id=carrier, commodity=commodity, count=amount, **here),
            self._base("cargo", count=amount, inventory=[{"name": commodity, "count": amount}], **here),
            self._base("undocked", market_id=carrier, station_name="H5L-69X", **here),
            self._base("docked", market_id=site.market_id, station_name=site.name,
                       station_type="SpaceConstructionDepot", system_name=site.system,
                       system_address=site.system_address, construction_site=True, **here),
            self._depot(site),
            self._base("contribution", market_id=site.market_id, at_market_id=site.market_id,
                       items=[{"name": commodity, "name_localised": commodity.title(), "amount": amount}],
                       **here),
        ]  # fmt: skip
        key = (site.market_id, commodity)
        self.provided[key] = self.provided.get(key, 0) + amount
        events += [
            self._depot(site),
            self._base("cargo", count=0, inventory=[], **here),
            self._base("undocked", market_id=site.market_id, station_name=site.name, **here),
            self._base("fsd_jump", system_name=site.system, system_address=site.system_address),
        ]  # only kinds the uploader sends: a cheap kind the bot ignores would flatter events/s
        return events

    def events(self) -> Iterator[dict[str, Any]]:
        while True:
            yield from self.trip_events()


def batch(events: list[dict[str, Any]], batch_id: str) -> dict[str, Any]:
    return {"schema_version": 1, "batch_id": batch_id, "uploader_version": "bench", "platform": "linux",
            "events": events}  # fmt: skip
