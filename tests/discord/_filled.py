"""A real store filled from the real journals, and the numbers read straight from those files.

The journals go through the uploader's own normaliser (in process) and the bot's intake service,
exactly what `colony-uploader` and `POST /api/v1/events` do minus the HTTP hop. The expected
numbers are read from the JSON lines with none of our code."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.services.bundle import Services
from uploader.journal.reader import split_lines
from uploader.normalise.normaliser import Normaliser
from wire import Batch
from wire.events import KnownEvent

GUILD = 4242
USER = 77
APRIL = "ed-journals/Journal.2025-04-08T215854.01.log"


@dataclass
class Journal:
    """What one journal file says: newest depot per site, deliveries, the last timestamp."""

    depot: dict[int, dict[str, Any]] = field(default_factory=dict)
    delivered: dict[int, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    items: dict[int, int] = field(default_factory=lambda: defaultdict(int))  # ledger lines per site
    commander: str = ""
    last: datetime | None = None

    @classmethod
    def read(cls, path: Path) -> Journal:
        found = cls()
        for raw in path.read_bytes().splitlines():
            raw = raw.lstrip(b"\x00").strip()
            if not raw:
                continue
            line = json.loads(raw)
            found.last = datetime.fromisoformat(line["timestamp"])
            if line["event"] == "Commander":
                found.commander = line["Name"]
            elif line["event"] == "ColonisationConstructionDepot":
                found.depot[line["MarketID"]] = line
            elif line["event"] == "ColonisationContribution":
                for item in line["Contributions"]:
                    name = item["Name"].lower().removeprefix("$").removesuffix("_name;")
                    found.delivered[line["MarketID"]][name] += item["Amount"]
                    found.items[line["MarketID"]] += 1
        return found


def normalised(path: Path) -> list[KnownEvent]:
    data = path.read_bytes()
    data += b"" if data.endswith(b"\n") else b"\n"  # the sample was saved without a final newline
    return Normaliser().feed(path.name, "fingerprint", split_lines(data, 0))


async def fill(services: Services, path: Path) -> None:
    """Every event of `path`, through the normaliser and the intake, as guild GUILD's user USER."""
    _, record = await services.tokens.issue(GUILD, USER, "test")
    events = normalised(path)
    for start in range(0, len(events), 1000):
        batch = Batch(
            batch_id=f"b{start}",
            uploader_version="test",
            platform="test",
            events=events[start : start + 1000],
        )
        await services.intake.submit(record, batch)
