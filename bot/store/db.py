"""One aiosqlite connection in WAL mode, numbered migrations, and a lock around transactions."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

logger = logging.getLogger(__name__)

T = TypeVar("T")
_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# An INSERT whose statement ends with one row of placeholders: "... VALUES (?, ?, ?)".
_ONE_ROW = re.compile(r"^(INSERT\b.*\bVALUES\s*)(\(\s*\?(?:\s*,\s*\?)*\s*\))\s*$", re.DOTALL | re.IGNORECASE)
MAX_ROWS_PER_STATEMENT = 500


BACKSTOP_CHECKPOINT_PAGES = 20_000  # ~80 MB of WAL
CACHE_KIB = 64 * 1024


class StoreError(RuntimeError):
    """The database cannot be used as it is; the message says why and what to do."""


async def on_thread(conn: aiosqlite.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """`work(sqlite3 connection)` run on `conn`'s own worker thread, in one hop.

    Many statements in one call instead of one await each: between awaits the event loop may be
    busy for milliseconds (validating an upload), and the database thread would sit idle. aiosqlite
    has no public call for this; `_execute` is what each of its own methods queues work through.
    The work runs to its end even if the caller is cancelled meanwhile (it is already queued).
    """
    raw = conn._conn  # the sqlite3 connection, used only on the worker thread below
    task = asyncio.ensure_future(conn._execute(work, raw))  # type: ignore[no-untyped-call]
    try:
        return cast(T, await asyncio.shield(task))
    except asyncio.CancelledError:
        await task
        raise


def insert_rows(conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """`conn.executemany(sql, rows)`, with an `INSERT ... VALUES (?, ...)` sent as multi-row
    statements (`VALUES (...), (...), ...`) of up to `MAX_ROWS_PER_STATEMENT` rows.

    executemany goes back to Python, taking the GIL, between rows; while the event loop's thread is
    busy, each of those hand-overs can wait milliseconds. One statement per few hundred rows runs
    in SQLite from its first row to its last. Values are bound as they are (floats stay exact).
    Use inside a transaction: a failing statement is then undone with everything else.
    """
    match = _ONE_ROW.match(sql)
    if match is None or len(rows) < 2:
        conn.executemany(sql, rows)
        return
    head, one = match.groups()
    width = one.count("?")
    if any(len(row) != width for row in rows):
        raise sqlite3.ProgrammingError(f"every row must have {width} values for {head.strip()!r}")
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per = max(1, min(MAX_ROWS_PER_STATEMENT, limit // width))
    for start in range(0, len(rows), per):
        part = rows[start : start + per]
        conn.execute(head + ",".join([one] * len(part)), [value for row in part for value in row])


def _transact(work: Callable[[sqlite3.Connection], T], conn: sqlite3.Connection) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
        conn.execute("COMMIT")
    except BaseException:
        # A COMMIT refused (busy, disk full) can leave the transaction open: close it too.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def migrations() -> list[tuple[int, str, str]]:
    """(number, file name, SQL) for every bundled migration, in order; numbers must be 1, 2, 3..."""
    folder = resources.files("bot.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if numbers != list(range(1, len(found) + 1)):
        raise StoreError(f"migrations are not numbered 1..n without gaps: {numbers}")
    return found


class Database:
    """The bot's SQLite file. Use `transaction()` for every multi-statement write.

    aiosqlite runs every call on one worker thread, but coroutines interleave between awaits, so a
    transaction is guarded by an asyncio lock: no other coroutine's statement lands inside it.
    """

    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        self.path = path
        self.synchronous = synchronous
        self._conn: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self.lock = asyncio.Lock()
        self.schema_version = 0

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StoreError("the database is not open")
        return self._conn

    async def open(self) -> None:
        if self.path.parent and not self.path.parent.exists():
            raise StoreError(f"folder {self.path.parent} does not exist (COLONY_DB_PATH={self.path})")
        # isolation_level=None: no implicit transactions; we BEGIN and COMMIT ourselves.
        pending = aiosqlite.connect(self.path, isolation_level=None)
        try:
            self._conn = await pending
        except Exception as exc:
            await _worker_finished(pending)
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        conn = self._conn
        try:
            mode = await self._scalar("PRAGMA journal_mode=WAL")
            if str(mode).lower() != "wal":
                raise StoreError(f"cannot switch {self.path} to WAL mode (got {mode})")
            if self.synchronous not in {"FULL", "NORMAL"}:
                raise StoreError(f"synchronous must be FULL or NORMAL, not {self.synchronous}")
            await conn.execute(f"PRAGMA synchronous={self.synchronous}")
            await conn.execute("PRAGMA busy_timeout=10000")
            # The events' unique index takes random inserts (ids are hashes): keep its pages cached.
            await conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            # Checkpoints normally run beside the writer (`Checkpointer`); this is only the backstop.
            await conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_CHECKPOINT_PAGES}")
            await conn.execute("PRAGMA foreign_keys=ON")
            await self._migrate()
            self._reader = await aiosqlite.connect(self.path, isolation_level=None)
            await self._reader.execute("PRAGMA query_only=1")
            await self._reader.execute("PRAGMA busy_timeout=10000")
        except sqlite3.DatabaseError as exc:  # "file is not a database", a corrupt file, locked
            await self.close()
            hint = "" if isinstance(exc, sqlite3.OperationalError) else (
                " (a wrong file restored? see deploy/README.md, section 8)"
            )
            raise StoreError(f"cannot use {self.path}: {exc}{hint}") from exc
        except BaseException:
            await self.close()
            raise

    @property
    def reader(self) -> aiosqlite.Connection:
        """A second, read-only connection for short look-ups on the request path (tokens, known
        event ids): in WAL mode it reads the last committed state on its own thread, so it never
        queues behind a long write on the main connection."""
        if self._reader is None:
            raise StoreError("the database is not open")
        return self._reader

    async def close(self) -> None:
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await reader.close()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def _scalar(self, sql: str) -> object:
        async with self.conn.execute(sql) as cursor:
            row = await cursor.fetchone()
        return row[0] if row else None

    async def _migrate(self) -> None:
        known = migrations()
        latest = known[-1][0] if known else 0
        current = int(str(await self._scalar("PRAGMA user_version")))
        if current > latest:
            raise StoreError(
                f"{self.path} has schema version {current}, newer than this bot knows ({latest}); "
                "run the newer bot or restore a backup"
            )
        for number, name, sql in known:
            if number <= current:
                continue
            logger.info("applying migration %s to %s", name, self.path)
            try:
                # One transaction per migration, with its version: all of it or none.
                await self.conn.executescript(
                    f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;"
                )
            except Exception as exc:
                if self.conn.in_transaction:
                    await self.conn.execute("ROLLBACK")
                raise StoreError(f"migration {name} failed on {self.path}: {exc}") from exc
        self.schema_version = int(str(await self._scalar("PRAGMA user_version")))

    async def _complete(self, sql: str) -> None:
        """Run `sql` to its end even when the caller is cancelled meanwhile: it runs on aiosqlite's
        thread either way, and returning before it did would leave the connection in a state
        nobody saw (a BEGIN with no ROLLBACK after it)."""
        task = asyncio.ensure_future(self.conn.execute(sql))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            await task
            raise

    async def run_transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """BEGIN IMMEDIATE, `work(conn)`, COMMIT (ROLLBACK on any error) under the lock, all in one
        call on the connection's thread: no other statement can land inside, and a cancelled
        caller cannot leave the transaction half done."""
        async with self.lock:
            return await on_thread(self.conn, lambda conn: _transact(work, conn))

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(conn)` on the reader connection's thread: several look-ups in one hop."""
        return await on_thread(self.reader, work)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE ... COMMIT under the lock; ROLLBACK on any exception or cancellation,
        so the connection always goes back outside a transaction."""
        async with self.lock:
            conn = self.conn
            try:
                await self._complete("BEGIN IMMEDIATE")
            except asyncio.CancelledError:
                if conn.in_transaction:
                    await self._complete("ROLLBACK")
                raise
            try:
                yield conn
            except BaseException:
                await self._complete("ROLLBACK")
                raise
            try:
                await self._complete("COMMIT")
            except Exception:
                # A COMMIT refused (busy, disk full) can leave the transaction open: close it.
                if conn.in_transaction:
                    await self._complete("ROLLBACK")
                raise


class Checkpointer:
    """Copies the WAL back into the database from a second connection, off the writer's path.

    With SQLite's automatic checkpoint the commit that crosses the threshold does the copying (and,
    with synchronous=FULL, the fsync of the database file) while the upload waits; here a
    PASSIVE checkpoint runs every `interval` seconds on its own connection and thread instead, never
    blocking the writer.
    """

    def __init__(self, path: Path, interval: float = 1.0) -> None:
        self.path = path
        self.interval = interval
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        await conn.execute("PRAGMA busy_timeout=10000")
        self._task = asyncio.create_task(self._run(conn), name="colony-checkpointer")

    async def _run(self, conn: aiosqlite.Connection) -> None:
        try:
            while not self._stop.is_set():
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.interval)
                try:
                    await conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except Exception:
                    logger.exception("WAL checkpoint of %s failed (will retry)", self.path)
        finally:
            await conn.close()

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None


async def _worker_finished(conn: aiosqlite.Connection) -> None:
    """Waits for the worker thread of a connection that failed to open. aiosqlite stops it without
    waiting; its last reply must reach a loop still running, else the one-line error is followed by
    an "Event loop is closed" traceback from the thread."""
    thread = getattr(conn, "_thread", None)  # private, hence looked up defensively
    if isinstance(thread, threading.Thread) and thread.is_alive():
        await asyncio.to_thread(thread.join, 5)
