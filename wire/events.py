"""Wire v1 events: one model per kind, discriminated by `kind`.

Every event carries the context the game leaves out of the journal line (the commander, the
system and station they are in, the MarketID they are docked at), so the bot never has to replay
one commander's journal to interpret a line. Only what the bot needs leaves the commander's PC:
no ship names, no credits, no text chat.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator
from pydantic_core import to_json

from wire._base import (
    Commodity,
    EventId,
    GameTime,
    Int64,
    MarketId,
    Name,
    OptName,
    SystemAddress,
    Tonnes,
    WireModel,
)

SourceName = Annotated[str, Field(min_length=1, max_length=128)]


class EventBase(WireModel):
    id: EventId = Field(description="Stable id: the same journal line always yields the same id.")
    timestamp: GameTime = Field(description="Game time of the journal line (UTC).")
    source: SourceName = Field(description="Journal file name the line came from.")
    offset: Int64 = Field(description="Byte offset of the line in its journal file (orders a file).")
    commander: OptName = Field(default=None, description="Commander name, when known.")
    fid: Annotated[str, Field(max_length=32)] | None = Field(default=None, description="Frontier ID.")
    at_system: OptName = Field(default=None, description="System the commander is in, when known.")
    at_system_address: SystemAddress | None = None
    at_station: OptName = Field(default=None, description="Station the commander is docked at.")
    at_market_id: MarketId | None = Field(default=None, description="MarketID docked at, when docked.")


# --- colonisation -------------------------------------------------------------------------------


class DepotResource(WireModel):
    name: Commodity
    name_localised: OptName = None
    required: Tonnes
    provided: Tonnes
    payment: Int64 = 0


class DepotEvent(EventBase):
    """A `ColonisationConstructionDepot` snapshot: the truth for required, provided and progress."""

    kind: Literal["depot"] = "depot"
    market_id: MarketId
    progress: Annotated[float, Field(ge=0.0, le=1.0)]
    complete: bool
    failed: bool
    resources: Annotated[list[DepotResource], Field(max_length=200)]
    # Known when the commander is docked at this very depot (quirk 22: not always the case).
    station_name: OptName = None
    station_type: OptName = None
    system_name: OptName = None
    system_address: SystemAddress | None = None


class ContributionItem(WireModel):
    name: Commodity
    name_localised: OptName = None
    amount: Tonnes


class ContributionEvent(EventBase):
    """A `ColonisationContribution`: this commander's own delivery."""

    kind: Literal["contribution"] = "contribution"
    market_id: MarketId
    items: Annotated[list[ContributionItem], Field(min_length=1, max_length=200)]


class SystemClaimEvent(EventBase):
    kind: Literal["system_claim"] = "system_claim"
    system_name: Name
    system_address: SystemAddress


class SystemClaimReleaseEvent(EventBase):
    kind: Literal["system_claim_release"] = "system_claim_release"
    system_name: Name
    system_address: SystemAddress


class BeaconDeployedEvent(EventBase):
    """The game writes no location; the system is the one the commander was last seen in."""

    kind: Literal["beacon_deployed"] = "beacon_deployed"
    system_name: OptName = None
    system_address: SystemAddress | None = None


class ConstructionCompleteEvent(EventBase):
    """`CompleteConstruction` (the game's event); the site is the one docked at, when known."""

    kind: Literal["construction_complete"] = "construction_complete"
    market_id: MarketId | None = None


# --- where the commander is ---------------------------------------------------------------------


class DockedEvent(EventBase):
    kind: Literal["docked"] = "docked"
    market_id: MarketId
    station_name: Name
    station_type: OptName = None
    system_name: Name
    system_address: SystemAddress | None = None
    construction_site: bool = Field(
        default=False, description="The station takes colonisation contributions."
    )


class UndockedEvent(EventBase):
    kind: Literal["undocked"] = "undocked"
    market_id: MarketId | None = None
    station_name: OptName = None


class LocationEvent(EventBase):
    kind: Literal["location"] = "location"
    system_name: Name
    system_address: SystemAddress | None = None
    docked: bool = False
    market_id: MarketId | None = None
    station_name: OptName = None
    station_type: OptName = None
    construction_site: bool = False


