"""System claims and architect beacons."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.keys import Key


@dataclass(frozen=True, slots=True)
class ClaimMark:
    key: Key
    commander: str


@dataclass(slots=True)
class ClaimState:
    system_address: int
    system_name: str
    claimed: ClaimMark | None = None
    released: ClaimMark | None = None

    @property
    def active(self) -> bool:
        return self.claimed is not None and (self.released is None or self.claimed.key > self.released.key)


@dataclass(frozen=True, slots=True)
class Beacon:
    key: Key
    commander: str
    system_name: str | None
    system_address: int | None
