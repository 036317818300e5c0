"""Tailing: partial lines, new files, replacement, truncation, bursts, a folder appearing, the bound."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from uploader import reader_process
from uploader import tailer as tailer_module
from uploader.outbox import Outbox
from uploader.sender import Sender
from uploader.tailer import Tailer, tail

pytestmark = pytest.mark.uploader_only

NAME_A = "Journal.2025-04-08T215854.01.log"
NAME_B = "Journal.2025-04-09T101010.01.log"


def header(stamp: str = "2025-04-08T19:58:49Z", part: int = 1) -> bytes:
    return (json.dumps({"timestamp": stamp, "event": "Fileheader", "part": part, "language": "English/UK",
                        "Odyssey": True, "gameversion": "4.1.1.0", "build": "r312744/r0 "}) + "\r\n").encode()


def jump(i: int, stamp: str = "2025-04-08T20:00:00Z") -> bytes:
    return (json.dumps({"timestamp": stamp, "event": "FSDJump", "StarSystem": f"Sys {i}",
                        "SystemAddress": 1000 + i}) + "\r\n").encode()


def queued(outbox: Outbox) -> list[dict[str, Any]]:
    """Every event in the outbox, in sending order (batches first, then events not yet batched)."""
    out: list[dict[str, Any]] = []
    for (payload,) in outbox._db.execute("SELECT payload FROM batches ORDER BY sort_key, id").fetchall():
        out.extend(json.loads(payload)["events"])
    out.extend(json.loads(r[0]) for r in outbox._db.execute("SELECT payload FROM events ORDER BY seq"))
    return out


def systems(outbox: Outbox) -> list[str]:
    return [e["system_name"] for e in queued(outbox)]


def test_a_line_written_in_three_pieces_arrives_once_whole(folder: Path, outbox: Outbox) -> None:
    path = folder / NAME_A
    path.write_bytes(header())
    tailer = Tailer(folder, outbox)
    assert tailer.poll_once().events == 0
    line = jump(1)
    pieces = [line[:10], line[10:40], line[40:]]
    with path.open("ab") as f:
        for i, piece in enumerate(pieces):
            f.write(piece)
            f.flush()
            progress = tailer.poll_once()
            assert progress.events == (1 if i == 2 else 0)
    assert tailer.poll_once().events == 0
    assert systems(outbox) == ["Sys 1"]
    assert outbox.sources()[NAME_A].offset == path.stat().st_size


def test_a_new_file_mid_session_is_read_after_the_old_one(folder: Path, outbox: Outbox) -> None:
    a = folder / NAME_A
    a.write_bytes(header() + jump(1) + jump(2) + jump(3)[:-2])  # the last line not terminated yet
    tailer = Tailer(folder, outbox)
    tailer.poll_once()
    assert systems(outbox) == ["Sys 1", "Sys 2"]
    # The game starts a new journal: the old one is finished, its last line (a whole JSON object)
    # is whole.
    (folder / NAME_B).write_bytes(header("2025-04-09T08:10:10Z") + jump(10, "2025-04-09T08:11:00Z"))
    tailer.poll_once()
    assert systems(outbox) == ["Sys 1", "Sys 2", "Sys 3", "Sys 10"]
    assert set(outbox.sources()) == {NAME_A, NAME_B}


def test_a_continued_part_is_read_after_its_first_part(folder: Path, outbox: Outbox) -> None:
    part1 = folder / "Journal.2025-04-08T215854.01.log"
    part2 = folder / "Journal.2025-04-08T215854.02.log"
    continued = b'{"timestamp":"2025-04-08T23:00:00Z","event":"Continued","Part":2}\r\n'
    part1.write_bytes(header() + jump(1) + continued)
    tailer = Tailer(folder, outbox)
    tailer.poll_once()
    # The game goes on in part 2 (same stamp in the name; the header time and part order them).
    part2.write_bytes(header("2025-04-08T23:00:00Z", part=2) + jump(2, "2025-04-08T23:00:01Z"))
    tailer.poll_once()
    with part2.open("ab") as f:
        f.write(jump(3, "2025-04-08T23:00:05Z"))
    tailer.poll_once()
    assert systems(outbox) == ["Sys 1", "Sys 2", "Sys 3"]
    assert outbox.sources()[part2.name].offset == part2.stat().st_size


def test_a_file_replaced_at_the_same_path_is_read_from_the_start(
    folder: Path, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    path = folder / NAME_A
    path.write_bytes(header() + jump(1) + jump(2))
    tailer = Tailer(folder, outbox)
    tailer.poll_once()
    first_ids = [e["id"] for e in queued(outbox)]
    # Same name, another file (a different first line), longer than what was read.
    path.write_bytes(header("2025-04-08T21:00:00Z") + jump(7) + jump(8) + jump(9))
    with caplog.at_level(logging.WARNING):
        tailer.poll_once()
    assert "was replaced" in caplog.text
    assert systems(outbox) == ["Sys 1", "Sys 2", "Sys 7", "Sys 8", "Sys 9"]
    new_ids = [e["id"] for e in queued(outbox)][2:]
    assert not set(new_ids) & set(first_ids)


def test_truncation_restarts_at_zero_without_queueing_twice(
    folder: Path, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    path = folder / NAME_A
    path.write_bytes(header() + jump(1) + jump(2) + jump(3))
    tailer = Tailer(folder, outbox)
    tailer.poll_once()
    path.write_bytes(header() + jump(1))  # same first line, shorter: truncated and rewritten
    with caplog.at_level(logging.WARNING):
        tailer.poll_once()
    assert "shrank below what was read" in caplog.text
    with path.open("ab") as f:
        f.write(jump(4))
    tailer.poll_once()
    # Sys 1 is the same line at the same offset: same id, kept once; Sys 4 is new.
    assert systems(outbox) == ["Sys 1", "Sys 2", "Sys 3", "Sys 4"]
    assert outbox.sources()[NAME_A].offset == path.stat().st_size


def test_a_restarted_tailer_resumes_from_the_outbox(folder: Path, tmp_path: Path) -> None:
    path = folder / NAME_A
    path.write_bytes(header() + jump(1) + jump(2))
    db = tmp_path / "o.sqlite3"
    with Outbox(db) as box:
        Tailer(folder, box).poll_once()
    with path.open("ab") as f:
        f.write(jump(3))
    with Outbox(db) as box:
        Tailer(folder, box).poll_once()
        assert systems(box) == ["Sys 1", "Sys 2", "Sys 3"]


def test_the_outbox_bound_pauses_reading_and_drops_nothing(
    folder: Path, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    path = folder / NAME_A
    path.write_bytes(header() + b"".join(jump(i) for i in range(40)))
    tailer = Tailer(folder, outbox, outbox_max_events=10, chunk_bytes=300)
    caplog.set_level(logging.INFO, logger="uploader.tailer")
    progress = tailer.poll_once()
    assert progress.blocked
    held = outbox.pending_events()
    assert 10 <= held < 15
    assert tailer.poll_once().events == 0  # still full: nothing more read
    assert tailer.poll_once().blocked
    # Said once per pause, not at every poll (a long outage would fill the log with it).
    paused = [r for r in caplog.records if "reading paused" in r.getMessage()]
    assert len(paused) == 1
    caplog.clear()
    # Drain as the sender would, then reading resumes where it paused.
    seen: list[str] = []
    while True:
        while (batch := outbox.next_batch(max_events=100, max_bytes=10**6, uploader_version="t",
                                          platform="p")) is not None:
            seen.extend(e["system_name"] for e in json.loads(batch.payload)["events"])
            outbox.delivered(batch)
        if not tailer.poll_once().blocked and outbox.pending_events() == 0:
            break
    assert seen == [f"Sys {i}" for i in range(40)]
    assert "the outbox has room again; reading on" in caplog.text


def test_history_before_since_is_left_out(folder: Path, outbox: Outbox) -> None:
    from datetime import UTC, datetime

    (folder / NAME_A).write_bytes(header() + jump(1))
    (folder / NAME_B).write_bytes(header("2025-04-09T08:10:10Z") + jump(2, "2025-04-09T08:11:00Z"))
    Tailer(folder, outbox, since=datetime(2025, 4, 9, tzinfo=UTC)).poll_once()
    assert systems(outbox) == ["Sys 2"]


@pytest.mark.parametrize("use_watchdog", [True, False], ids=["watchdog", "poll"])
async def test_live_burst_of_10000_lines_arrives_once_in_order(
    folder: Path, tmp_path: Path, receiver: Any, use_watchdog: bool
) -> None:
    path = folder / NAME_A
    path.write_bytes(header())
    stop = asyncio.Event()
    with Outbox(tmp_path / "t.sqlite3") as tail_box, Outbox(tmp_path / "t.sqlite3") as send_box:
        async with httpx.AsyncClient() as client:
            sender = Sender(send_box, client, url=receiver.url, token="good-token", batch_max_events=1000)
            loop = asyncio.get_running_loop()
            tailer = Tailer(folder, tail_box, on_commit=lambda _n: loop.call_soon_threadsafe(sender.wake.set))
            tasks = [asyncio.create_task(sender.run(stop)),
                     asyncio.create_task(tail(tailer, stop, poll_interval=0.2, use_watchdog=use_watchdog))]
            with path.open("ab") as f:
                f.write(b"".join(jump(i) for i in range(10_000)))
            await asyncio.to_thread(receiver.wait_for, lambda: len(receiver.accepted_new) >= 10_000, 60.0)
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 10.0)
    names = [e["system_name"] for r in receiver.requests for e in r.events]
    assert names == [f"Sys {i}" for i in range(10_000)]
    assert len(set(receiver.accepted_new)) == 10_000


async def test_a_journal_folder_that_appears_later_is_tailed(tmp_path: Path, receiver: Any) -> None:
    folder = tmp_path / "not-yet"
    stop = asyncio.Event()
    with Outbox(tmp_path / "t.sqlite3") as tail_box, Outbox(tmp_path / "t.sqlite3") as send_box:
        async with httpx.AsyncClient() as client:
            sender = Sender(send_box, client, url=receiver.url, token="good-token")
            loop = asyncio.get_running_loop()
            tailer = Tailer(folder, tail_box, on_commit=lambda _n: loop.call_soon_threadsafe(sender.wake.set))
            polls: list[bool] = []
            missing_seen = asyncio.Event()

            def on_poll(progress: Any) -> None:
                polls.append(progress.folder_missing)
                if progress.folder_missing:
                    missing_seen.set()

            tasks = [asyncio.create_task(sender.run(stop)),
                     asyncio.create_task(tail(tailer, stop, poll_interval=0.1, on_poll=on_poll))]
            await asyncio.wait_for(missing_seen.wait(), 10.0)
            folder.mkdir()
            (folder / NAME_A).write_bytes(header() + jump(1) + jump(2))
            await asyncio.to_thread(receiver.wait_for, lambda: len(receiver.accepted_new) == 2, 20.0)
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 10.0)
    assert polls[0] is True
    assert polls[-1] is False
    assert [e["system_name"] for r in receiver.requests for e in r.events] == ["Sys 1", "Sys 2"]


def test_a_bare_cargo_line_carries_the_matching_cargo_json(folder: Path, outbox: Outbox) -> None:
    from datetime import UTC, datetime

    from uploader.sidefiles import JournalSideFiles

    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    inventory = '{ "Name":"steel", "Count":3, "Stolen":0 }'
    cargo = f'{{ "timestamp":"{stamp}", "event":"Cargo", "Vessel":"Ship", "Count":3'
    (folder / "Cargo.json").write_bytes(f'{cargo}, "Inventory":[ \r\n{inventory}\r\n ] }}\r\n'.encode())
    (folder / NAME_A).write_bytes(header(stamp) + f"{cargo} }}\r\n".encode())
    Tailer(folder, outbox, side_files=JournalSideFiles(folder, sleep=lambda _s: None)).poll_once()
    [event] = queued(outbox)
    assert event["kind"] == "cargo"
    assert event["inventory"] == [{"name": "steel", "name_localised": None, "count": 3, "stolen": False,
                                   "mission": False}]


def test_two_readers_of_one_outbox_never_queue_a_line_twice(
    folder: Path, tmp_path: Path, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    # A second uploader on the same state folder, or a backfill's reader outliving its killed
    # parent: both loaded the same offsets; the first to commit wins, the other reloads.
    (folder / NAME_A).write_bytes(header() + b"".join(jump(i) for i in range(40)))
    second_box = Outbox(tmp_path / "state" / "outbox.sqlite3")
    try:
        first, second = Tailer(folder, outbox, chunk_bytes=512), Tailer(folder, second_box, chunk_bytes=512)
        first.remaining_bytes()
        second.remaining_bytes()  # both have loaded the (empty) offsets now
        assert not first.poll_once().conflict
        # The sender took everything already: a second queueing could no longer be caught by the
        # unique event id of the waiting rows.
        batch = outbox.next_batch(max_events=1000, max_bytes=1 << 20, uploader_version="t", platform="t")
        assert batch is not None
        assert batch.n_events == 40
        outbox.delivered(batch)
        with caplog.at_level(logging.WARNING, logger="uploader.tailer"):
            assert second.poll_once().conflict
        assert "another reader moved on in the outbox" in caplog.text
        again = second.poll_once()
        assert (again.conflict, again.events) == (False, 0)
        assert outbox.pending_events() == 0
        with (folder / NAME_A).open("ab") as f:
            f.write(jump(40))
        assert second.poll_once().events == 1  # the reloaded reader goes on where the first stopped
        assert systems(outbox) == ["Sys 40"]
    finally:
        second_box.close()


class _Flaky:
    """`read_complete_lines` failing with EIO `failures` times, as a network share's hiccup does."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.real = tailer_module.read_complete_lines

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise OSError(5, "Input/output error")
        return self.real(*args, **kwargs)