class FsdJumpEvent(EventBase):
    kind: Literal["fsd_jump"] = "fsd_jump"
    system_name: Name
    system_address: SystemAddress | None = None


class CarrierJumpEvent(EventBase):
    """The commander was aboard a carrier that jumped."""

    kind: Literal["carrier_jump"] = "carrier_jump"
    system_name: Name
    system_address: SystemAddress | None = None
    docked: bool = False
    market_id: MarketId | None = None
    station_name: OptName = None
    station_type: OptName = None


# --- who and what ship --------------------------------------------------------------------------


class CommanderEvent(EventBase):
    """From `Commander` and `LoadGame`: who this journal belongs to."""

    kind: Literal["commander"] = "commander"
    name: Name


class LoadoutEvent(EventBase):
    kind: Literal["loadout"] = "loadout"
    ship: Annotated[str, Field(max_length=64)]
    cargo_capacity: Tonnes


class CargoItem(WireModel):
    name: Commodity
    name_localised: OptName = None
    count: Tonnes
    stolen: bool = False
    mission: bool = False


class CargoEvent(EventBase):
    """What the ship carries. `inventory` is None when the game wrote a bare `Cargo` and the
    uploader could not read a matching Cargo.json."""

    kind: Literal["cargo"] = "cargo"
    vessel: Annotated[str, Field(max_length=32)] = "Ship"
    count: Tonnes
    inventory: Annotated[list[CargoItem], Field(max_length=500)] | None = None


class MarketBuyEvent(EventBase):
    kind: Literal["market_buy"] = "market_buy"
    market_id: MarketId
    commodity: Commodity
    commodity_localised: OptName = None
    count: Tonnes


class MarketSellEvent(EventBase):
    kind: Literal["market_sell"] = "market_sell"
    market_id: MarketId
    commodity: Commodity
    commodity_localised: OptName = None
    count: Tonnes


class CargoTransferItem(WireModel):
    commodity: Commodity
    commodity_localised: OptName = None
    count: Tonnes
    direction: Annotated[str, Field(max_length=32)] = Field(description="tocarrier, toship or tosrv")


class CargoTransferEvent(EventBase):
    """Cargo moved between ship and carrier; the carrier is `at_market_id`."""

    kind: Literal["cargo_transfer"] = "cargo_transfer"
    transfers: Annotated[list[CargoTransferItem], Field(min_length=1, max_length=200)]


class MarketItem(WireModel):
    name: Commodity
    name_localised: OptName = None
    stock: Tonnes
    demand: Tonnes
    buy_price: Int64 = 0
    sell_price: Int64 = 0


class MarketEvent(EventBase):
    """Market.json read while docked at a fleet carrier: the carrier's stock."""

    kind: Literal["market"] = "market"
    market_id: MarketId
    station_name: OptName = None
    station_type: OptName = None
    system_name: OptName = None
    items: Annotated[list[MarketItem], Field(max_length=1000)]


# --- fleet carriers -----------------------------------------------------------------------------

CarrierId = MarketId


class CarrierStatsEvent(EventBase):
    kind: Literal["carrier_stats"] = "carrier_stats"
    carrier_id: CarrierId
    carrier_type: OptName = None
    callsign: OptName = None
    name: OptName = None
    docking_access: OptName = None
    fuel_level: Int64 | None = None
    cargo_used: Tonnes | None = Field(default=None, description="SpaceUsage.Cargo")
    total_capacity: Tonnes | None = None
    free_space: Annotated[int, Field(ge=-10_000_000, le=10_000_000)] | None = None


class CarrierLocationEvent(EventBase):
    kind: Literal["carrier_location"] = "carrier_location"
    carrier_id: CarrierId
    carrier_type: OptName = None
    system_name: Name
    system_address: SystemAddress | None = None
    body_id: Int64 | None = None


class CarrierJumpRequestEvent(EventBase):
    kind: Literal["carrier_jump_request"] = "carrier_jump_request"
    carrier_id: CarrierId
    carrier_type: OptName = None
    system_name: Name
    system_address: SystemAddress | None = None
    body: OptName = None
    departure_time: GameTime | None = None


class CarrierJumpCancelledEvent(EventBase):
    kind: Literal["carrier_jump_cancelled"] = "carrier_jump_cancelled"
    carrier_id: CarrierId
    carrier_type: OptName = None


