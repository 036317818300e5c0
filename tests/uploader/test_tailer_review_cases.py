"""Polls skip finished older journals (a folder keeps years of them): no line may be read late
beyond the re-check, nor never, for it. The cases a review found."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import uploader.tailer as tailer_module
from tests.uploader.test_continued_part import (
    ALICE_1,
    ALICE_2,
    BOB_1,
    SITE_A,
    SITE_B,
    _append,
    _contribution,
    _header,
    _line,
    _queued,
    _session,
)
from uploader.outbox import Outbox
from uploader.tailer import Tailer

pytestmark = pytest.mark.uploader_only
SITE_C = 3950000003


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_part_2_read_in_poll_only_mode_carries_on_part_1s_last_lines(folder: Path, outbox: Outbox) -> None:
    """Alice idles (docked) for minutes beside her alt, then docks elsewhere and her journal
    rotates: part 2 must carry on part 1 *with* the Docked line written just before `Continued`
    (a full reread / the previous tailer gives Site Charlie)."""
    clock = Clock()
    tailer = Tailer(folder, outbox, clock=clock)  # poll-only: nobody calls journal_changed
    (folder / ALICE_1).write_bytes(_session("2025-04-08T20:00", "Alice", "F1", SITE_A, "Site Alpha"))
    (folder / BOB_1).write_bytes(_session("2025-04-08T20:05", "Bob", "F2", SITE_B, "Site Bravo"))
    hour_ago = time.time() - 3600
    os.utime(folder / ALICE_1, (hour_ago, hour_ago))  # Alice AFK for a while
    tailer.poll_once()
    clock.now += 1  # the next poll, a second later
    docked = {"timestamp": "2025-04-08T22:59:50Z", "event": "Docked", "StationName": "Site Charlie",
              "StationType": "SpaceConstructionDepot", "StarSystem": "C Sys", "SystemAddress": SITE_C,
              "MarketID": SITE_C}
    _append(folder / ALICE_1, _line(docked) + _line(
        {"timestamp": "2025-04-08T23:00:00Z", "event": "Continued", "Part": 2}))
    (folder / ALICE_2).write_bytes(
        _header("2025-04-08T23:00:01Z", part=2) + _contribution("2025-04-08T23:00:02Z", SITE_C, 500)
        + _line({"timestamp": "2025-04-08T23:00:03Z", "event": "CargoTransfer", "Transfers": [
            {"Type": "steel", "Type_Localised": "Steel", "Count": 100, "Direction": "toship"}]})
    )
    tailer.poll_once()
    clock.now += tailer_module.RECHECK_SECONDS
    tailer.poll_once()  # the re-check reads part 1's tail, too late for part 2
    [alice] = [e for e in _queued(outbox) if e["kind"] == "contribution" and e["source"] == ALICE_2]
    [moved] = [e for e in _queued(outbox) if e["kind"] == "cargo_transfer"]
    assert (alice["at_station"], alice["at_market_id"], moved["at_market_id"]) == (
        "Site Charlie", SITE_C, SITE_C)


def test_a_journal_whose_first_stat_failed_is_read_once_the_share_answers(
    folder: Path, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A network share's hiccup when a new journal is first seen (`Path.is_file` swallows the
    OSError and says False): the journal must still be read at a later poll / re-check (before: at the
    folder's next change)."""
    clock = Clock()
    tailer = Tailer(folder, outbox, clock=clock)
    (folder / ALICE_1).write_bytes(_session("2025-04-08T20:00", "Alice", "F1", SITE_A, "Site Alpha"))
    tailer.poll_once()
    new = folder / BOB_1
    new.write_bytes(_session("2025-04-08T20:05", "Bob", "F2", SITE_B, "Site Bravo")
                    + _contribution("2025-04-08T20:06:00Z", SITE_B, 100))
    real = Path.is_file
    monkeypatch.setattr(Path, "is_file", lambda self: False if self.name == BOB_1 else real(self))
    tailer.poll_once()  # the hiccup
    monkeypatch.setattr(Path, "is_file", real)
    later = folder / "Journal.2025-04-08T210000.01.log"  # even a new session does not bring it back
    later.write_bytes(_session("2025-04-08T21:00", "Alice", "F1", SITE_A, "Site Alpha"))
    for _ in range(3):
        clock.now += tailer_module.RECHECK_SECONDS
        tailer.poll_once()
    assert [e["source"] for e in _queued(outbox) if e["kind"] == "contribution"] == [BOB_1]