async def test_a_read_error_does_not_end_live_tailing_and_is_said_once(
    folder: Path, outbox: Outbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="uploader.tailer")
    (folder / NAME_A).write_bytes(header() + jump(1))
    flaky = _Flaky(failures=3)
    monkeypatch.setattr(tailer_module, "read_complete_lines", flaky)
    polls: list[str | None] = []
    stop = asyncio.Event()
    task = asyncio.create_task(
        tail(Tailer(folder, outbox), stop, poll_interval=0.01, use_watchdog=False,
             on_poll=lambda p: polls.append(p.read_error))
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while systems(outbox) != ["Sys 1"]:
        assert not task.done(), task
        assert loop.time() < deadline, f"never read; polls: {polls}"
        await asyncio.sleep(0.01)
    stop.set()
    await task
    assert polls[:3] == [f"cannot read {NAME_A}: [Errno 5] Input/output error"] * 3
    assert polls[3] is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"cannot read {NAME_A}: [Errno 5] Input/output error; trying again"]
    assert "journals readable again" in caplog.text


def test_a_backfill_retries_a_read_error_then_reads_on(
    folder: Path, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / NAME_A).write_bytes(header() + jump(1) + jump(2))
    monkeypatch.setattr(tailer_module, "read_complete_lines", _Flaky(failures=reader_process.READ_RETRIES))
    monkeypatch.setattr(reader_process, "READ_RETRY_WAIT", 0.0)
    assert reader_process._read_all(Tailer(folder, outbox), threading.Event()) == "read"
    assert systems(outbox) == ["Sys 1", "Sys 2"]


