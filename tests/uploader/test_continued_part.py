"""A journal rotating (`Continued`, then part 2) while a second game instance writes beside it: the
new part carries on its own session's commander and place, live and in a backfill alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from uploader.journal.files import previous_part
from uploader.journal.reader import RawLine
from uploader.normalise.normaliser import KEPT_FILE_CONTEXTS, Normaliser
from uploader.outbox import NORMALISER_STATE, Outbox
from uploader.tailer import Tailer

pytestmark = pytest.mark.uploader_only

ALICE_1 = "Journal.2025-04-08T200000.01.log"
ALICE_2 = "Journal.2025-04-08T200000.02.log"  # her session's Continued part
BOB_1 = "Journal.2025-04-08T200500.01.log"  # the hauling alt, started five minutes later
SITE_A, SITE_B = 3950000001, 3950000002


def _line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj) + "\r\n").encode()


def _header(stamp: str, part: int = 1) -> bytes:
    return _line({"timestamp": stamp, "event": "Fileheader", "part": part, "language": "English/UK",
                  "Odyssey": True, "gameversion": "4.1.1.0", "build": "r312744/r0 "})  # fmt: skip


def _session(stamp: str, name: str, fid: str, market: int, station: str) -> bytes:
    docked = {
        "timestamp": f"{stamp}:30Z", "event": "Docked", "StationName": station,
        "StationType": "SpaceConstructionDepot", "StarSystem": f"{name} Sys", "SystemAddress": market,
        "MarketID": market,
    }  # fmt: skip
    commander = {"timestamp": f"{stamp}:01Z", "event": "Commander", "FID": fid, "Name": name}
    return _header(f"{stamp}:00Z") + _line(commander) + _line(docked)


def _contribution(stamp: str, market: int, amount: int) -> bytes:
    steel = {"Name": "$Steel_name;", "Name_Localised": "Steel", "Amount": amount}
    event = "ColonisationContribution"
    return _line({"timestamp": stamp, "event": event, "MarketID": market, "Contributions": [steel]})


def _queued(outbox: Outbox) -> list[dict[str, Any]]:
    return [json.loads(r[0]) for r in outbox._db.execute("SELECT payload FROM events ORDER BY seq")]


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


@pytest.mark.parametrize("live", [False, True], ids=["backfill", "live"])
def test_a_continued_part_keeps_its_own_sessions_commander_and_place(
    folder: Path, outbox: Outbox, live: bool
) -> None:
    tailer = Tailer(folder, outbox)
    (folder / ALICE_1).write_bytes(_session("2025-04-08T20:00", "Alice", "F1", SITE_A, "Site Alpha"))
    (folder / BOB_1).write_bytes(_session("2025-04-08T20:05", "Bob", "F2", SITE_B, "Site Bravo"))
    if live:
        tailer.poll_once()
    _append(folder / ALICE_1, _line({"timestamp": "2025-04-08T23:00:00Z", "event": "Continued", "Part": 2}))
    _append(folder / BOB_1, _contribution("2025-04-08T23:00:00Z", SITE_B, 100))
    if live:
        tailer.poll_once()
    (folder / ALICE_2).write_bytes(
        _header("2025-04-08T23:00:01Z", part=2) + _contribution("2025-04-08T23:00:02Z", SITE_A, 500)
    )
    tailer.poll_once()
    [alice] = [e for e in _queued(outbox) if e["kind"] == "contribution" and e["source"] == ALICE_2]
    assert (alice["commander"], alice["fid"], alice["at_station"], alice["at_market_id"]) == (
        "Alice", "F1", "Site Alpha", SITE_A)  # fmt: skip
    [bob] = [e for e in _queued(outbox) if e["kind"] == "contribution" and e["source"] == BOB_1]
    assert (bob["commander"], bob["at_market_id"]) == ("Bob", SITE_B)


def test_part_2_after_a_restart_between_the_parts(folder: Path, outbox: Outbox) -> None:
    """The uploader stopped (or upgraded) after part 1: part 1's context comes back from the saved
    state, found by the fingerprint the outbox keeps for it."""
    (folder / ALICE_1).write_bytes(_session("2025-04-08T20:00", "Alice", "F1", SITE_A, "Site Alpha"))
    (folder / BOB_1).write_bytes(_session("2025-04-08T20:05", "Bob", "F2", SITE_B, "Site Bravo"))
    Tailer(folder, outbox).poll_once()
    assert outbox.get(NORMALISER_STATE) is not None
    _append(folder / ALICE_1, _line({"timestamp": "2025-04-08T23:00:00Z", "event": "Continued", "Part": 2}))
    _append(folder / BOB_1, _contribution("2025-04-08T23:00:00Z", SITE_B, 100))
    (folder / ALICE_2).write_bytes(
        _header("2025-04-08T23:00:01Z", part=2) + _contribution("2025-04-08T23:00:02Z", SITE_A, 500)
    )
    Tailer(folder, outbox).poll_once()
    [alice] = [e for e in _queued(outbox) if e["kind"] == "contribution" and e["source"] == ALICE_2]
    assert (alice["commander"], alice["at_market_id"]) == ("Alice", SITE_A)


def test_part_1_is_not_evicted_by_the_switch_to_part_2() -> None:
    """A session long enough for a part 2 is often the oldest kept: switching to part 2 must not
    drop part 1's context before it is looked up."""
    normaliser = Normaliser()

    def lines(data: bytes) -> list[RawLine]:
        out, offset = [], 0
        for line in data.splitlines(keepends=True):
            out.append(RawLine(offset, line.rstrip(b"\r\n")))
            offset += len(line)
        return out

    alice = _session("2025-04-08T20:00", "Alice", "F1", SITE_A, "Site Alpha")
    normaliser.feed(ALICE_1, "fp-alice-1", lines(alice))
    for i in range(KEPT_FILE_CONTEXTS):
        bob = _session(f"2025-04-08T20:{10 + i}", "Bob", "F2", SITE_B, "Site Bravo")
        normaliser.feed(f"Journal.2025-04-08T2{i}0500.01.log", f"fp-bob-{i}", lines(bob))
    part_2 = _header("2025-04-08T23:30:00Z", part=2) + _contribution("2025-04-08T23:30:01Z", SITE_A, 500)
    events = normaliser.feed(ALICE_2, "fp-alice-2", lines(part_2), continues="fp-alice-1")
    [contribution] = [e for e in events if e.kind == "contribution"]
    assert contribution.commander == "Alice"


def test_the_part_before_a_part() -> None:
    assert previous_part("Journal.2025-04-08T200000.02.log") == "Journal.2025-04-08T200000.01.log"
    assert previous_part("Journal.250408200000.10.log") == "Journal.250408200000.09.log"
    assert previous_part("Journal.2025-04-08T200000.01.log") is None
    assert previous_part("JournalBeta.2025-04-08T200000.02.log") is None
    assert previous_part("Cargo.json") is None
