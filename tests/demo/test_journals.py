"""The demo's journal generator writes the game's format with numbers that add up."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.demo.journals import COMMANDERS, SITES, Journals, generate

START = datetime(2026, 5, 1, 11, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def journals() -> Journals:
    return generate(START)


def events(journals: Journals) -> list[tuple[str, dict[str, Any]]]:
    return [(jl.commander, json.loads(jl.text)) for jl in journals.lines]


def test_files_are_written_in_the_games_layout(journals: Journals, tmp_path: Path) -> None:
    journals.write_all(tmp_path)
    for commander in COMMANDERS:
        folder = journals.folder(tmp_path, commander.name)
        (path,) = folder.iterdir()
        assert path.name.startswith("Journal.2026-05-01T")
        assert path.name.endswith(".01.log")
        raw = path.read_bytes()
        assert raw.endswith(b" }\r\n")
        lines = raw.split(b"\r\n")[:-1]
        assert all(b"\n" not in line for line in lines)
        assert all(line.startswith(b'{ "timestamp":"2026-05-01T') for line in lines)
        first = json.loads(lines[0])
        assert first["event"] == "Fileheader"
        assert first["part"] == 1
        parsed = [json.loads(line) for line in lines]
        assert [p["event"] for p in parsed[1:3]] == ["Commander", "LoadGame"]
        assert any(p["event"] == "Music" for p in parsed)
        # Floats the way the game writes them.
        assert b'"ConstructionProgress":0.' in raw or b'"ConstructionProgress":1.000000' in raw


def test_every_depot_snapshot_adds_up(journals: Journals) -> None:
    for _, event in events(journals):
        if event["event"] != "ColonisationConstructionDepot":
            continue
        resources = event["ResourcesRequired"]
        names = [r["Name"] for r in resources]
        assert names == sorted(names)
        assert all(n.startswith("$") and n.endswith("_name;") and n == n.lower() for n in names)
        required = sum(r["RequiredAmount"] for r in resources)
        provided = sum(r["ProvidedAmount"] for r in resources)
        assert event["ConstructionProgress"] == round(provided / required, 6)
        done = all(r["ProvidedAmount"] >= r["RequiredAmount"] for r in resources)
        assert event["ConstructionComplete"] == done


def test_contributions_move_the_next_snapshot_by_exactly_their_tonnes(journals: Journals) -> None:
    last: dict[int, dict[str, int]] = {
        s.market_id: {f"${k}_name;": v for k, v in s.provided.items()} for s in SITES
    }
    pending: dict[int, dict[str, int]] = {}
    contributions = 0
    for _, event in events(journals):
        if event["event"] == "ColonisationContribution":
            contributions += 1
            for item in event["Contributions"]:
                assert item["Name"] != item["Name"].lower()  # CamelCase, unlike the depot (quirk 13)
                key = item["Name"].lower()
                bucket = pending.setdefault(event["MarketID"], {})
                bucket[key] = bucket.get(key, 0) + item["Amount"]
        elif event["event"] == "ColonisationConstructionDepot":
            market = event["MarketID"]
            now = {r["Name"]: r["ProvidedAmount"] for r in event["ResourcesRequired"]}
            expected = dict(last[market])
            for key, amount in pending.pop(market, {}).items():
                expected[key] += amount
            assert now == expected
            last[market] = now
    assert contributions == sum(c.trips for c in COMMANDERS)
    assert {m: {k[1:-6]: v for k, v in p.items()} for m, p in last.items()} == journals.final


def test_the_planetary_site_completes_and_the_orbital_one_crosses_75_percent(journals: Journals) -> None:
    orbital, planetary = SITES
    final = journals.final
    assert final[planetary.market_id] == planetary.required
    before = sum(orbital.provided.values()) / sum(orbital.required.values())
    after = sum(final[orbital.market_id].values()) / sum(orbital.required.values())
    assert before < 0.75 < after < 1.0


def test_snapshots_come_every_15_seconds_while_docked_at_a_site(journals: Journals) -> None:
    docked_at: dict[str, int | None] = {}
    last_depot: dict[str, datetime] = {}
    site_ids = {s.market_id for s in SITES}
    for commander, event in events(journals):
        at = datetime.fromisoformat(event["timestamp"])
        if event["event"] == "Docked":
            docked_at[commander] = event["MarketID"]
            last_depot[commander] = at
        elif event["event"] == "Undocked":
            docked_at[commander] = None
        elif event["event"] == "ColonisationConstructionDepot":
            assert docked_at[commander] == event["MarketID"] in site_ids
            assert at - last_depot[commander] <= timedelta(seconds=15)
            last_depot[commander] = at


def test_each_commander_buys_what_they_hand_in(journals: Journals) -> None:
    bought: dict[str, dict[str, int]] = {}
    for commander, event in events(journals):
        if event["event"] == "MarketBuy":
            hold = bought.setdefault(commander, {})
            hold[event["Type"]] = hold.get(event["Type"], 0) + event["Count"]
        elif event["event"] == "ColonisationContribution":
            handed = {i["Name"][1:-6].lower(): i["Amount"] for i in event["Contributions"]}
            assert handed == bought.pop(commander)
    capacity = {c.name: c.capacity for c in COMMANDERS}
    for commander, event in events(journals):
        if event["event"] == "Cargo":
            assert 0 <= event["Count"] <= capacity[commander]


def test_the_real_uploader_normaliser_reads_every_line(journals: Journals, tmp_path: Path) -> None:
    """Cross-check with the consumer of these files (the bot itself never imports the uploader)."""
    normaliser_mod = pytest.importorskip("uploader.normalise.normaliser")
    reader = pytest.importorskip("uploader.journal.reader")
    journals.write_all(tmp_path)
    kinds: dict[str, int] = {}
    for commander in COMMANDERS:
        (path,) = journals.folder(tmp_path, commander.name).iterdir()
        normaliser = normaliser_mod.Normaliser()
        out = normaliser.feed(path.name, "fp", reader.split_lines(path.read_bytes(), 0))
        assert normaliser.stats.invalid == 0
        assert {e.commander for e in out if e.commander} == {commander.name}
        for e in out:
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
    assert kinds["contribution"] == sum(c.trips for c in COMMANDERS)
    assert kinds["docked"] > 0
    assert kinds["depot"] > kinds["contribution"]
