"""Read models the Discord face needs beyond `bot/views.py`: deliveries with their time (for
rates, ETAs and leaderboards) and fleet carriers. Same conventions as views.py (frozen, no extra
fields); they belong there, and move there once the core's query services produce them.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from bot.views import View


class DeliveredItem(View):
    commodity: str = Field(description="canonical, e.g. 'steel'")
    name_localised: str | None = None
    tonnes: int = Field(ge=0)


class DeliveryView(View):
    """One `ColonisationContribution`: one commander, one site, one moment, one or more commodities."""

    event_id: str
    commander: str
    market_id: int
    at: datetime
    items: list[DeliveredItem]

    @property
    def tonnes(self) -> int:
        return sum(item.tonnes for item in self.items)


class CarrierOrderView(View):
    commodity: str
    name_localised: str | None = None
    purchase: int | None = None
    sale: int | None = None
    price: int | None = None


class CarrierStockView(View):
    commodity: str
    name_localised: str | None = None
    stock: int


class CarrierView(View):
    carrier_id: int
    name: str | None = None
    callsign: str | None = None
    system_name: str | None = None
    updated_at: datetime | None = None
    jump_to: str | None = Field(default=None, description="system of a pending jump")
    jump_body: str | None = None
    jump_at: datetime | None = None
    orders: list[CarrierOrderView] = Field(default_factory=list)
    stock: list[CarrierStockView] = Field(default_factory=list)
