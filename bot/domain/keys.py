"""The total order of events: game time first, then the journal file and offset, then the id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from wire import KnownEvent


class Key(NamedTuple):
    """Orders events the way DESIGN section 5 says: newest by game time wins, ties by (source, offset).

    The event id closes the order so that two uploads of different lines never compare equal.
    """

    ts: datetime
    source: str
    offset: int
    id: str


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def key_of(event: KnownEvent) -> Key:
    return Key(utc(event.timestamp), event.source, event.offset, event.id)


@dataclass(frozen=True, slots=True)
class Envelope:
    """A stored event with who uploaded it (the token's Discord user and the token's row id)."""

    event: KnownEvent
    user_id: int
    token_id: int

    @property
    def key(self) -> Key:
        return key_of(self.event)


def newer(candidate: Key, current: Key | None) -> bool:
    return current is None or candidate > current