class CarrierTradeOrderEvent(EventBase):
    kind: Literal["carrier_trade_order"] = "carrier_trade_order"
    carrier_id: CarrierId
    carrier_type: OptName = None
    commodity: Commodity
    commodity_localised: OptName = None
    black_market: bool = False
    purchase_order: Tonnes | None = None
    sale_order: Tonnes | None = None
    cancel_trade: bool = False
    price: Int64 | None = None


class CarrierDepositFuelEvent(EventBase):
    kind: Literal["carrier_deposit_fuel"] = "carrier_deposit_fuel"
    carrier_id: CarrierId
    amount: Int64
    total: Int64


class ShutdownEvent(EventBase):
    kind: Literal["shutdown"] = "shutdown"


KnownEvent = Annotated[
    DepotEvent
    | ContributionEvent
    | SystemClaimEvent
    | SystemClaimReleaseEvent
    | BeaconDeployedEvent
    | ConstructionCompleteEvent
    | DockedEvent
    | UndockedEvent
    | LocationEvent
    | FsdJumpEvent
    | CarrierJumpEvent
    | CommanderEvent
    | LoadoutEvent
    | CargoEvent
    | MarketBuyEvent
    | MarketSellEvent
    | CargoTransferEvent
    | MarketEvent
    | CarrierStatsEvent
    | CarrierLocationEvent
    | CarrierJumpRequestEvent
    | CarrierJumpCancelledEvent
    | CarrierTradeOrderEvent
    | CarrierDepositFuelEvent
    | ShutdownEvent,
    Field(discriminator="kind"),
]

KNOWN_KINDS: frozenset[str] = frozenset(
    m.model_fields["kind"].default
    for m in (
        DepotEvent,
        ContributionEvent,
        SystemClaimEvent,
        SystemClaimReleaseEvent,
        BeaconDeployedEvent,
        ConstructionCompleteEvent,
        DockedEvent,
        UndockedEvent,
        LocationEvent,
        FsdJumpEvent,
        CarrierJumpEvent,
        CommanderEvent,
        LoadoutEvent,
        CargoEvent,
        MarketBuyEvent,
        MarketSellEvent,
        CargoTransferEvent,
        MarketEvent,
        CarrierStatsEvent,
        CarrierLocationEvent,
        CarrierJumpRequestEvent,
        CarrierJumpCancelledEvent,
        CarrierTradeOrderEvent,
        CarrierDepositFuelEvent,
        ShutdownEvent,
    )
)


def _not_a_known_kind() -> str:
    # A kind this version knows never falls back to UnknownEvent: an invalid known event must be
    # refused with its own errors, not kept as "unknown".
    return r"^(?!(?:" + "|".join(sorted(KNOWN_KINDS)) + r")$)[a-z0-9_]{1,64}$"


# What an event of a kind this version does not know may carry beside id, kind and timestamp: its
# fields are kept unread for good (the events table is append-only), so unbounded they would let
# one small gzip request store megabytes. A known kind's largest (`market`, 1,000 items) is 0.75 MB.
UNKNOWN_EVENT_MAX_BYTES = 1 << 20
UNKNOWN_EVENT_MAX_FIELDS = 256


class UnknownEvent(WireModel):
    """An event of a kind this version does not know (sent by a newer uploader): kept, not used."""

    # Python's `re` for the look-ahead in `kind`; only this model's fields use it.
    model_config = ConfigDict(extra="allow", frozen=True, regex_engine="python-re")

    id: EventId
    kind: Annotated[str, Field(pattern=_not_a_known_kind())]
    timestamp: GameTime

    @model_validator(mode="after")
    def _bounded(self) -> UnknownEvent:
        extra = self.model_extra or {}
        if len(extra) > UNKNOWN_EVENT_MAX_FIELDS:
            raise ValueError(f"an event of an unknown kind has at most {UNKNOWN_EVENT_MAX_FIELDS} fields")
        if len(to_json(extra)) > UNKNOWN_EVENT_MAX_BYTES:
            raise ValueError(f"an event of an unknown kind is at most {UNKNOWN_EVENT_MAX_BYTES} bytes")
        return self


def event_time(event: KnownEvent | UnknownEvent) -> datetime:
    return event.timestamp
