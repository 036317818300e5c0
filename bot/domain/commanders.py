"""Where each commander is, what they fly and carry: the newest sighting of each wins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.keys import Key


@dataclass(frozen=True, slots=True)
class Whereabouts:
    key: Key
    system_name: str | None
    system_address: int | None
    station_name: str | None
    market_id: int | None


@dataclass(frozen=True, slots=True)
class Uploader:
    key: Key
    user_id: int
    token_id: int


@dataclass(frozen=True, slots=True)
class Fid:
    key: Key
    fid: str


@dataclass(frozen=True, slots=True)
class Ship:
    key: Key
    ship: str
    cargo_capacity: int


@dataclass(frozen=True, slots=True)
class CargoLine:
    name: str
    name_localised: str | None
    count: int


@dataclass(frozen=True, slots=True)
class Cargo:
    key: Key
    count: int


@dataclass(frozen=True, slots=True)
class Inventory:
    key: Key
    items: tuple[CargoLine, ...]


@dataclass(slots=True)
class CommanderState:
    name: str
    uploader: Uploader | None = None
    fid: Fid | None = None
    where: Whereabouts | None = None
    ship: Ship | None = None
    cargo: Cargo | None = None
    inventory: Inventory | None = None
    last_seen: datetime | None = None
