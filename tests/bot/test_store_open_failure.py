"""A database that cannot be opened is one line on stderr, never a traceback (README: exit codes)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from bot.store.db import Database, StoreError


def test_a_path_that_is_a_folder_fails_without_a_traceback_from_a_leftover_thread(tmp_path: Path) -> None:
    # COLONY_DB_PATH=/data instead of /data/colony.db: sqlite3 cannot open it. aiosqlite's worker
    # thread must be finished before the event loop closes, else it prints "Event loop is closed"
    # tracebacks after the one-line error (seen in about 1 of 5 runs of `colony-bot token list`).
    leaks: list[str] = []
    before = set(threading.enumerate())
    old_hook = threading.excepthook
    threading.excepthook = lambda args: leaks.append(f"{args.exc_type.__name__}: {args.exc_value}")
    try:
        for _ in range(50):
            with pytest.raises(StoreError, match="cannot open database"):
                asyncio.run(Database(tmp_path).open())
            for thread in set(threading.enumerate()) - before:
                thread.join(5)
    finally:
        threading.excepthook = old_hook
    assert leaks == []
