"""Cargo.json and Market.json, read when a journal line says they changed (the SideFiles protocol).

The game rewrites these files in place, so a read can catch them empty or half written
(journals/README quirk 28): such a read is retried. A file is trusted only when its own timestamp
matches the journal line's (quirk 29): during a backfill the files describe today, not the past.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from uploader.normalise.fields import opt_int, req_int, req_str
from uploader.normalise.names import canonical_commodity
from wire import CargoItem, MarketItem

logger = logging.getLogger(__name__)

CARGO_FILE = "Cargo.json"
MARKET_FILE = "Market.json"


# A side file whose content is not what the game writes (a wrong type is a BadLineError, a
# ValueError; an item that is not an object has no `.get`): ignored, with a warning.
_UNEXPECTED = (AttributeError, KeyError, TypeError, ValueError, ValidationError)


def _localised(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value and not value.startswith("$") else None


def _timestamp(document: dict[str, Any]) -> datetime | None:
    stamp = document.get("timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


class JournalSideFiles:
    """Reads the side files of one journal folder.

    `window`: how much newer than the journal line a side file may be and still describe it; a
    side file older than the line is retried only while the line is recent (the game may not have
    rewritten it yet), never during a backfill of old lines.
    """

    def __init__(
        self,
        folder: Path,
        *,
        attempts: int = 6,
        pause: float = 0.05,
        window: timedelta = timedelta(seconds=10),
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._folder = folder
        self._attempts = attempts
        self._pause = pause
        self._window = window
        self._sleep = sleep
        self._now = now
        # Per file, a moment it is known to describe or to come after (the game only rewrites it
        # with the present): an old line (a backfill's) earlier than that by more than the window
        # cannot match, and costs no read at all. Else a history of bare Cargo lines read (or
        # failed to open) the file once per line.
        self._floor: dict[str, datetime] = {}

    def cargo(
        self, event_time: datetime, *, count: int | None = None, vessel: str = "Ship"
    ) -> list[CargoItem] | None:
        """Cargo.json's inventory if it describes the line at `event_time`: same moment, same
        vessel, and (when given) the line's `count` (bare lines come every few seconds while the
        hold changes: a file rewritten for the next one must not be taken for this one)."""
        document = self._matching(
            CARGO_FILE,
            event_time,
            lambda d: d.get("Vessel", "Ship") == vessel and (count is None or d.get("Count") == count),
        )
        if document is None:
            return None
        inventory = document.get("Inventory")
        if not isinstance(inventory, list):
            return None
        try:
            return [
                CargoItem(
                    name=canonical_commodity(req_str(item, "Name")),
                    name_localised=_localised(item, "Name_Localised"),
                    count=req_int(item, "Count"),
                    stolen=(opt_int(item, "Stolen") or 0) > 0,  # how many of them are stolen
                    mission=item.get("MissionID") is not None,
                )
                for item in inventory
            ]
        except _UNEXPECTED as exc:
            logger.warning("ignoring %s: unexpected content (%s)", CARGO_FILE, str(exc).splitlines()[0])
            return None

    def market(self, market_id: int, event_time: datetime) -> list[MarketItem] | None:
        document = self._matching(MARKET_FILE, event_time, lambda d: d.get("MarketID") == market_id)
        if document is None:
            return None
        items = document.get("Items")
        if not isinstance(items, list):
            return None
        try:
            return [
                MarketItem(
                    name=canonical_commodity(req_str(item, "Name")),
                    name_localised=_localised(item, "Name_Localised"),
                    stock=opt_int(item, "Stock") or 0,
                    demand=opt_int(item, "Demand") or 0,
                    buy_price=opt_int(item, "BuyPrice") or 0,
                    sell_price=opt_int(item, "SellPrice") or 0,
                )
                for item in items
            ]
        except _UNEXPECTED as exc:
            logger.warning("ignoring %s: unexpected content (%s)", MARKET_FILE, str(exc).splitlines()[0])
            return None

    def _matching(
        self, name: str, event_time: datetime, belongs: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any] | None:
        """The side file's content when it describes the line at `event_time`, else None."""
        now = self._now()
        live = now - event_time < self._window
        floor = self._floor.get(name)
        if not live and floor is not None and floor > event_time + self._window:
            return None  # before the path is built: a backfill asks this for every bare Cargo
        path = self._folder / name
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(self._pause)
            document = self._read(path)
            if document is None:
                if not path.exists():
                    # Written from now on, it will describe now or later (less the window: the
                    # game's clock is this PC's, but be generous).
                    self._raise_floor(name, now - self._window)
                    return None
                continue  # caught mid-rewrite: read again
            stamp = _timestamp(document)
            if stamp is None:
                continue
            self._raise_floor(name, stamp)
            if stamp > event_time + self._window:
                return None  # describes a later moment than the line
            if stamp >= event_time and belongs(document):
                return document
            if not live:
                return None  # an old line: the file will not catch up
        return None

    def _raise_floor(self, name: str, moment: datetime) -> None:
        floor = self._floor.get(name)
        if floor is None or moment > floor:
            self._floor[name] = moment

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            document = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            return None
        return document if isinstance(document, dict) else None
