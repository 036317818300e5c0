"""Read models: what the read API returns as JSON and what embeds, the console and the notifier
render. DESIGN.md section 4 fixes the site shape; fields beyond it are additions, never renames.

Produced by the services from the store and the pure domain code; consumed by the HTTP handlers
(`model_dump(mode="json")`) and the Discord layer. No I/O here.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class View(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CommodityView(View):
    name: str = Field(description="canonical, e.g. 'steel'")
    name_localised: str | None = None
    required: int
    provided: int = Field(description="from the newest depot snapshot, plus provisional deliveries")
    remaining: int
    payment: int = 0
    provisional: int = Field(default=0, description="delivered after the newest snapshot (ledger)")


class ContributionView(View):
    commander: str
    commodity: str
    tonnes: int


class UnattributedView(View):
    commodity: str
    tonnes: int = Field(description="provided per snapshots but not explained by any ledger entry")


class SiteView(View):
    market_id: int
    station_name: str | None
    station_type: str | None
    system_name: str | None
    system_address: int | None
    progress: float = Field(ge=0.0, le=1.0, description="provisional progress: snapshot + later deliveries")
    snapshot_progress: float | None = Field(default=None, description="progress of the newest snapshot")
    snapshot_at: datetime | None = Field(default=None, description="game time of the newest snapshot")
    complete: bool
    completed_at: datetime | None = Field(default=None, description="game time completion was first seen")
    failed: bool
    updated_at: datetime | None
    commodities: list[CommodityView]
    contributions: list[ContributionView]
    unattributed: list[UnattributedView] = Field(default_factory=list)

    @property
    def required_total(self) -> int:
        return sum(c.required for c in self.commodities)

    @property
    def remaining_total(self) -> int:
        return sum(c.remaining for c in self.commodities)


class CommodityTotalView(View):
    """One commodity across the sites still being built (optionally of one system)."""

    name: str
    name_localised: str | None = None
    required: int
    provided: int
    remaining: int
    sites_requiring: int = Field(description="sites still needing some of it")
    average_payment: float | None = Field(default=None, description="mean payment over sites requiring it")
    progress: float = Field(ge=0.0, le=1.0)


class SystemSummaryView(View):
    name: str
    address: int | None
    sites: int
    sites_done: int
    sites_in_progress: int
    completion: float = Field(ge=0.0, le=1.0, description="provided / required over the system's sites")


class SystemView(View):
    name: str
    address: int | None
    sites_done: int
    sites_in_progress: int
    completion: float = Field(ge=0.0, le=1.0)
    most_needed: CommodityTotalView | None = Field(description="largest remaining tonnage, sites in progress")
    commodities: list[CommodityTotalView]
    sites: list[SiteView]


class SystemMatchView(View):
    name: str
    score: float = Field(ge=0.0, le=1.0)
    summary: SystemSummaryView


class LeaderboardEntry(View):
    rank: int
    commander: str
    tonnes: int
    deliveries: int = Field(description="ledger lines: one commodity of one contribution")
    sites: int


class CargoLineView(View):
    name: str
    name_localised: str | None = None
    count: int


class CommanderView(View):
    name: str
    discord_user_id: str | None = Field(description="a Discord snowflake, as a string like Discord's API")
    last_seen: datetime | None
    system_name: str | None
    system_address: int | None
    station_name: str | None
    market_id: int | None
    ship: str | None
    cargo_capacity: int | None
    cargo_count: int | None
    cargo: list[CargoLineView]


class TradeOrderView(View):
    commodity: str
    commodity_localised: str | None
    purchase: int | None
    sale: int | None
    price: int | None


class CarrierView(View):
    carrier_id: int
    name: str | None
    callsign: str | None
    carrier_type: str | None
    docking_access: str | None
    system_name: str | None
    system_address: int | None
    jump_to: str | None = Field(description="pending jump destination, if any")
    jump_body: str | None
    departure_time: datetime | None
    fuel: int | None
    cargo_used: int | None
    total_capacity: int | None
    free_space: int | None
    orders: list[TradeOrderView]
    stock: list[CargoLineView]


class ClaimView(View):
    system_name: str
    system_address: int
    commander: str
    claimed_at: datetime


class StatsView(View):
    sites: int
    sites_done: int
    sites_in_progress: int
    systems: int
    commanders: int
    carriers: int
    claims_active: int
    events: int = Field(description="events stored for this guild")
    deliveries: int
    tonnes_delivered: int = Field(description="ledger total, every commander")
    tonnes_unattributed: int = Field(description="in snapshots but in no ledger entry")


class StatusView(View):
    """What `/colony status` shows: every system, the sites in progress, the most-needed goods."""

    systems: list[SystemSummaryView]
    sites_in_progress: list[SiteView]
    most_needed: list[CommodityTotalView]
    stats: StatsView
