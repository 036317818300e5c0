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
