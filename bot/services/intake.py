"""Intake: validated batches in, stored all-or-none, the colony state updated, changes announced.

Group commit: batches arriving while a transaction is being written wait in a queue, and the next
transaction takes all of them, each inside its own SAVEPOINT (so each batch is still all or none,
and a failing batch fails alone). One commit (one fsync) then serves many uploads, which is what
lets a durable `synchronous=FULL` store keep up. An upload is answered only after its commit.

The answer does not wait for Discord: changes go to the change feed after the commit, and the
notifier task does the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import aiosqlite

from bot.domain.keys import Envelope, utc
from bot.notify.feed import ChangeFeed, SiteChange
from bot.services.state import ColonyState
from bot.store.db import Database
from bot.store.events import EventRow, EventStore
from bot.store.projections import ProjectionStore
from bot.store.tokens import TokenRecord
from bot.views import SiteView
from wire import Batch, BatchResult, UnknownEvent

logger = logging.getLogger(__name__)

MAX_GROUP_BATCHES = 32
MAX_GROUP_EVENTS = 40_000


@dataclass(slots=True)
class IntakeStats:
    """Counters since start, for the health endpoint."""

    batches: int = 0
    replayed_batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    ignored: int = 0
    transactions: int = 0
    last_batch_at: datetime | None = None


@dataclass(slots=True)
class _Item:
    token: TokenRecord
    batch: Batch
    done: asyncio.Future[BatchResult]
    result: BatchResult | None = None
    replayed: bool = False
    stored: int = 0


class IntakeClosedError(RuntimeError):
    """The bot is stopping; the upload was not stored (the uploader will send it again)."""


class IntakeService:
    def __init__(
        self,
        db: Database,
        events: EventStore,
        projections: ProjectionStore,
        state: ColonyState,
        feed: ChangeFeed,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.events = events
        self.projections = projections
        self.state = state
        self.feed = feed
        self.clock = clock or (lambda: datetime.now(UTC))
        self.stats = IntakeStats()
        self._queue: list[_Item] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closed = False

    async def submit(self, token: TokenRecord, batch: Batch) -> BatchResult:
        """Stores the batch (or recognises it as already stored) and returns its counts."""
        if self._closed:
            raise IntakeClosedError("the bot is stopping")
        item = _Item(token, batch, asyncio.get_running_loop().create_future())
        self._queue.append(item)
        self._wake.set()
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_loop(), name="colony-intake-writer")
        return await asyncio.shield(item.done)

    async def close(self) -> None:
        """Writes what is queued, then stops the writer."""
        self._closed = True
        self._wake.set()
        if self._writer is not None:
            await self._writer
            self._writer = None

    async def _write_loop(self) -> None:
        while True:
            if not self._queue:
                if self._closed:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            group: list[_Item] = []
            events = 0
            while self._queue and len(group) < MAX_GROUP_BATCHES and events < MAX_GROUP_EVENTS:
                item = self._queue.pop(0)
                group.append(item)
                events += len(item.batch.events)
            try:
                await self._write_group(group)
            except Exception as exc:  # the commit itself failed: nothing of the group is stored
                logger.exception("intake transaction of %d batches failed", len(group))
                for item in group:
                    if not item.done.done():
                        item.done.set_exception(exc)

    async def _write_group(self, group: list[_Item]) -> None:
        # Site views before the group and the sites it changed, per guild: views are built once per
        # group after the commit, not once per batch.
        before: dict[int, dict[int, SiteView]] = {}
        changed: dict[int, set[int]] = {}
        async with self.db.lock:
            conn = self.db.conn
            await conn.execute("BEGIN IMMEDIATE")
            try:
                for item in group:
                    await conn.execute("SAVEPOINT batch")
                    try:
                        await self._write_one(conn, item, before, changed)
                        await conn.execute("RELEASE batch")
                    except Exception as exc:
                        logger.exception(
                            "batch %s of guild %s failed", item.batch.batch_id, item.token.guild_id
                        )
                        await conn.execute("ROLLBACK TO batch")
                        await conn.execute("RELEASE batch")
                        # The in-memory state may hold part of it: back to what the database holds.
                        await self.state.reload_locked()
                        item.done.set_exception(exc)
                await conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")
                await self.state.reload_locked()
                raise
        self.stats.transactions += 1
        now = self.clock()
        for item in group:
            if item.done.done():
                continue
            assert item.result is not None
            self.state.get(item.token.guild_id).events_stored += item.stored
            if item.replayed:
                self.stats.replayed_batches += 1
            else:
                self.stats.batches += 1
                self.stats.accepted += item.result.accepted
                self.stats.duplicates += item.result.duplicates
                self.stats.ignored += item.result.ignored
                self.stats.last_batch_at = now
            item.done.set_result(item.result)
        self.feed.publish(self._changes(before, changed))

    def _changes(
        self, before: dict[int, dict[int, SiteView]], changed: dict[int, set[int]]
    ) -> list[SiteChange]:
        out: list[SiteChange] = []
        for guild_id in sorted(changed):
            guild = self.state.get(guild_id)
            shown = before.get(guild_id, {})
            for market_id in sorted(changed[guild_id]):
                view = guild.site_view(market_id)
                if view is not None and view != shown.get(market_id):
                    out.append(SiteChange(guild_id, view, shown.get(market_id)))
        return out

    async def _write_one(
        self,
        conn: aiosqlite.Connection,
        item: _Item,
        before: dict[int, dict[int, SiteView]],
        changed: dict[int, set[int]],
    ) -> None:
        token, batch = item.token, item.batch
        guild_id = token.guild_id
        prior = await self.events.batch_result(conn, guild_id, batch.batch_id)
        if prior is not None:
            logger.info("batch %s of guild %s replayed: %s", batch.batch_id, guild_id, prior)
            item.result, item.replayed = prior, True
            return
        received_at = self.clock().isoformat()
        guild = self.state.get(guild_id)
        existing = await self.events.existing_ids(conn, guild_id, [e.id for e in batch.events])
        rows: list[EventRow] = []
        duplicates = ignored = 0
        if guild_id not in before:
            before[guild_id] = guild.shown_views()  # for `previous` in the change feed
        for event in batch.events:
            if event.id in existing:
                duplicates += 1
                continue
            existing.add(event.id)
            known = not isinstance(event, UnknownEvent)
            if isinstance(event, UnknownEvent):
                ignored += 1  # a newer uploader's kind: kept for a later version, not used
            else:
                guild.apply(Envelope(event, token.user_id, token.id))
            rows.append(
                EventRow(
                    guild_id,
                    event.id,
                    event.kind,
                    known,
                    utc(event.timestamp).isoformat(),
                    token.user_id,
                    token.id,
                    batch.batch_id,
                    received_at,
                    event.model_dump_json(),
                )
            )
        result = BatchResult(accepted=len(rows) - ignored, duplicates=duplicates, ignored=ignored)
        delta = guild.take_changes()
        await self.events.insert(conn, rows)
        await self.events.record_batch(conn, guild_id, batch.batch_id, token.id, result, received_at)
        await self.projections.write(conn, guild, delta)
        item.result, item.stored = result, len(rows)
        changed.setdefault(guild_id, set()).update(delta.sites)
