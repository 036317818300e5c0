"""End to end on real parts: the real uploader (tailer, normaliser, outbox, sender) posting the real
journals of ../shared/journals over HTTP to the real server on a loopback port, into a real SQLite
file. The resulting sites are checked against numbers read straight from the journal files."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.bot._helpers import Bot
from uploader.runner import Runner
from uploader.settings import Settings as UploaderSettings

pytestmark = pytest.mark.samples


def canonical(symbol: str) -> str:
    name = symbol.lower()
    name = name.removeprefix("$")
    return name.removesuffix("_name;")


@dataclass
class Expected:
    """What the journal lines say, read without any of our code."""

    depot: dict[int, dict[str, Any]] = field(default_factory=dict)  # newest depot line per MarketID
    complete: set[int] = field(default_factory=set)
    completed_at: dict[int, str] = field(default_factory=dict)  # the first complete depot line's time
    ledger: dict[int, dict[tuple[str, str], int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    names: dict[int, str] = field(default_factory=dict)  # newest station name per MarketID
    commander: str | None = None  # carried over: an excerpt continues the previous file

    def read(self, path: Path) -> None:
        commander = self.commander
        for raw in path.read_bytes().splitlines():
            raw = raw.lstrip(b"\x00").strip()
            if not raw:
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            event = line.get("event")
            if event == "Commander":
                commander = self.commander = line["Name"]
            elif event == "ColonisationConstructionDepot":
                market = line["MarketID"]
                old = self.depot.get(market)
                if old is None or line["timestamp"] >= old["timestamp"]:
                    self.depot[market] = line
                if line["ConstructionComplete"]:
                    self.complete.add(market)
                    if line["timestamp"] < self.completed_at.get(market, "~"):
                        self.completed_at[market] = line["timestamp"]
            elif event == "ColonisationContribution":
                assert commander is not None
                for item in line["Contributions"]:
                    self.ledger[line["MarketID"]][(commander, canonical(item["Name"]))] += item["Amount"]
            elif event in ("Docked", "Location") and line.get("MarketID") and line.get("StationName"):
                self.names[line["MarketID"]] = line.get("StationName_Localised") or line["StationName"]


async def _upload(bot: Bot, token: str, journals: list[Path], tmp: Path) -> None:
    folder = tmp / "journals"
    folder.mkdir(parents=True)
    for path in journals:
        # Excerpts get back the journal name they were cut from, so the uploader picks them up.
        name = path.name.split("_lines")[0].removeprefix("excerpt_").removesuffix(".log") + ".log"
        shutil.copy(path, folder / name)
    settings = UploaderSettings(
        url=str(bot.client.make_url("")).rstrip("/"),
        token=token,
        journal_dir=folder,
        state_dir=tmp / "state",
        config_file=tmp / "none.toml",
        backoff_base=0.05,
        backoff_cap=0.2,
        _env_file=None,  # type: ignore[call-arg]
    )
    message = await asyncio.wait_for(Runner(settings, folder).run(asyncio.Event(), backfill=True), 120)
    assert message.startswith("backfill complete")


async def test_real_uploader_posting_real_journals(bot_api: Bot, samples: Path, tmp_path: Path) -> None:
    eds = samples / "ed-journals"
    test_files = [
        eds / "Journal.2025-04-08T215854.01.log",
        eds / "excerpt_Journal.2025-04-11T181749.01_lines610-845_completion.log",
    ]
    vlad_files = [eds / "Journal.2025-06-20T213114.01.log"]
    test_token = await bot_api.token(user=1, label="TEST")
    vlad_token = await bot_api.token(user=2, label="VLADHC")
    # Both commanders upload at once, as a squadron would.
    await asyncio.gather(
        _upload(bot_api, test_token, test_files, tmp_path / "test"),
        _upload(bot_api, vlad_token, vlad_files, tmp_path / "vlad"),
    )
    expected = Expected()
    for path in test_files + vlad_files:
        expected.read(path)

    _, body = await bot_api.get(test_token, "/api/v1/sites")
    sites = {s["market_id"]: s for s in body["sites"]}
    assert set(sites) == set(expected.depot)
    for market, line in expected.depot.items():
        site = sites[market]
        want = {
            canonical(r["Name"]): (r["RequiredAmount"], r["ProvidedAmount"], r["Payment"])
            for r in line["ResourcesRequired"]
        }
        got = {
            c["name"]: (c["required"], c["provided"] - c["provisional"], c["payment"])
            for c in site["commodities"]
        }
        assert got == want, market
        assert site["snapshot_progress"] == pytest.approx(line["ConstructionProgress"])
        assert site["complete"] is (market in expected.complete)
        # When it was finished, not the newest of the finished depot lines the game keeps writing.
        finished = expected.completed_at.get(market)
        assert site["completed_at"] == finished, market
        ledger = {(c["commander"], c["commodity"]): c["tonnes"] for c in site["contributions"]}
        assert ledger == dict(expected.ledger.get(market, {})), market
        if market in expected.names:
            assert site["station_name"] == expected.names[market]
        for c in site["commodities"]:  # never more than required, never a tonne twice
            assert c["provided"] <= c["required"]

    # The April site: 13 contributions of titanium by TEST, and the site completed on the 11th.
    april = sites[3958981890]
    assert april["complete"] is True
    assert april["system_name"] is not None
    assert sum(c["tonnes"] for c in april["contributions"]) == sum(expected.ledger[3958981890].values())
    _, board = await bot_api.get(vlad_token, "/api/v1/leaderboard")
    assert [e["commander"] for e in board["entries"]] == ["TEST"]
    _, cmdrs = await bot_api.get(test_token, "/api/v1/commanders")
    assert {c["name"]: c["discord_user_id"] for c in cmdrs["commanders"]} == {"TEST": "1", "VLADHC": "2"}
