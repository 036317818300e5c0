"""SQL for the append-only events table and the accepted batches."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import aiosqlite

from bot.store.db import insert_rows
from wire import BatchResult

_CHUNK = 900  # bound the number of SQL parameters per statement


class EventRow(NamedTuple):
    """One row of the events table, in column order (passed to SQLite as it is)."""

    guild_id: int
    id: str
    kind: str
    known: int  # 0 for a kind this version does not know
    ts: str
    user_id: int
    token_id: int
    batch_id: str
    received_at: str
    payload: str


_INSERT = (
    f"INSERT INTO events ({', '.join(EventRow._fields)}) VALUES ({', '.join('?' * len(EventRow._fields))})"
)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    event_id: str
    guild_id: int
    user_id: int
    token_id: int
    payload: str
    known: bool = True  # False: stored as a kind the storing version did not know


class EventStore:
    """Statements run inside the caller's transaction (`Database.transaction()`), or, for the
    intake's, on the connection's own thread (`Database.run_transaction` / `Database.read`), which
    is why those take a plain `sqlite3.Connection` and are not coroutines."""

    def batch_result(self, conn: sqlite3.Connection, guild_id: int, batch_id: str) -> BatchResult | None:
        row = conn.execute(
            "SELECT accepted, duplicates, ignored FROM batches WHERE guild_id = ? AND batch_id = ?",
            (guild_id, batch_id),
        ).fetchone()
        if row is None:
            return None
        return BatchResult(accepted=row[0], duplicates=row[1], ignored=row[2])

    def existing_ids(self, conn: sqlite3.Connection, guild_id: int, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            cursor = conn.execute(
                f"SELECT id FROM events WHERE guild_id = ? AND id IN ({marks})", (guild_id, *chunk)
            )
            found.update(str(row[0]) for row in cursor.fetchall())
        return found

    def insert(self, conn: sqlite3.Connection, rows: Sequence[EventRow]) -> None:
        insert_rows(conn, _INSERT, rows)

    def record_batch(
        self,
        conn: sqlite3.Connection,
        guild_id: int,
        batch_id: str,
        token_id: int,
        result: BatchResult,
        received_at: str,
    ) -> None:
        conn.execute(
            "INSERT INTO batches (guild_id, batch_id, token_id, accepted, duplicates, ignored, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (guild_id, batch_id, token_id, result.accepted, result.duplicates, result.ignored, received_at),
        )

    async def counts(self, conn: aiosqlite.Connection) -> dict[int, int]:
        async with conn.execute("SELECT guild_id, count(*) FROM events GROUP BY guild_id") as cursor:
            return {int(g): int(n) for g, n in await cursor.fetchall()}

    async def stored_events(self, conn: aiosqlite.Connection, page: int = 5000) -> AsyncIterator[StoredEvent]:
        """Every stored event, in arrival order, a page at a time (bounded memory). Those stored as
        unknown kinds too: the version reading them may know the kind (`rebuild` after an upgrade)."""
        last = 0
        while True:
            async with conn.execute(
                "SELECT seq, id, guild_id, user_id, token_id, payload, known FROM events "
                "WHERE seq > ? ORDER BY seq LIMIT ?",
                (last, page),
            ) as cursor:
                rows = list(await cursor.fetchall())
            if not rows:
                return
            for row in rows:
                _, event_id, guild_id, user_id, token_id, payload, known = row
                yield StoredEvent(
                    str(event_id), int(guild_id), int(user_id), int(token_id), str(payload), bool(known)
                )
            last = int(rows[-1][0])

    async def last_received(self, conn: aiosqlite.Connection, token_id: int) -> str | None:
        async with conn.execute(
            "SELECT max(received_at) FROM batches WHERE token_id = ?", (token_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None or row[0] is None else str(row[0])


class SettingsStore:
    """Per-guild settings (e.g. the Discord channels the notifier posts in): not projections."""

    async def get(self, conn: aiosqlite.Connection, guild_id: int) -> dict[str, str]:
        async with conn.execute(
            "SELECT name, value FROM guild_settings WHERE guild_id = ? ORDER BY name", (guild_id,)
        ) as cursor:
            return {str(n): str(v) for n, v in await cursor.fetchall()}

    async def named(self, conn: aiosqlite.Connection, name: str) -> dict[int, str]:
        """One setting across every guild that has it (e.g. the channel updates, loaded at start)."""
        async with conn.execute(
            "SELECT guild_id, value FROM guild_settings WHERE name = ? ORDER BY guild_id", (name,)
        ) as cursor:
            return {int(g): str(v) for g, v in await cursor.fetchall()}

    async def set(self, conn: aiosqlite.Connection, guild_id: int, name: str, value: str | None) -> None:
        if value is None:
            await conn.execute("DELETE FROM guild_settings WHERE guild_id = ? AND name = ?", (guild_id, name))
        else:
            await conn.execute(
                "INSERT INTO guild_settings (guild_id, name, value) VALUES (?, ?, ?) "
                "ON CONFLICT (guild_id, name) DO UPDATE SET value = excluded.value",
                (guild_id, name, value),
            )
