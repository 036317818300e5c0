"""Read models of squadron hauling: claims, the board, the plan, a commander's hauls, carriers.

What the read API returns as JSON (`model_dump(mode="json")`) and what the `/haul` embeds render.
Produced by `bot.domain.hauling` (pure) through `bot.services.hauling`. No I/O here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from bot.views import View

ClaimStatus = Literal["open", "covered", "released", "expired", "site_complete"]


class HaulClaimView(View):
    id: int
    market_id: int
    site_name: str | None
    system_name: str | None
    discord_user_id: str = Field(description="a Discord snowflake, as a string like Discord's API")
    commodity: str
    name_localised: str | None = None
    tonnes: int = Field(description="tonnes claimed")
    delivered: int = Field(description="delivered since the claim by the claimer's commanders")
    remaining: int = Field(description="tonnes - delivered, never negative")
    in_ships: int = Field(description="of the remaining, already in the claimer's holds")
    status: ClaimStatus
    created_at: datetime
    expires_at: datetime
    closed_at: datetime | None = None


class BoardLineView(View):
    """One commodity of one site: remaining = on_carriers + in_ships + claimed + open, always."""

    name: str
    name_localised: str | None = None
    remaining: int
    on_carriers: int = Field(description="on the site's linked carriers, not counted elsewhere")
    in_ships: int = Field(description="in the holds of commanders hauling for the site")
    claimed: int = Field(description="claimed and not yet loaded (a claimer's cargo is in in_ships)")
    open: int = Field(description="nobody brings it yet")
    to_load_on_carriers: int | None = Field(
        default=None, description="remaining minus what the linked carriers hold; None without a carrier"
    )
    surplus: int = Field(default=0, description="more on the way than the site still needs")


class RateView(View):
    window_hours: int
    tonnes: int
    per_hour: float
    eta: datetime | None = Field(description="done at this pace; None when the rate is zero")


class CargoView(View):
    commander: str
    name: str
    name_localised: str | None = None
    tonnes: int
    market_id: int | None = Field(description="the site this cargo counts toward, if any")
    system_name: str | None = Field(default=None, description="where the commander was last seen")
    station_name: str | None = Field(default=None, description="docked there, when docked")


class BoardView(View):
    market_id: int
    site_name: str | None
    system_name: str | None
    complete: bool
    remaining: int
    on_carriers: int
    in_ships: int
    claimed: int
    open: int
    capacity: int = Field(description="mean hold of the active haulers (794 t when none is known)")
    haulers: int = Field(description="active haulers (seen in the last 24 h with a known hold)")
    trips: int = Field(description="trips left for what is not yet in a ship")
    rates: list[RateView] = Field(description="3 h and 24 h delivery rates; empty before any delivery")
    carriers: list[int] = Field(description="linked carriers")
    lines: list[BoardLineView]
    claims: list[HaulClaimView]
    cargo: list[CargoView] = Field(default_factory=list, description="the holds counted in in_ships")


class CarrierStockLineView(View):
    name: str
    name_localised: str | None = None
    tonnes: int = Field(description="newest snapshot moved by the squadron's buys, sells and transfers")
    snapshot: int = Field(description="in the newest Market.json snapshot")
    gap: int = Field(
        default=0, description="newest snapshot minus the previous one moved forward: untracked moves"
    )


class CarrierStockView(View):
    carrier_id: int
    name: str | None
    callsign: str | None
    system_name: str | None
    snapshot_at: datetime | None
    previous_snapshot_at: datetime | None
    cargo_used: int | None = Field(description="SpaceUsage.Cargo from the owner's newest CarrierStats")
    sites: list[int]
    lines: list[CarrierStockLineView]


class PlanLineView(View):
    commander: str
    discord_user_id: str | None
    capacity: int
    commodity: str
    name_localised: str | None = None
    tonnes: int


class PlanView(View):
    market_id: int
    site_name: str | None
    lines: list[PlanLineView]
    unassigned: int = Field(description="open tonnes no active hauler is suggested for")
    already_claimed: list[str] = Field(description="Discord user ids with open claims here")


class MineView(View):
    discord_user_id: str
    commanders: list[str]
    hauling_for: int | None = Field(description="the site the caller is docked at or hauling for")
    claims: list[HaulClaimView]
    cargo: list[CargoView]