def test_a_backfill_fails_on_a_read_error_that_lasts(
    folder: Path, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / NAME_A).write_bytes(header() + jump(1))
    flaky = _Flaky(failures=1000)
    monkeypatch.setattr(tailer_module, "read_complete_lines", flaky)
    monkeypatch.setattr(reader_process, "READ_RETRY_WAIT", 0.0)
    with pytest.raises(OSError, match=f"cannot read {NAME_A}: .*Input/output error"):
        reader_process._read_all(Tailer(folder, outbox), threading.Event())
    assert flaky.calls == reader_process.READ_RETRIES + 1
    assert systems(outbox) == []


def test_an_older_journal_that_stays_unreadable_does_not_hold_the_live_one_back(
    folder: Path, outbox: Outbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (folder / NAME_A).write_bytes(header() + jump(1))
    (folder / NAME_B).write_bytes(header("2025-04-09T08:10:10Z") + jump(10, "2025-04-09T08:11:00Z"))
    real = tailer_module.read_complete_lines

    def locked(path: Path, *args: Any, **kwargs: Any) -> Any:
        if path.name == NAME_A:
            raise PermissionError(13, "Permission denied")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(tailer_module, "read_complete_lines", locked)
    tailer = Tailer(folder, outbox)
    for _ in range(3):
        progress = tailer.poll_once()
        assert progress.read_error == f"cannot read {NAME_A}: [Errno 13] Permission denied"
    assert systems(outbox) == ["Sys 10"]
    assert sum("Permission denied" in r.getMessage() for r in caplog.records) == 1
    monkeypatch.setattr(tailer_module, "read_complete_lines", real)
    assert tailer.poll_once().read_error is None
    assert systems(outbox) == ["Sys 10", "Sys 1"]
