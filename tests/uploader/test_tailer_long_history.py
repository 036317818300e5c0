"""A folder with years of journals: a poll costs what is new, not every journal ever written.

A commander's journal folder keeps every session since they started playing (thousands of files),
while the game only writes the newest one or two. These tests count the work (names parsed,
headers read), not its time.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import uploader.journal.files as files_module
import uploader.tailer as tailer_module
from uploader.outbox import Outbox
from uploader.tailer import Tailer, TailProgress, tail

pytestmark = pytest.mark.uploader_only

HISTORY = 200  # sessions, one file each, the last one an hour ago
START = datetime(2024, 1, 1, tzinfo=UTC)


def line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj) + "\r\n").encode()


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def session(moment: datetime) -> bytes:
    return (
        line({"timestamp": stamp(moment), "event": "Fileheader", "part": 1, "build": "r1"})
        + line({"timestamp": stamp(moment), "event": "Commander", "FID": "F1", "Name": "X"})
    )


def jump(moment: datetime, system: str) -> bytes:
    return line({"timestamp": stamp(moment), "event": "FSDJump", "StarSystem": system, "SystemAddress": 1})


def name_of(moment: datetime) -> str:
    return f"Journal.{moment.strftime('%Y-%m-%dT%H%M%S')}.01.log"


def write_history(folder: Path, count: int) -> list[Path]:
    """`count` finished sessions, an hour apart, last written an hour ago."""
    paths = []
    hour_ago = time.time() - 3600
    for n in range(count):
        moment = START + timedelta(hours=n)
        path = folder / name_of(moment)
        path.write_bytes(session(moment) + jump(moment, f"Sys {n}"))
        os.utime(path, (hour_ago, hour_ago))
        paths.append(path)
    return paths


def systems(outbox: Outbox) -> list[str]:
    """The systems jumped to, in queueing order."""
    rows = outbox._db.execute("SELECT payload FROM events ORDER BY seq")
    events = (json.loads(row[0]) for row in rows)
    return [event["system_name"] for event in events if "system_name" in event]


@pytest.fixture
def history(folder: Path) -> list[Path]:
    return write_history(folder, HISTORY)


class Clock:
    """A monotonic clock the test moves on by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tailer(folder: Path, outbox: Outbox, history: list[Path]) -> Tailer:
    """A tailer that has read the whole history once."""
    tailer = Tailer(folder, outbox)
    tailer.poll_once()
    assert len(systems(outbox)) == HISTORY
    return tailer


def append(path: Path, data: bytes) -> None:
    """Append as a game does: the file's modification time is now."""
    with path.open("ab") as f:
        f.write(data)


def counting(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[object]:
    """Replace `owner.name` by a wrapper that records each call's first argument."""
    calls: list[object] = []
    real: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0] if args else None)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


