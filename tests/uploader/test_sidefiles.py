"""Cargo.json / Market.json: matched by timestamp, retried when caught mid-rewrite."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from uploader.sidefiles import JournalSideFiles

pytestmark = pytest.mark.uploader_only

CARGO_TIME = datetime(2024, 5, 16, 16, 38, 15, tzinfo=UTC)  # the sample Cargo.json's timestamp
MARKET_TIME = datetime(2024, 5, 8, 21, 25, 12, tzinfo=UTC)


@pytest.fixture
def folder(samples: Path, tmp_path: Path) -> Path:
    for name in ("Cargo.json", "Market.json"):
        shutil.copyfile(samples / "ed-journals" / "sidefiles" / name, tmp_path / name)
    return tmp_path


def _side(folder: Path, now: datetime, sleeps: list[float] | None = None) -> JournalSideFiles:
    record = sleeps if sleeps is not None else []
    return JournalSideFiles(folder, sleep=record.append, now=lambda: now)


def test_real_cargo_json_matches_its_event(folder: Path) -> None:
    items = _side(folder, CARGO_TIME).cargo(CARGO_TIME)
    assert items is not None
    assert [(i.name, i.count, i.stolen) for i in items] == [("scrap", 1, False), ("biowaste", 3, False)]


def test_cargo_json_describing_a_later_moment_is_not_used(folder: Path) -> None:
    sleeps: list[float] = []
    side = _side(folder, CARGO_TIME + timedelta(days=400), sleeps)
    assert side.cargo(CARGO_TIME - timedelta(hours=1)) is None
    assert sleeps == []  # an old line during a backfill: no waiting


def test_cargo_json_not_yet_rewritten_is_retried_while_live(folder: Path) -> None:
    event_time = CARGO_TIME + timedelta(seconds=1)
    sleeps: list[float] = []
    side = _side(folder, event_time, sleeps)
    assert side.cargo(event_time) is None  # the game never caught up
    assert len(sleeps) == 5


def test_a_read_caught_mid_rewrite_is_retried(folder: Path) -> None:
    whole = (folder / "Cargo.json").read_bytes()
    (folder / "Cargo.json").write_bytes(whole[:40])  # half written
    sleeps: list[float] = []

    def finish_rewrite(seconds: float) -> None:
        sleeps.append(seconds)
        (folder / "Cargo.json").write_bytes(whole)

    side = JournalSideFiles(folder, sleep=finish_rewrite, now=lambda: CARGO_TIME)
    items = side.cargo(CARGO_TIME)
    assert items is not None
    assert len(items) == 2
    assert len(sleeps) == 1


def test_real_market_json_for_the_carrier(folder: Path) -> None:
    side = _side(folder, MARKET_TIME)
    items = side.market(3702668288, MARKET_TIME)
    assert items is not None
    meta = next(i for i in items if i.name == "metaalloys")
    assert (meta.name_localised, meta.stock, meta.buy_price) == ("Meta-Alloys", 448, 9998677)
    assert side.market(1234, MARKET_TIME - timedelta(days=30)) is None  # another market


def test_missing_or_strange_files_give_none(tmp_path: Path) -> None:
    side = _side(tmp_path, CARGO_TIME)
    assert side.cargo(CARGO_TIME) is None
    (tmp_path / "Cargo.json").write_text(json.dumps({"timestamp": CARGO_TIME.isoformat(), "Inventory": [
        {"Name": "steel", "Count": -3}]}), encoding="utf-8")
    assert side.cargo(CARGO_TIME) is None


def _counting(side: JournalSideFiles, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    reads: list[Path] = []
    real = JournalSideFiles._read

    def read(path: Path) -> dict[str, object] | None:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(side, "_read", read)
    return reads


def test_a_backfills_old_lines_read_a_newer_side_file_once(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    side = _side(folder, CARGO_TIME + timedelta(days=400))
    reads = _counting(side, monkeypatch)
    history = [CARGO_TIME - timedelta(hours=h) for h in range(50, 0, -1)]
    assert all(side.cargo(t) is None for t in history)
    assert reads == [folder / "Cargo.json"]  # it describes a later moment than all of them
    # A line from the moment the file describes still gets it (the floor only skips older ones).
    items = side.cargo(CARGO_TIME)
    assert items is not None
    assert [i.name for i in items] == ["scrap", "biowaste"]
    # Market.json has its own floor: a different file, read once for its own old lines.
    assert side.market(3223343616, MARKET_TIME - timedelta(hours=1)) is None
    assert side.market(3223343616, MARKET_TIME - timedelta(hours=2)) is None
    assert reads.count(folder / "Market.json") == 1


def test_a_missing_side_file_is_looked_for_once_by_old_lines_and_always_by_live_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = CARGO_TIME + timedelta(days=1)
    side = _side(tmp_path, now)
    reads = _counting(side, monkeypatch)
    for hours in range(30, 0, -1):
        assert side.cargo(now - timedelta(hours=hours)) is None
    assert len(reads) == 1
    # Written now, it describes now: a live line finds it (old lines still cannot match it).
    (tmp_path / "Cargo.json").write_text(json.dumps(
        {"timestamp": now.isoformat().replace("+00:00", "Z"), "Vessel": "Ship", "Count": 2,
         "Inventory": [{"Name": "steel", "Count": 2, "Stolen": 0}]}
    ))  # fmt: skip
    live = side.cargo(now)
    assert live is not None
    assert [(i.name, i.count) for i in live] == [("steel", 2)]
    assert side.cargo(now - timedelta(hours=3)) is None
    assert len(reads) == 2  # the live line's read only


def test_a_cargo_json_of_another_count_or_vessel_is_not_this_lines(tmp_path: Path) -> None:
    """Journals README quirk 29: bare Cargo lines come every few seconds while the hold changes;
    a Cargo.json rewritten for the next line (or the SRV's) must not be attached to this one."""
    t0 = datetime(2025, 3, 1, 17, 34, 44, tzinfo=UTC)
    (tmp_path / "Cargo.json").write_text(json.dumps({
        "timestamp": "2025-03-01T17:34:46Z", "event": "Cargo", "Vessel": "Ship", "Count": 669,
        "Inventory": [{"Name": "steel", "Count": 669, "Stolen": 0}]}), encoding="utf-8")  # fmt: skip
    side = JournalSideFiles(tmp_path, now=lambda: t0 + timedelta(seconds=3), sleep=lambda _s: None)
    assert side.cargo(t0, count=670) is None  # written for the next line (669 t), 2 s later
    items = side.cargo(t0 + timedelta(seconds=2), count=669)
    assert items is not None
    assert [(i.name, i.count) for i in items] == [("steel", 669)]
    (tmp_path / "Cargo.json").write_text(json.dumps({
        "timestamp": "2025-03-01T17:34:44Z", "event": "Cargo", "Vessel": "SRV", "Count": 2,
        "Inventory": [{"Name": "ancienttablet", "Count": 2, "Stolen": 0}]}), encoding="utf-8")  # fmt: skip
    assert side.cargo(t0, count=2, vessel="Ship") is None
    assert side.cargo(t0, count=2, vessel="SRV") is not None


def test_side_files_with_wrong_types_are_ignored_not_coerced(tmp_path: Path) -> None:
    """"1200" is no stock and "0" stolen is not stolen: a side file the game did not write so is
    ignored (with a warning), never read into other numbers."""
    side = _side(tmp_path, MARKET_TIME)
    market = {"timestamp": MARKET_TIME.isoformat(), "MarketID": 7, "Items": [
        {"Name": "$steel_name;", "Stock": "1200", "Demand": 12, "BuyPrice": 5, "SellPrice": 4}]}  # fmt: skip
    (tmp_path / "Market.json").write_text(json.dumps(market), encoding="utf-8")
    assert side.market(7, MARKET_TIME) is None
    market["Items"] = ["steel"]  # an item that is no object
    (tmp_path / "Market.json").write_text(json.dumps(market), encoding="utf-8")
    assert side.market(7, MARKET_TIME) is None
    market["Items"] = [{"Name": "$steel_name;", "Stock": 1200, "Demand": 12, "BuyPrice": 5, "SellPrice": 4}]
    (tmp_path / "Market.json").write_text(json.dumps(market), encoding="utf-8")
    items = side.market(7, MARKET_TIME)
    assert items is not None
    assert [(i.name, i.stock) for i in items] == [("steel", 1200)]
    side = _side(tmp_path, CARGO_TIME)
    cargo = {"timestamp": CARGO_TIME.isoformat(), "Vessel": "Ship", "Count": 3, "Inventory": [
        {"Name": "steel", "Count": 3, "Stolen": "0"}]}  # fmt: skip
    (tmp_path / "Cargo.json").write_text(json.dumps(cargo), encoding="utf-8")
    assert side.cargo(CARGO_TIME) is None
    cargo["Inventory"] = [{"Name": "steel", "Count": 3, "Stolen": 2}]
    (tmp_path / "Cargo.json").write_text(json.dumps(cargo), encoding="utf-8")
    found = side.cargo(CARGO_TIME)
    assert found is not None
    assert [(i.name, i.count, i.stolen) for i in found] == [("steel", 3, True)]
