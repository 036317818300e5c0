"""One guild's colony state: every projection, applied one event at a time, with change tracking."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain.carriers import (
    CarrierPlace,
    CarrierState,
    CarrierStats,
    Fuel,
    JumpPlan,
    Stock,
    StockLine,
    TradeOrder,
)
from bot.domain.claims import Beacon, ClaimMark, ClaimState
from bot.domain.commanders import (
    Cargo,
    CargoLine,
    CommanderState,
    Fid,
    Inventory,
    Ship,
    Uploader,
    Whereabouts,
)
from bot.domain.keys import Envelope, Key
from bot.domain.sites import (
    DEPOT_READINGS_SINCE,
    UNKNOWN_COMMANDER,
    Identity,
    LedgerEntry,
    SiteState,
    Snapshot,
    build_site_view,
)
from bot.views import SiteView
from wire import (
    BeaconDeployedEvent,
    CargoEvent,
    CarrierDepositFuelEvent,
    CarrierJumpCancelledEvent,
    CarrierJumpEvent,
    CarrierJumpRequestEvent,
    CarrierLocationEvent,
    CarrierStatsEvent,
    CarrierTradeOrderEvent,
    ConstructionCompleteEvent,
    ContributionEvent,
    DepotEvent,
    DockedEvent,
    FsdJumpEvent,
    LoadoutEvent,
    LocationEvent,
    MarketEvent,
    SystemClaimEvent,
    SystemClaimReleaseEvent,
    UndockedEvent,
)


@dataclass(slots=True)
class Changes:
    """What one batch changed, for the store to write and the notifier to announce."""

    sites: set[int] = field(default_factory=set)
    stations: set[int] = field(default_factory=set)
    ledger: list[LedgerEntry] = field(default_factory=list)
    commanders: set[str] = field(default_factory=set)
    carriers: set[int] = field(default_factory=set)
    claims: set[int] = field(default_factory=set)
    beacons: list[tuple[str, Beacon]] = field(default_factory=list)  # (event id, beacon)

    @property
    def empty(self) -> bool:
        return not (
            self.sites
            or self.stations
            or self.ledger
            or self.commanders
            or self.carriers
            or self.claims
            or self.beacons
        )


def _shown(identity: Identity) -> tuple[str | None, str | None, str | None, int | None]:
    return (identity.station_name, identity.system_name, identity.station_type, identity.system_address)


def _blank(text: str | None) -> str | None:
    return text or None  # the game writes "" for unknown station types (quirk 17)


class GuildState:
    def __init__(self, guild_id: int) -> None:
        self.guild_id = guild_id
        self.sites: dict[int, SiteState] = {}
        self.stations: dict[int, Identity] = {}
        self.commanders: dict[str, CommanderState] = {}
        self.carriers: dict[int, CarrierState] = {}
        self.claims: dict[int, ClaimState] = {}
        self.beacons: dict[str, Beacon] = {}
        self.events_stored = 0
        self._changes = Changes()
        self._views: dict[int, SiteView] = {}

    # --- reading -------------------------------------------------------------------------------

    def site_view(self, market_id: int) -> SiteView | None:
        site = self.sites.get(market_id)
        if site is None or not site.known:
            return None
        view = self._views.get(market_id)
        if view is None:
            view = build_site_view(site, self.stations.get(market_id))
            self._views[market_id] = view
        return view

    def site_views(self) -> list[SiteView]:
        views = [v for v in (self.site_view(m) for m in self.sites) if v is not None]
        views.sort(key=lambda v: (v.system_name or "", v.station_name or "", v.market_id))
        return views

    def shown_views(self) -> dict[int, SiteView]:
        """The site views computed so far (a copy): what was last shown, before a batch changes it."""
        return dict(self._views)

    def take_changes(self) -> Changes:
        changes, self._changes = self._changes, Changes()
        return changes

    def discard_changes(self) -> None:
        self._changes = Changes()

    # --- loading (from projections) --------------------------------------------------------------

    def site(self, market_id: int) -> SiteState:
        site = self.sites.get(market_id)
        if site is None:
            site = self.sites[market_id] = SiteState(market_id)
        return site

    def _site_changed(self, market_id: int) -> None:
        self._changes.sites.add(market_id)
        self._views.pop(market_id, None)

    # --- applying ------------------------------------------------------------------------------

    def apply(self, envelope: Envelope) -> None:
        event = envelope.event
        key = envelope.key
        if event.commander:
            self._see_commander(envelope, key)
        match event:
            case DepotEvent():
                self._depot(event, key)
            case ContributionEvent():
                self._contribution(event, key, envelope.user_id)
            case ConstructionCompleteEvent():
                market_id = event.market_id if event.market_id is not None else event.at_market_id
                if market_id is not None:
                    site = self.site(market_id)
                    site.mark_complete(key.ts)
                    site.touch(key.ts)
                    self._site_changed(market_id)
            case DockedEvent():
                self._identity(
                    event.market_id,
                    key,
                    event.station_name,
                    event.station_type,
                    event.system_name,
                    event.system_address,
                )
                if event.construction_site and key.ts >= DEPOT_READINGS_SINCE:
                    self._flag_site(event.market_id)
            case LocationEvent() | CarrierJumpEvent() if event.docked and event.market_id is not None:
                self._identity(
                    event.market_id,
                    key,
                    event.station_name,
                    event.station_type,
                    event.system_name,
                    event.system_address,
                )
                readable = key.ts >= DEPOT_READINGS_SINCE
                if isinstance(event, LocationEvent) and event.construction_site and readable:
                    self._flag_site(event.market_id)
            case MarketEvent():
                self._identity(
                    event.market_id, key, event.station_name, event.station_type, event.system_name, None
                )
                carrier = self._carrier(event.market_id)
                if carrier.stock is None or key > carrier.stock.key:
                    carrier.stock = Stock(
                        key,
                        tuple(StockLine(i.name, i.name_localised, i.stock, i.demand) for i in event.items),
                    )
            case SystemClaimEvent() | SystemClaimReleaseEvent():
                self._claim(event, key)
            case BeaconDeployedEvent():
                beacon = Beacon(
                    key,
                    event.commander or UNKNOWN_COMMANDER,
                    event.system_name or event.at_system,
                    event.system_address if event.system_address is not None else event.at_system_address,
                )
                if event.id not in self.beacons:
                    self.beacons[event.id] = beacon
                    self._changes.beacons.append((event.id, beacon))
            case CarrierStatsEvent():
                carrier = self._carrier(event.carrier_id)
                if carrier.stats is None or key > carrier.stats.key:
                    carrier.stats = CarrierStats(
                        key,
                        event.carrier_type,
                        event.callsign,
                        event.name,
                        event.docking_access,
                        event.cargo_used,
                        event.total_capacity,
                        event.free_space,
                    )
                if event.fuel_level is not None and (carrier.fuel is None or key > carrier.fuel.key):
                    carrier.fuel = Fuel(key, event.fuel_level)
            case CarrierDepositFuelEvent():
                carrier = self._carrier(event.carrier_id)
                if carrier.fuel is None or key > carrier.fuel.key:
                    carrier.fuel = Fuel(key, event.total)
            case CarrierLocationEvent():
                carrier = self._carrier(event.carrier_id)
                if carrier.place is None or key > carrier.place.key:
                    carrier.place = CarrierPlace(key, event.system_name, event.system_address, event.body_id)
            case CarrierJumpRequestEvent():
                carrier = self._carrier(event.carrier_id)
                if carrier.jump is None or key > carrier.jump.key:
                    carrier.jump = JumpPlan(key, event.system_name, event.body, event.departure_time)
            case CarrierJumpCancelledEvent():
                carrier = self._carrier(event.carrier_id)
                if carrier.jump is None or key > carrier.jump.key:
                    carrier.jump = JumpPlan(key, None, None, None)
            case CarrierTradeOrderEvent():
                carrier = self._carrier(event.carrier_id)
                current = carrier.orders.get(event.commodity)
                if current is None or key > current.key:
                    carrier.orders[event.commodity] = TradeOrder(
                        key,
                        event.commodity,
                        event.commodity_localised,
                        event.purchase_order,
                        event.sale_order,
                        event.price,
                        event.cancel_trade,
                    )
            case _:
                pass

    def _carrier(self, carrier_id: int) -> CarrierState:
        carrier = self.carriers.get(carrier_id)
        if carrier is None:
            carrier = self.carriers[carrier_id] = CarrierState(carrier_id)
        self._changes.carriers.add(carrier_id)
        return carrier

    def _identity(
        self,
        market_id: int,
        key: Key,
        station_name: str | None,
        station_type: str | None,
        system_name: str | None,
        system_address: int | None,
    ) -> None:
        # A sighting without a name and a system tells too little to replace a better one.
        if not station_name or not system_name:
            return
        station_type = _blank(station_type)
        old = self.stations.get(market_id)
        if old is None:
            new = Identity(
                key, station_name, system_name,
                key if station_type else None, station_type,
                key if system_address is not None else None, system_address,
            )  # fmt: skip
        else:
            main = key > old.key
            kind = station_type is not None and (old.type_key is None or key > old.type_key)
            where = system_address is not None and (old.address_key is None or key > old.address_key)
            if not (main or kind or where):
                return
            new = Identity(
                key if main else old.key,
                station_name if main else old.station_name,
                system_name if main else old.system_name,
                key if kind else old.type_key,
                station_type if kind else old.station_type,
                key if where else old.address_key,
                system_address if where else old.system_address,
            )
        self.stations[market_id] = new
        self._changes.stations.add(market_id)
        # Only what a view shows invalidates it; newer keys alone do not.
        if market_id in self.sites and (old is None or _shown(old) != _shown(new)):
            self._site_changed(market_id)

    def _flag_site(self, market_id: int) -> None:
        site = self.site(market_id)
        if not site.flagged:
            site.flagged = True
            self._site_changed(market_id)

    def _depot(self, event: DepotEvent, key: Key) -> None:
        site = self.site(event.market_id)
        changed = not site.known
        if event.complete:
            changed = site.mark_complete(key.ts) or changed
        current = site.snapshot
        if current is None or key > current.key:
            # The wire's resources are immutable and carry the same fields: kept as they are.
            site.snapshot = Snapshot(
                key, event.progress, event.complete, event.failed, tuple(event.resources)
            )
            changed = True
        site.touch(key.ts)
        if changed:
            self._site_changed(event.market_id)
        here = event.at_market_id == event.market_id
        self._identity(
            event.market_id,
            key,
            event.station_name or (event.at_station if here else None),
            event.station_type,
            event.system_name or (event.at_system if here else None),
            event.system_address
            if event.system_address is not None
            else (event.at_system_address if here else None),
        )

    def _contribution(self, event: ContributionEvent, key: Key, user_id: int) -> None:
        site = self.site(event.market_id)
        commander = event.commander or UNKNOWN_COMMANDER
        for index, item in enumerate(event.items):
            entry = LedgerEntry(
                key, index, event.market_id, commander, item.name, item.name_localised, item.amount, user_id
            )
            site.add_entry(entry)
            self._changes.ledger.append(entry)
        self._site_changed(event.market_id)
        if event.at_market_id == event.market_id:
            self._identity(
                event.market_id, key, event.at_station, None, event.at_system, event.at_system_address
            )

    def _claim(self, event: SystemClaimEvent | SystemClaimReleaseEvent, key: Key) -> None:
        claim = self.claims.get(event.system_address)
        if claim is None:
            claim = self.claims[event.system_address] = ClaimState(event.system_address, event.system_name)
        mark = ClaimMark(key, event.commander or UNKNOWN_COMMANDER)
        if isinstance(event, SystemClaimEvent):
            if claim.claimed is None or key > claim.claimed.key:
                claim.claimed = mark
                claim.system_name = event.system_name
        elif claim.released is None or key > claim.released.key:
            claim.released = mark
        self._changes.claims.add(event.system_address)

    def _see_commander(self, envelope: Envelope, key: Key) -> None:
        event = envelope.event
        name = event.commander
        assert name  # checked by the caller
        cmdr = self.commanders.get(name)
        if cmdr is None:
            cmdr = self.commanders[name] = CommanderState(name)
        changed = False
        if cmdr.last_seen is None or key.ts > cmdr.last_seen:
            cmdr.last_seen = key.ts
            changed = True
        if cmdr.uploader is None or key > cmdr.uploader.key:
            cmdr.uploader = Uploader(key, envelope.user_id, envelope.token_id)
            changed = True
        if event.fid and (cmdr.fid is None or key > cmdr.fid.key):
            cmdr.fid = Fid(key, event.fid)
            changed = True
        if cmdr.where is None or key > cmdr.where.key:
            where = _whereabouts(envelope, key)
            if where is not None:
                cmdr.where = where
                changed = True
        if isinstance(event, LoadoutEvent) and (cmdr.ship is None or key > cmdr.ship.key):
            cmdr.ship = Ship(key, event.ship, event.cargo_capacity)
            changed = True
        if isinstance(event, CargoEvent) and event.vessel == "Ship":
            if cmdr.cargo is None or key > cmdr.cargo.key:
                cmdr.cargo = Cargo(key, event.count)
                changed = True
            if event.inventory is not None and (cmdr.inventory is None or key > cmdr.inventory.key):
                # Mission cargo is the mission's: it cannot be handed in at a construction site,
                # so it is not counted as on its way there.
                cmdr.inventory = Inventory(
                    key,
                    tuple(
                        CargoLine(i.name, i.name_localised, i.count) for i in event.inventory if not i.mission
                    ),
                )
                changed = True
        if changed:
            self._changes.commanders.add(name)


def _whereabouts(envelope: Envelope, key: Key) -> Whereabouts | None:
    event = envelope.event
    match event:
        case DockedEvent():
            return Whereabouts(
                key, event.system_name, event.system_address, event.station_name, event.market_id
            )
        case LocationEvent() | CarrierJumpEvent():
            docked = event.docked
            return Whereabouts(
                key,
                event.system_name,
                event.system_address,
                event.station_name if docked else None,
                event.market_id if docked else None,
            )
        case FsdJumpEvent():
            return Whereabouts(key, event.system_name, event.system_address, None, None)
        case UndockedEvent():
            if event.at_system is None:
                return None
            return Whereabouts(key, event.at_system, event.at_system_address, None, None)
        case _:
            if event.at_system is None:
                return None
            return Whereabouts(
                key, event.at_system, event.at_system_address, event.at_station, event.at_market_id
            )
