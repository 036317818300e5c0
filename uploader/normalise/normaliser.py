"""The stateful normaliser: journal lines in file order in, wire events out.

INTERFACE STUB: the signatures below are the contract other modules code against; the body is
being written (issue 2).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from uploader.journal.reader import RawLine
from wire import CargoItem, KnownEvent, MarketItem


class SideFiles(Protocol):
    """Reads Cargo.json / Market.json for a live event; None when the file does not match it."""

    def cargo(self, event_time: datetime) -> list[CargoItem] | None: ...

    def market(self, market_id: int, event_time: datetime) -> list[MarketItem] | None: ...


class NormaliserState(BaseModel):
    """Everything the normaliser carries from line to line (and file to file).

    Persisted by the outbox in the same transaction as the file offsets, so a restart resumes
    with exactly the context it had.
    """

    model_config = ConfigDict(extra="forbid")


class NormaliserStats(BaseModel):
    lines: int = 0
    invalid: int = 0  # not JSON, not an object, no event name: skipped with a logged reason
    events: int = 0


class Normaliser:
    def __init__(self, state: NormaliserState | None = None, side_files: SideFiles | None = None) -> None:
        raise NotImplementedError

    @property
    def state(self) -> NormaliserState:
        """A snapshot of the current state, to persist beside the offset."""
        raise NotImplementedError

    @property
    def stats(self) -> NormaliserStats:
        raise NotImplementedError

    def feed(self, source: str, fingerprint: str, lines: Iterable[RawLine]) -> list[KnownEvent]:
        """Normalise the lines of journal file `source` (whose fingerprint seeds the event ids)."""
        raise NotImplementedError
