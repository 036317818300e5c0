"""Intake: a validated batch in, stored in one transaction (all or none), state updated, changes out.

The answer does not wait for Discord: changes go to the change feed after the commit, and the
notifier task does the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.domain.keys import Envelope, utc
from bot.notify.feed import ChangeFeed, SiteChange
from bot.services.state import ColonyState
from bot.store.db import Database
from bot.store.events import EventRow, EventStore
from bot.store.projections import ProjectionStore
from bot.store.tokens import TokenRecord
from wire import Batch, BatchResult, UnknownEvent

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class IntakeStats:
    """Counters since start, for the health endpoint."""

    batches: int = 0
    replayed_batches: int = 0
    accepted: int = 0
    duplicates: int = 0
    ignored: int = 0
    last_batch_at: datetime | None = None


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

    async def submit(self, token: TokenRecord, batch: Batch) -> BatchResult:
        guild_id = token.guild_id
        received_at = self.clock().isoformat()
        changes: list[SiteChange] = []
        async with self.db.lock:
            conn = self.db.conn
            await conn.execute("BEGIN IMMEDIATE")
            guild = self.state.get(guild_id)
            try:
                prior = await self.events.batch_result(conn, guild_id, batch.batch_id)
                if prior is not None:
                    await conn.execute("COMMIT")
                    self.stats.replayed_batches += 1
                    logger.info("batch %s of guild %s replayed: %s", batch.batch_id, guild_id, prior)
                    return prior
                existing = await self.events.existing_ids(conn, guild_id, [e.id for e in batch.events])
                rows: list[EventRow] = []
                duplicates = ignored = 0
                before = guild.shown_views()  # for `previous` in the change feed
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
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                # The in-memory state may hold part of the batch: back to what was committed.
                await self.state.reload_locked()
                raise
            guild.events_stored += len(rows)
            for market_id in sorted(delta.sites):
                view = guild.site_view(market_id)
                if view is not None and view != before.get(market_id):
                    changes.append(SiteChange(guild_id, view, before.get(market_id)))
        self.stats.batches += 1
        self.stats.accepted += result.accepted
        self.stats.duplicates += result.duplicates
        self.stats.ignored += result.ignored
        self.stats.last_batch_at = self.clock()
        self.feed.publish(changes)
        return result
