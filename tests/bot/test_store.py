"""The SQLite store: migrations, refusals, the append-only events table."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.store.db import Database, StoreError, migrations


def test_migrations_are_numbered_without_gaps() -> None:
    found = migrations()
    assert [n for n, _, _ in found] == list(range(1, len(found) + 1))
    assert found[0][1] == "0001_initial.sql"


async def test_a_fresh_file_gets_every_migration_in_wal_mode(tmp_path: Path) -> None:
    db = Database(tmp_path / "colony.db")
    await db.open()
    await db.close()
    with sqlite3.connect(tmp_path / "colony.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(migrations())
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {
        "events",
        "tokens",
        "batches",
        "sites",
        "site_commodities",
        "ledger",
        "commanders",
        "carriers",
    } <= tables


async def test_reopening_keeps_the_data_and_applies_nothing_twice(tmp_path: Path) -> None:
    db = Database(tmp_path / "colony.db")
    await db.open()
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO guild_settings (guild_id, name, value) VALUES (1, 'x', 'kept')")
    await db.close()
    db = Database(tmp_path / "colony.db")
    await db.open()
    async with db.conn.execute("SELECT value FROM guild_settings") as cur:
        assert await cur.fetchall() == [("kept",)]
    await db.close()


async def test_a_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "colony.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE future (x)")
        conn.execute("PRAGMA user_version = 99")
    db = Database(path)
    known = len(migrations())
    with pytest.raises(StoreError, match=rf"has schema version 99, newer than this bot knows \({known}\)"):
        await db.open()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 99
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'events'").fetchone() is None


async def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        await Database(tmp_path / "nope" / "colony.db").open()


async def test_events_are_append_only(tmp_path: Path) -> None:
    db = Database(tmp_path / "colony.db")
    await db.open()
    try:
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO events (guild_id, id, kind, known, ts, user_id, token_id, batch_id, "
                "received_at, payload) VALUES (1, 'a', 'depot', 1, 't', 1, 1, 'b', 'r', '{}')"
            )
        for sql in ("UPDATE events SET payload = 'x'", "DELETE FROM events"):
            with pytest.raises(sqlite3.IntegrityError, match="events are append-only"):
                async with db.transaction() as conn:
                    await conn.execute(sql)
        async with db.conn.execute("SELECT payload FROM events") as cur:
            assert await cur.fetchall() == [("{}",)]
    finally:
        await db.close()


async def test_a_transaction_cancelled_while_it_begins_leaves_the_connection_clean(tmp_path: Path) -> None:
    db = Database(tmp_path / "colony.db")
    await db.open()
    try:
        entered = False

        async def writer() -> None:
            nonlocal entered
            async with db.transaction():
                entered = True

        task = asyncio.create_task(writer())
        await asyncio.sleep(0)  # a scheduling turn: the task is now awaiting its BEGIN
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not entered
        await db.conn.execute("SELECT 1")  # aiosqlite runs statements in order: BEGIN is done
        assert not db.conn.in_transaction
        async with db.transaction() as conn:  # and the next writer is not told "within a transaction"
            await conn.execute("SELECT 1")
        assert not db.conn.in_transaction
    finally:
        await db.close()