def test_an_idle_poll_parses_no_name_it_has_judged_before(
    tailer: Tailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Judging a name (a regex and a strptime) was most of an idle poll's time with thousands of
    journals: a name is judged once, when it first appears."""
    parsed = counting(monkeypatch, tailer_module, "is_journal_name")
    tailer.poll_once()
    assert parsed == []


def test_a_new_journal_costs_its_own_header_not_every_journals(
    tailer: Tailer, folder: Path, outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The game starts a session: only the new file's name is judged and its header read (the
    old ones keep their place in the order), and it is read after them."""
    parsed = counting(monkeypatch, tailer_module, "is_journal_name")
    headers = counting(monkeypatch, files_module, "first_line")
    moment = START + timedelta(hours=HISTORY)
    new = folder / name_of(moment)
    new.write_bytes(session(moment) + jump(moment, "Sys new"))
    (folder / "Status.json").write_text('{"Flags": 0}')
    tailer.poll_once()
    assert sorted(map(str, parsed)) == sorted([new.name, "Status.json"])
    assert headers == [new]
    assert systems(outbox)[-1] == "Sys new"


def test_a_journal_without_its_header_yet_is_dated_once_the_header_is_there(
    tailer: Tailer, folder: Path
) -> None:
    """Caught just created, a journal is dated by its name's local stamp; its header dates (and
    orders) it at the next change of the folder, as when every header was read at each change."""
    moment = START + timedelta(hours=HISTORY)
    new = folder / name_of(moment)
    new.write_bytes(b"")
    tailer.poll_once()
    new.write_bytes(session(moment))
    later = START + timedelta(hours=HISTORY + 1)
    (folder / name_of(later)).write_bytes(session(later))
    tailer.poll_once()
    assert [j.started for j in tailer._files[-2:]] == [moment, later]


def test_an_idle_poll_stats_only_the_live_journals(
    tailer: Tailer, history: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the newest journals grow (one per game instance): the finished ones, read to their end
    and quiet, are not stat'ed at every poll."""
    stats = counting(monkeypatch, Path, "stat")
    tailer.poll_once()
    assert {p for p in stats if isinstance(p, Path) and p.name.startswith("Journal.")} == set(history[-2:])


def test_a_finished_journal_that_grows_again_is_read_at_the_next_recheck(
    folder: Path, history: list[Path], outbox: Outbox
) -> None:
    """A finished journal is still looked at every RECHECK_SECONDS: one written again (a game
    instance back at it, polling without watchdog) is read then, and nothing of it is lost."""
    clock = Clock()
    tailer = Tailer(folder, outbox, clock=clock)
    tailer.poll_once()
    old = history[0]
    append(old, jump(START, "Sys again"))
    os.utime(old, (time.time() - 3600, time.time() - 3600))  # as quiet as the rest
    tailer.poll_once()
    assert "Sys again" not in systems(outbox)
    clock.now += tailer_module.RECHECK_SECONDS
    tailer.poll_once()
    assert systems(outbox)[-1] == "Sys again"


def test_a_finished_journal_watchdog_names_is_read_at_the_next_poll(
    tailer: Tailer, history: list[Path], outbox: Outbox
) -> None:
    old = history[0]
    append(old, jump(START, "Sys again"))
    tailer.journal_changed(old.name)
    tailer.poll_once()
    assert systems(outbox)[-1] == "Sys again"


def test_an_older_journal_written_within_the_quiet_time_is_looked_at_every_poll(
    tailer: Tailer, history: list[Path], outbox: Outbox
) -> None:
    """A second game instance (a hauling alt) writes a journal older than the newest two: while it
    is being written, each poll looks at it, watchdog or not."""
    alt = history[0]
    append(alt, jump(START, "Sys 1st"))
    tailer.journal_changed(alt.name)
    tailer.poll_once()
    append(alt, jump(START, "Sys 2nd"))
    tailer.poll_once()
    assert systems(outbox)[-2:] == ["Sys 1st", "Sys 2nd"]


def test_a_finished_journal_that_could_not_be_read_is_tried_again_at_the_next_poll(
    tailer: Tailer, history: list[Path], outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = history[0]
    append(old, jump(START, "Sys again"))
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    tailer.journal_changed(old.name)
    real = tailer_module.read_complete_lines

    def locked(path: Path, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tailer_module, "read_complete_lines", locked)
    assert tailer.poll_once().read_error is not None
    monkeypatch.setattr(tailer_module, "read_complete_lines", real)
    tailer.poll_once()
    assert systems(outbox)[-1] == "Sys again"


def test_side_file_writes_do_not_wake_the_tailer(folder: Path) -> None:
    """The game rewrites Status.json several times a second while playing (and Cargo.json,
    NavRoute.json... at each change); each wake-up is a poll. Only a journal's change wakes it,
    with the journal's name."""
    woken: list[str] = []
    journal_seen = threading.Event()

    def wake(name: str = "") -> None:  # in watchdog's thread
        woken.append(name)
        if name.startswith("Journal."):
            journal_seen.set()

    watch = tailer_module._Watch(folder, wake)
    try:
        for n in range(5):
            (folder / "Status.json").write_text(json.dumps({"Flags": n}))
        for side in ("Cargo.json", "Market.json", "NavRoute.json", "Status.json.tmp"):
            (folder / side).write_text("{}")
        (folder / "Status.json.tmp").rename(folder / "Backpack.json")
        journal = folder / name_of(START)
        journal.write_bytes(session(START))  # after the side files: its events come after theirs
        assert journal_seen.wait(10.0), f"no wake-up named the journal; wake-ups: {woken}"
    finally:
        watch.stop()
    assert set(woken) == {journal.name}


async def test_a_finished_journal_written_again_is_read_at_once_with_watchdog(
    folder: Path, outbox: Outbox, history: list[Path]
) -> None:
    """Watchdog names the finished journal that changed: it is read at the next poll, not at the
    next re-check (the poll interval here is longer than the test)."""
    polled = asyncio.Event()
    read = asyncio.Event()

    def on_poll(progress: TailProgress) -> None:
        polled.set()
        if progress.events:
            read.set()

    stop = asyncio.Event()
    task = asyncio.create_task(tail(Tailer(folder, outbox), stop, poll_interval=600.0, on_poll=on_poll))
    try:
        await asyncio.wait_for(polled.wait(), 30.0)  # the history, read
        read.clear()
        append(history[0], jump(START, "Sys again"))
        await asyncio.wait_for(read.wait(), 10.0)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10.0)
    assert systems(outbox)[-1] == "Sys again"
