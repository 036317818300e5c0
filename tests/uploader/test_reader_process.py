"""The backfill's reader process on its own: what it reports up its pipe when reading fails.

(Reading that works, logs, a killed parent or reader: through the real CLI in test_cli.py.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
from pathlib import Path

import pytest

from uploader.reader_process import ReaderProcess, ReadJob, StartMethod, start_method_for

pytestmark = pytest.mark.uploader_only

METHODS: list[StartMethod] = ["fork", "spawn"] if sys.platform.startswith("linux") else ["spawn"]


def _journals(tmp_path: Path) -> Path:
    folder = tmp_path / "journals"
    folder.mkdir()
    lines = [
        {"timestamp": "2025-04-08T19:58:49Z", "event": "Fileheader", "part": 1},
        {"timestamp": "2025-04-08T20:00:00Z", "event": "FSDJump", "StarSystem": "Sol", "SystemAddress": 1},
    ]
    (folder / "Journal.2025-04-08T195849.01.log").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return folder


async def _finished(reader: ReaderProcess) -> None:
    reader.start()
    try:
        await asyncio.wait_for(reader.closed.wait(), 60)
    finally:
        await reader.close()


@pytest.mark.parametrize("method", METHODS)
async def test_an_outbox_it_cannot_open_is_reported_as_such(tmp_path: Path, method: StartMethod) -> None:
    blocked = tmp_path / "not-a-file"
    blocked.mkdir()  # a directory where the outbox file should be
    job = ReadJob(_journals(tmp_path), blocked, None, 1000, os.getpid(), logging.WARNING)
    reader = ReaderProcess(job, start_method=method, on_commit=lambda _n: None)
    await _finished(reader)
    assert reader.done is None
    assert reader.failure is not None
    kind, text = reader.failure
    assert kind == "outbox"
    assert text.startswith(f"cannot open the outbox {blocked}")
    assert reader.exitcode == 0


@pytest.mark.parametrize("method", METHODS)
async def test_an_unexpected_error_is_reported_with_its_type_and_logged(
    tmp_path: Path, method: StartMethod, caplog: pytest.LogCaptureFixture
) -> None:
    # A bound that is not a number: the tailer fails comparing against it, as a bug would.
    job = ReadJob(_journals(tmp_path), tmp_path / "outbox.sqlite3", None, None, os.getpid(),  # type: ignore[arg-type]
                  logging.WARNING)
    reader = ReaderProcess(job, start_method=method, on_commit=lambda _n: None)
    with caplog.at_level(logging.WARNING):
        await _finished(reader)
    assert reader.failure is not None
    kind, text = reader.failure
    assert kind == "error"
    assert text.startswith("TypeError: ")
    # Its log record came up the pipe, traceback included, and went through our handlers.
    (record,) = [r for r in caplog.records if r.name == "uploader.reader_process"]
    assert record.getMessage().startswith("the backfill's reader failed")
    assert "Traceback" in record.getMessage()


@pytest.mark.parametrize("method", METHODS)
async def test_a_reader_reads_reports_its_commits_and_is_done(tmp_path: Path, method: StartMethod) -> None:
    committed: list[int] = []
    job = ReadJob(_journals(tmp_path), tmp_path / "outbox.sqlite3", None, 1000, os.getpid(), logging.WARNING)
    reader = ReaderProcess(job, start_method=method, on_commit=committed.append)
    await _finished(reader)
    assert (reader.done, reader.failure, reader.exitcode) == ("read", None, 0)
    assert committed == [1]
    assert reader.events == 1
    assert reader.bytes_read == (tmp_path / "journals" / "Journal.2025-04-08T195849.01.log").stat().st_size


def test_the_start_method_is_as_set_and_auto_never_forks_a_threaded_process() -> None:
    assert start_method_for("spawn") == "spawn"
    assert start_method_for("fork") == "fork"
    release = threading.Event()
    other = threading.Thread(target=release.wait, daemon=True)
    other.start()
    try:
        assert start_method_for("auto") == "spawn"
    finally:
        release.set()
        other.join()
