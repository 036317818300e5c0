"""Two game instances (a commander and their hauling alt) write two journals into one folder at
once; an older journal shows up late; a journal is cut and grows back. Each line keeps its own
file's commander, place and event ids, and no line is lost or sent twice."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from uploader.normalise.normaliser import KEPT_FILE_CONTEXTS
from uploader.outbox import NORMALISER_STATE, Outbox
from uploader.tailer import QUIET_SECONDS, Tailer

pytestmark = pytest.mark.uploader_only

ALICE = "Journal.2025-04-08T200000.01.log"  # started first
BOB = "Journal.2025-04-08T200500.01.log"  # the alt, five minutes later
SITE_A, SITE_B = 3950000001, 3950000002


def line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj) + "\r\n").encode()


def header(stamp: str) -> bytes:
    return line({"timestamp": stamp, "event": "Fileheader", "part": 1, "language": "English/UK",
                 "Odyssey": True, "gameversion": "4.1.1.0", "build": "r312744/r0 "})  # fmt: skip


def session(stamp: str, name: str, fid: str, market: int, station: str) -> bytes:
    return (
        header(f"{stamp}:00Z")
        + line({"timestamp": f"{stamp}:01Z", "event": "Commander", "FID": fid, "Name": name})
        + line({"timestamp": f"{stamp}:30Z", "event": "Docked", "StationName": station,
                "StationType": "Coriolis", "StarSystem": "Sys", "SystemAddress": 1, "MarketID": market})
    )  # fmt: skip


def contribution(stamp: str, market: int, amount: int) -> bytes:
    return line({"timestamp": stamp, "event": "ColonisationContribution", "MarketID": market,
                 "Contributions": [{"Name": "$Steel_name;", "Name_Localised": "Steel", "Amount": amount}]})


def queued(outbox: Outbox) -> list[dict[str, Any]]:
    return [json.loads(r[0]) for r in outbox._db.execute("SELECT payload FROM events ORDER BY seq")]


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


def restore_old_sessions(folder: Path, count: int) -> None:
    """`count` sessions from March (a backup restored, or a lower --since), at another site."""
    for day in range(1, count + 1):
        (folder / f"Journal.2025-03-{day:02d}T100000.01.log").write_bytes(
            session(f"2025-03-{day:02d}T10:00", "Alice", "F1", SITE_B, "Site Then")
        )


def buy_at(live: Path) -> None:
    """A purchase in the live session (April 9th), at the station it is docked at."""
    append(live, line({"timestamp": "2025-04-09T20:02:00Z", "event": "MarketBuy", "MarketID": SITE_A,
                       "Type": "steel", "Count": 10, "BuyPrice": 1, "TotalCost": 10}))  # fmt: skip


def test_each_instances_lines_keep_their_commander_and_place(folder: Path, outbox: Outbox) -> None:
    (folder / ALICE).write_bytes(session("2025-04-08T20:00", "Alice", "F1", SITE_A, "Site A"))
    (folder / BOB).write_bytes(session("2025-04-08T20:05", "Bob", "F2", SITE_B, "Site B"))
    tailer = Tailer(folder, outbox)
    tailer.poll_once()
    append(folder / ALICE, contribution("2025-04-08T20:10:00Z", SITE_A, 500))
    append(folder / BOB, contribution("2025-04-08T20:10:05Z", SITE_B, 300))
    append(folder / ALICE, contribution("2025-04-08T20:11:00Z", SITE_A, 200))
    tailer.poll_once()
    made = [(e["commander"], e["fid"], e["at_station"], e["items"][0]["amount"])
            for e in queued(outbox) if e["kind"] == "contribution"]  # fmt: skip
    assert sorted(made) == [("Alice", "F1", "Site A", 200), ("Alice", "F1", "Site A", 500),
                            ("Bob", "F2", "Site B", 300)]  # fmt: skip


def test_a_line_the_older_instance_is_still_writing_is_read_once_whole(folder: Path, outbox: Outbox) -> None:
    (folder / ALICE).write_bytes(session("2025-04-08T20:00", "Alice", "F1", SITE_A, "Site A"))
    (folder / BOB).write_bytes(session("2025-04-08T20:05", "Bob", "F2", SITE_B, "Site B"))
    tailer = Tailer(folder, outbox)
    tailer.poll_once()
    delivery = contribution("2025-04-08T20:10:00Z", SITE_A, 500)
    append(folder / ALICE, delivery[:40])  # Alice's game is mid-line when the uploader reads
    progress = tailer.poll_once()
    assert progress.events == 0
    append(folder / ALICE, delivery[40:])
    tailer.poll_once()
    (made,) = [e for e in queued(outbox) if e["kind"] == "contribution"]
    assert (made["commander"], made["items"][0]["amount"]) == ("Alice", 500)
    assert tailer._normaliser.stats.invalid == 0  # the cut line was never judged


def test_an_older_journals_unterminated_whole_line_is_read_and_a_cut_one_waits_a_quiet_minute(
    folder: Path, outbox: Outbox
) -> None:
    """A game that stopped before a line's end (whole JSON without its CRLF): read at once, as the
    newest journal is another. A cut line: not judged while its game may still be writing it;
    once the file has been quiet for a minute, what a crash left is read (and skipped)."""
    old = folder / ALICE
    old.write_bytes(session("2025-04-08T20:00", "Alice", "F1", SITE_A, "Site A")
                    + contribution("2025-04-08T20:10:00Z", SITE_A, 500)[:-2])  # fmt: skip
    (folder / BOB).write_bytes(session("2025-04-08T20:05", "Alice", "F1", SITE_B, "Site B"))
    tailer = Tailer(folder, outbox)
    tailer.poll_once()
    assert [e["items"][0]["amount"] for e in queued(outbox) if e["kind"] == "contribution"] == [500]

    append(old, b"\r\n" + contribution("2025-04-08T20:11:00Z", SITE_A, 700)[:90])
    tailer.poll_once()
    assert tailer._normaliser.stats.invalid == 0
    quiet = time.time() - QUIET_SECONDS - 5
    os.utime(old, (quiet, quiet))
    tailer.poll_once()
    assert tailer._normaliser.stats.invalid == 1  # the crash's leftover: skipped, with a reason
    assert outbox.sources()[ALICE].offset == old.stat().st_size


def test_an_older_journal_read_late_leaves_the_live_ones_place_alone(folder: Path, outbox: Outbox) -> None:
    live = folder / "Journal.2025-04-09T200000.01.log"
    live.write_bytes(session("2025-04-09T20:00", "Alice", "F1", SITE_A, "Site Now"))
    tailer = Tailer(folder, outbox)
    tailer.poll_once()
    restore_old_sessions(folder, 1)  # a backup restored (or a lower --since)
    tailer.poll_once()
    buy_at(live)
    tailer.poll_once()
    (buy,) = [e for e in queued(outbox) if e["kind"] == "market_buy"]
    assert buy["at_station"] == "Site Now"


def test_interleaved_reading_gives_the_ids_of_reading_each_file_alone(folder: Path, tmp_path: Path) -> None:
    """Event ids are owned by each file's commander: however two live journals' lines interleave
    (and across a restart between them), a later backfill of the same files makes the same ids,
    so the bot never counts a line twice."""
    a, b = folder / ALICE, folder / BOB
    a.write_bytes(session("2025-04-08T20:00", "Alice", "F1", SITE_A, "Site A"))
    b.write_bytes(session("2025-04-08T20:05", "Bob", "F2", SITE_B, "Site B"))
    with Outbox(tmp_path / "live.sqlite3") as live:
        Tailer(folder, live).poll_once()
        for i in range(3):
            append(a, contribution(f"2025-04-08T20:1{i}:00Z", SITE_A, 100 + i))
            append(b, contribution(f"2025-04-08T20:1{i}:30Z", SITE_B, 200 + i))
            Tailer(folder, live).poll_once()  # a new tailer each time: state from the outbox
        live_ids = sorted(e["id"] for e in queued(live))
    with Outbox(tmp_path / "later.sqlite3") as later:
        Tailer(folder, later).poll_once()
        assert sorted(e["id"] for e in queued(later)) == live_ids
    assert len(live_ids) == len(set(live_ids)) == 2 * 2 + 6  # Commander and Docked each, 6 deliveries


def test_a_journal_cut_and_grown_back_is_read_again_under_the_same_ids(folder: Path, outbox: Outbox) -> None:
    path = folder / ALICE
    body = session("2025-04-08T20:00", "Alice", "F1", SITE_A, "Site A")
    path.write_bytes(body)
    tailer = Tailer(folder, outbox)
    tailer.poll_once()
    first = {e["id"] for e in queued(outbox)}
    outbox._db.execute("DELETE FROM events")  # sent meanwhile
    path.write_bytes(body[: len(body) // 2])  # cut (a sync tool restoring it) ...
    tailer.poll_once()
    path.write_bytes(body)  # ... and back
    tailer.poll_once()
    assert {e["id"] for e in queued(outbox)} == first


def test_a_dozen_restored_old_journals_keep_the_live_ones_context(folder: Path, tmp_path: Path) -> None:
    """More old sessions than contexts are kept: the oldest sessions' go, never the live one's."""
    live = folder / "Journal.2025-04-09T200000.01.log"
    live.write_bytes(session("2025-04-09T20:00", "Alice", "F1", SITE_A, "Site Now"))
    with Outbox(tmp_path / "live.sqlite3") as outbox:
        tailer = Tailer(folder, outbox)
        tailer.poll_once()
        restore_old_sessions(folder, KEPT_FILE_CONTEXTS + 4)
        tailer.poll_once()
        assert len(tailer._normaliser.state.other_files) == KEPT_FILE_CONTEXTS
        buy_at(live)
        Tailer(folder, outbox).poll_once()  # (after a restart too: the contexts are in the state)
        (buy,) = [e for e in queued(outbox) if e["kind"] == "market_buy"]
        assert buy["at_station"] == "Site Now"
        ids = sorted(e["id"] for e in queued(outbox))
    with Outbox(tmp_path / "later.sqlite3") as later:
        Tailer(folder, later).poll_once()
        assert sorted(e["id"] for e in queued(later)) == ids


def test_a_line_begun_after_an_older_journal_was_judged_finished_is_not_cut(
    folder: Path, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The older instance starts a line between the check of the file's end and the read: the
    read stops at the size that was checked, and the line is read once whole."""
    old = folder / ALICE
    old.write_bytes(session("2025-04-08T20:00", "Alice", "F1", SITE_A, "Site A"))
    (folder / BOB).write_bytes(session("2025-04-08T20:05", "Bob", "F2", SITE_B, "Site B"))
    tailer = Tailer(folder, outbox)
    tailer.poll_once()
    append(old, contribution("2025-04-08T20:10:00Z", SITE_A, 500))
    later = contribution("2025-04-08T20:11:00Z", SITE_A, 700)
    judged = Tailer._finished

    def judged_then_written(path: Path, st: os.stat_result) -> bool:
        verdict = judged(path, st)
        if path == old:
            append(old, later[:50])  # Alice's game, right after the check
        return verdict

    monkeypatch.setattr(Tailer, "_finished", staticmethod(judged_then_written))
    tailer.poll_once()
    monkeypatch.setattr(Tailer, "_finished", staticmethod(judged))
    append(old, later[50:])
    tailer.poll_once()
    made = [e["items"][0]["amount"] for e in queued(outbox) if e["kind"] == "contribution"]
    assert made == [500, 700]
    assert tailer._normaliser.stats.invalid == 0


def _strip(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k != "started"}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def test_the_live_context_saved_by_the_previous_version_survives_restored_journals(
    folder: Path, tmp_path: Path
) -> None:
    """The previous version saved no session starts: after an upgrade, the file read last (the
    live one) must not count as the oldest session and be the first context dropped."""
    live = folder / "Journal.2025-04-09T200000.01.log"
    live.write_bytes(session("2025-04-09T20:00", "Alice", "F1", SITE_A, "Site Now"))
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        Tailer(folder, outbox).poll_once()
        # as the previous version wrote it (no `started` field)
        outbox.put(NORMALISER_STATE, json.dumps(_strip(json.loads(outbox.get(NORMALISER_STATE) or "{}"))))
        tailer = Tailer(folder, outbox)
        restore_old_sessions(folder, KEPT_FILE_CONTEXTS + 4)
        tailer.poll_once()
        buy_at(live)
        tailer.poll_once()
        (buy,) = [e for e in queued(outbox) if e["kind"] == "market_buy"]
        assert buy["at_station"] == "Site Now"
