"""Fleet carriers: identity, location, jump plans, trade orders, stock. Newest by game time wins."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.keys import Key


@dataclass(frozen=True, slots=True)
class CarrierStats:
    key: Key
    carrier_type: str | None
    callsign: str | None
    name: str | None
    docking_access: str | None
    cargo_used: int | None
    total_capacity: int | None
    free_space: int | None


@dataclass(frozen=True, slots=True)
class CarrierPlace:
    key: Key
    system_name: str
    system_address: int | None
    body_id: int | None


@dataclass(frozen=True, slots=True)
class JumpPlan:
    key: Key
    system_name: str | None  # None when the newest plan event is a cancellation
    body: str | None
    departure_time: datetime | None


@dataclass(frozen=True, slots=True)
class TradeOrder:
    key: Key
    commodity: str
    commodity_localised: str | None
    purchase: int | None
    sale: int | None
    price: int | None
    cancelled: bool


@dataclass(frozen=True, slots=True)
class StockLine:
    name: str
    name_localised: str | None
    stock: int
    demand: int


@dataclass(frozen=True, slots=True)
class Stock:
    key: Key
    items: tuple[StockLine, ...]


@dataclass(frozen=True, slots=True)
class Fuel:
    key: Key
    level: int


@dataclass(slots=True)
class CarrierState:
    carrier_id: int
    stats: CarrierStats | None = None
    place: CarrierPlace | None = None
    jump: JumpPlan | None = None
    stock: Stock | None = None
    fuel: Fuel | None = None
    orders: dict[str, TradeOrder] = field(default_factory=dict)

    def pending_jump(self) -> JumpPlan | None:
        """The plan still ahead: requested, not cancelled, not yet followed by an arrival."""
        plan = self.jump
        if plan is None or plan.system_name is None:
            return None
        if self.place is not None and self.place.key > plan.key:
            departure = plan.departure_time
            if departure is None or self.place.key.ts >= departure:
                return None
        return plan
