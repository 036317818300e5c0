"""Intake: validated batches in, stored all-or-none, the colony state updated, changes announced.

Group commit: batches arriving while a transaction is being written wait in a queue, and the next
transaction takes all of them (one commit, one fsync, for many uploads). Pipelined: while one group
is being written on the database's thread, the next is prepared in memory (duplicates found, the
state updated, every row to write taken), so the two threads work at once. Each batch stays all or
none: should a group's transaction fail, it is rolled back whole, the state is reloaded from the
database, and its batches are written again one at a time so that only a bad one fails. An upload
is answered only after its commit.

The answer does not wait for Discord: changes go to the change feed after the commit, and the
notifier task does the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.domain.keys import Envelope, utc
from bot.notify.feed import ChangeFeed, Delivery, SiteChange
from bot.services.state import ColonyState
from bot.store.db import Database
from bot.store.events import EventRow, EventStore
from bot.store.projections import ProjectionRows, ProjectionStore
from bot.store.tokens import TokenRecord
from wire import Batch, BatchResult, UnknownEvent

logger = logging.getLogger(__name__)

MAX_GROUP_BATCHES = 32
MAX_GROUP_EVENTS = 20_000


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


_Found = tuple[BatchResult | None, set[str]]  # a batch's stored answer, or which of its ids are stored


@dataclass(slots=True)
class _Item:
    token: TokenRecord
    batch: Batch
    done: asyncio.Future[BatchResult]
    # What the database held when the item arrived (looked up at once, beside the writer), and how
    # many groups were committed when that look-up was asked for.
    found: asyncio.Future[_Found] | None = None
    commits_seen: int = 0
    # Filled by `_prepare`:
    result: BatchResult | None = None
    replayed: bool = False
    received_at: str = ""
    rows: list[EventRow] = field(default_factory=list)
    projections: ProjectionRows = field(default_factory=list)
    changes: list[SiteChange] = field(default_factory=list)


@dataclass(slots=True)
class _Group:
    items: list[_Item]
    generation: int = -1  # the state reloads counted when it was prepared (`_resync`)


# A plain tuple made an EventRow without the NamedTuple constructor's Python-level argument handling.
_event_row = functools.partial(tuple.__new__, EventRow)


def _retrieved(future: asyncio.Future[_Found]) -> None:
    if not future.cancelled():
        future.exception()


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
        # The group being written, and the next one, prepared meanwhile (see `_write_loop`).
        self._writing: tuple[_Group, asyncio.Task[None]] | None = None
        self._ready: _Group | None = None
        self._closed = False
        # What prepared but not yet committed groups hold, so the next group counts it as stored.
        self._pending_ids: dict[int, set[str]] = {}
        self._pending_batches: dict[tuple[int, str], BatchResult] = {}
        # Counts state reloads: what was prepared before one is void.
        self._generation = 0
        # Committed groups, counted; and what the latest of them stored, kept while an upload that
        # was looked up before them still waits to be prepared (its look-up may not show them).
        self._commits = 0
        self._recent: deque[tuple[int, dict[int, set[str]], dict[tuple[int, str], BatchResult]]] = deque()

    async def submit(self, token: TokenRecord, batch: Batch) -> BatchResult:
        """Stores the batch (or recognises it as already stored) and returns its counts."""
        if self._closed:
            raise IntakeClosedError("the bot is stopping")
        item = _Item(token, batch, asyncio.get_running_loop().create_future())
        item.commits_seen = self._commits
        item.found = asyncio.ensure_future(self._look_up_one(item))
        item.found.add_done_callback(_retrieved)  # an upload failed before its look-up was read
        self._queue.append(item)
        self._wake.set()
        if self._writer is None or self._writer.done():
            if self._writer is not None and not self._writer.cancelled() and self._writer.exception():
                logger.error("the intake writer had stopped on an error; starting it again")
            self._writer = asyncio.create_task(self._write_loop(), name="colony-intake-writer")
        return await asyncio.shield(item.done)

    async def close(self) -> None:
        """Writes what is queued, then stops the writer."""
        self._closed = True
        self._wake.set()
        if self._writer is not None:
            await self._writer
            self._writer = None

    async def last_upload(self, token_id: int) -> datetime | None:
        """When this token's last batch was accepted (what `whoami` tells an uploader's doctor)."""
        text = await self.events.last_received(self.db.reader, token_id)
        return None if text is None else datetime.fromisoformat(text)

    # --- the writer loop ---------------------------------------------------------------------------

    def _take(self, ready: _Group | None) -> list[_Item]:
        """Queued uploads, as many as fit beside what `ready` already holds."""
        items: list[_Item] = []
        batches, events = self._size(ready)
        while self._queue and batches < MAX_GROUP_BATCHES and events < MAX_GROUP_EVENTS:
            item = self._queue.pop(0)
            items.append(item)
            batches += 1
            events += len(item.batch.events)
        return items

    @staticmethod
    def _size(group: _Group | None) -> tuple[int, int]:
        if group is None:
            return 0, 0
        return len(group.items), sum(len(item.batch.events) for item in group.items)

    def _has_room(self, group: _Group | None) -> bool:
        batches, events = self._size(group)
        return batches < MAX_GROUP_BATCHES and events < MAX_GROUP_EVENTS

    async def _write_loop(self) -> None:
        """Two stages at once: one group is written on the database's thread (`_writing`) while the
        uploads arriving meanwhile are prepared into the next (`_ready`, always whole: prepared
        uploads join it only once ready), which is written as soon as the first is committed."""
        try:
            while True:
                writing = self._writing
                if writing is not None and writing[1].done():
                    self._writing = None
                    if writing[1].cancelled() or writing[1].exception() is not None:
                        await self._recover(*writing)
                if self._writing is None and self._ready is not None:
                    self._start_writing()
                    # Let the store hand its transaction to the database thread, and the uploads
                    # just answered send their answers, before preparing more in this thread.
                    await asyncio.sleep(0)
                    continue
                if self._queue and self._has_room(self._ready):
                    await self._prepare_more(self._take(self._ready))
                    continue
                if self._writing is None and self._closed:
                    return
                self._wake.clear()
                waiting = asyncio.ensure_future(self._wake.wait())
                try:
                    tasks = [waiting] if self._writing is None else [waiting, self._writing[1]]
                    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiting.cancel()
        finally:
            while self._writing is not None:
                group, task = self._writing
                with contextlib.suppress(Exception):
                    await task
                if self._writing is not None and self._writing[1] is task:  # else it started the next
                    self._writing = None
                    if task.cancelled() or task.exception() is not None:
                        await self._finish(group, task)
            ready, self._ready = self._ready, None
            if ready is not None:  # only when the loop itself failed: do not leave uploads hanging
                self._forget(ready)
                for item in ready.items:
                    if not item.done.done():
                        item.done.set_exception(IntakeClosedError("the intake writer stopped"))

    def _start_writing(self) -> None:
        group, self._ready = self._ready, None
        assert group is not None
        self._writing = (group, asyncio.create_task(self._write(group), name="colony-intake-store"))

    async def _write(self, group: _Group) -> None:
        """Writes the group; once committed, answers its uploads and hands the next group (if one is
        ready) to the database thread at once, without waiting for the loop to come round. A failure
        is left to the loop (`_recover`)."""
        await self._store(group)
        self._done(group)
        ready = self._ready
        # Not while a reload is under way (`_resync`): what `ready` applied to the state is being
        # undone, so the loop prepares it again first.
        if (
            ready is not None
            and ready.generation == self._generation
            and self._writing is not None
            and self._writing[0] is group
        ):
            self._start_writing()

    async def _recover(self, group: _Group, task: asyncio.Task[None]) -> None:
        """After a failed transaction: its batches written again one by one, and what was prepared
        on top of it prepared again (the state was reloaded)."""
        ready, self._ready = self._ready, None
        if ready is not None:
            # Its ids must not count as stored while the failed group is retried.
            self._forget(ready)
        await self._finish(group, task)
        if ready is not None:
            self._forget(ready)
            self._ready = await self._prepare_or_fail(_Group(ready.items))

    async def _prepare_more(self, items: list[_Item]) -> None:
        """`items` prepared on top of `_ready` and added to it (one transaction for all)."""
        ready = self._ready
        generation = self._generation
        group = await self._prepare_or_fail(_Group(items))
        if ready is not self._ready:
            # `ready` went to the database meanwhile (or was prepared again): these start the next.
            if group is not None:
                if self._ready is None:
                    self._ready = group
                else:
                    self._ready.items.extend(group.items)
            return
        if ready is not None and self._generation != generation:
            # A bad batch made the state reload from the database, undoing what `ready` held too:
            # prepare all of it again, in arrival order.
            self._ready = None
            self._forget(ready)
            if group is not None:
                self._forget(group)
            self._ready = await self._prepare_or_fail(_Group(ready.items + (group.items if group else [])))
            return
        if group is None:
            return
        if ready is None:
            self._ready = group
        else:
            ready.items.extend(group.items)

    async def _prepare_or_fail(self, group: _Group) -> _Group | None:
        """The group prepared, or None when nothing in it is left to write."""
        try:
            prepared = await self._prepare_group(group)
        except Exception as exc:  # the database itself is failing: these uploads get a 500
            logger.exception("cannot prepare %d batches", len(group.items))
            for item in group.items:
                if not item.done.done():
                    item.done.set_exception(exc)
            self._forget(group)
            return None
        return group if prepared else None

    async def _prepare_group(self, group: _Group) -> bool:
        """Prepares every batch of the group; False when none is left to write."""
        todo = [item for item in group.items if not item.done.done()]
        found = await self._found(todo)
        ready = []
        for n, item in enumerate(todo):
            if n:
                await asyncio.sleep(0)  # one upload at a time: answers and new arrivals go between
            try:
                # No await between these two: each id committed since the look-up is then either
                # still pending or already in `_recent`.
                self._prepare(item, *self._since(item, *found[id(item)]))
                ready.append(item)
            except Exception as exc:
                logger.exception("batch %s of guild %s failed", item.batch.batch_id, item.token.guild_id)
                item.done.set_exception(exc)
                await self._resync()
                # Everything prepared in this group so far was undone by the reload: start over.
                self._forget(group)
                rest = [i for i in group.items if not i.done.done()]
                group.items[:] = rest
                return await self._prepare_group(group) if rest else False
        # What is still queued was looked up no earlier than its own arrival: older entries can go.
        floor = min((item.commits_seen for item in self._queue), default=self._commits)
        while self._recent and self._recent[0][0] <= floor:
            self._recent.popleft()
        group.generation = self._generation
        return bool(ready)

    async def _found(self, items: list[_Item]) -> dict[int, _Found]:
        """Each item's look-up, taken when it arrived; looked up again when the commits since then
        are no longer all in `_recent` (entries are dropped only at the end of `_prepare_group`)."""
        out: dict[int, _Found] = {}
        stale: list[_Item] = []
        for item in items:
            oldest = self._recent[0][0] if self._recent else self._commits + 1
            if item.found is None or (item.commits_seen < self._commits and oldest > item.commits_seen + 1):
                stale.append(item)
                continue
            try:
                out[id(item)] = await item.found
            except Exception:
                stale.append(item)  # looked up again below; a database that still fails is reported
        if stale:
            fresh = await self._look_up(stale)
            loop = asyncio.get_running_loop()
            for item in stale:
                # Kept with the `commits_seen` it goes with: a later preparation of this item (its
                # group failed) must not pair the first look-up with the commits after this one.
                found: asyncio.Future[_Found] = loop.create_future()
                found.set_result(fresh[id(item)])
                item.found = found
            out.update(fresh)
        return out

    def _since(self, item: _Item, prior: BatchResult | None, existing: set[str]) -> _Found:
        """An item's look-up completed with the groups committed after it."""
        key = (item.token.guild_id, item.batch.batch_id)
        existing = set(existing)  # the look-up's own set is kept for a later re-preparation
        for number, ids, batches in self._recent:
            if number > item.commits_seen:
                if prior is None:
                    prior = batches.get(key)
                existing |= ids.get(item.token.guild_id, set())
        return prior, set() if prior is not None else existing

    async def _look_up_one(self, item: _Item) -> _Found:
        return (await self._look_up([item]))[id(item)]

    async def _look_up(self, items: list[_Item]) -> dict[int, _Found]:
        """What the database already holds for each batch (its earlier answer, or which of its event
        ids are stored), all in one call on the reader's thread. Committed data only: what is
        prepared but not committed yet is in `_pending_ids` / `_pending_batches`, what was
        committed after the call in `_recent`."""
        events = self.events
        commits = self._commits
        wanted = [
            (id(item), item.token.guild_id, item.batch.batch_id, [e.id for e in item.batch.events])
            for item in items
        ]
        for item in items:
            item.commits_seen = commits

        def look(conn: sqlite3.Connection) -> dict[int, _Found]:
            out: dict[int, _Found] = {}
            for key, guild_id, batch_id, ids in wanted:
                prior = events.batch_result(conn, guild_id, batch_id)
                out[key] = (prior, set() if prior is not None else events.existing_ids(conn, guild_id, ids))
            return out

        return await self.db.read(look) if wanted else {}

    def _prepare(self, item: _Item, stored: BatchResult | None, existing: set[str]) -> None:
        """Applies the batch to the state and takes the rows to write; `stored` is the batch's
        committed answer if any, `existing` which of its ids the database holds."""
        token, batch = item.token, item.batch
        guild_id = token.guild_id
        key = (guild_id, batch.batch_id)
        item.replayed, item.rows, item.projections, item.changes = False, [], [], []  # when prepared again
        prior = self._pending_batches.get(key)
        if prior is None:
            prior = stored
        if prior is not None:
            logger.info("batch %s of guild %s replayed: %s", batch.batch_id, guild_id, prior)
            item.result, item.replayed = prior, True
            return
        pending = self._pending_ids.setdefault(guild_id, set())
        existing |= {e.id for e in batch.events if e.id in pending}
        guild = self.state.get(guild_id)
        before = guild.shown_views()  # for `previous` in the change feed
        at = item.received_at = self.clock().isoformat()
        rows: list[EventRow] = []
        duplicates = ignored = 0
        user_id, token_id, batch_id = token.user_id, token.id, batch.batch_id
        for event in batch.events:
            if event.id in existing:
                duplicates += 1
                continue
            existing.add(event.id)
            if isinstance(event, UnknownEvent):
                known = 0
                ignored += 1  # a newer uploader's kind: kept for a later version, not used
            else:
                known = 1
                guild.apply(Envelope(event, user_id, token_id))
            # The serializer itself: what model_dump_json() calls, without its per-call set-up.
            payload = event.__pydantic_serializer__.to_json(event).decode()
            ts = utc(event.timestamp).isoformat()
            row = (guild_id, event.id, event.kind, known, ts, user_id, token_id, batch_id, at, payload)
            rows.append(_event_row(row))
        delta = guild.take_changes()
        item.rows = rows
        item.projections = self.projections.rows(guild, delta)
        item.result = BatchResult(accepted=len(rows) - ignored, duplicates=duplicates, ignored=ignored)
        pending.update(row.id for row in rows)
        self._pending_batches[key] = item.result
        # Views now, per batch: each change then spans one upload (one commander's hand-ins), even
        # when several uploads share a transaction. Unchanged view parts are reused, so this is cheap.
        item.changes = []
        delivered: dict[int, list[Delivery]] = {}
        for entry in delta.ledger:
            delivered.setdefault(entry.market_id, []).append(
                Delivery(entry.commander, entry.commodity, entry.tonnes, entry.key.ts)
            )
        for market_id in sorted(delta.sites):
            view = guild.site_view(market_id)
            if view is not None and view != before.get(market_id):
                deliveries = tuple(delivered.get(market_id, ()))
                item.changes.append(SiteChange(guild_id, view, before.get(market_id), deliveries))

    async def _store(self, group: _Group) -> None:
        """Writes a prepared group in one transaction (the state already holds it), the whole
        transaction in one call on the database's thread."""
        items = [i for i in group.items if not (i.replayed or i.done.done())]
        events, projections = self.events, self.projections

        def write(conn: sqlite3.Connection) -> None:
            for item in items:
                assert item.result is not None
                events.insert(conn, item.rows)
                events.record_batch(
                    conn,
                    item.token.guild_id,
                    item.batch.batch_id,
                    item.token.id,
                    item.result,
                    item.received_at,
                )
                projections.write_rows_now(conn, item.projections)

        if items:
            await self.db.run_transaction(write)

    async def _finish(self, group: _Group, task: asyncio.Task[None]) -> bool:
        """Waits for a group's transaction and answers its uploads; False when it failed (the state
        was then reloaded and its batches written again one by one)."""
        try:
            await task
        except Exception:
            logger.exception(
                "intake transaction of %d batches failed; retrying them one by one", len(group.items)
            )
            self._forget(group)
            await self._resync()
            for item in group.items:
                if item.done.done():
                    continue
                single = _Group([item])
                try:
                    if await self._prepare_group(single):
                        await self._store(single)
                except Exception as exc:
                    logger.exception("batch %s of guild %s failed", item.batch.batch_id, item.token.guild_id)
                    self._forget(single)
                    await self._resync()
                    if not item.done.done():
                        item.done.set_exception(exc)
                    continue
                self._done(single)
            return False
        self._done(group)
        return True

    def _done(self, group: _Group) -> None:
        self._forget(group)
        self.stats.transactions += 1
        self._commits += 1
        ids: dict[int, set[str]] = {}
        batches: dict[tuple[int, str], BatchResult] = {}
        for item in group.items:
            if not item.done.done() and not item.replayed and item.result is not None:
                ids.setdefault(item.token.guild_id, set()).update(row.id for row in item.rows)
                batches[(item.token.guild_id, item.batch.batch_id)] = item.result
        self._recent.append((self._commits, ids, batches))  # dropped once no upload needs it (`_found`)
        now = self.clock()
        for item in group.items:
            if item.done.done():
                continue
            assert item.result is not None
            if item.replayed:
                self.stats.replayed_batches += 1
            else:
                self.state.get(item.token.guild_id).events_stored += len(item.rows)
                self.stats.batches += 1
                self.stats.accepted += item.result.accepted
                self.stats.duplicates += item.result.duplicates
                self.stats.ignored += item.result.ignored
                self.stats.last_batch_at = now
            item.done.set_result(item.result)
            self.feed.publish(item.changes)

    def _forget(self, group: _Group) -> None:
        for item in group.items:
            guild_id = item.token.guild_id
            self._pending_batches.pop((guild_id, item.batch.batch_id), None)
            pending = self._pending_ids.get(guild_id)
            if pending is not None:
                pending.difference_update(row.id for row in item.rows)

    async def _resync(self) -> None:
        """Back to what the database holds (the in-memory state may be ahead of it).

        A group being written is in the state already: the reload waits for its transaction, or it
        would load the database without that group and nothing would apply it again. The prepared
        group (`_ready`) is not handed over meanwhile (`_write` sees the generation move on).
        """
        self._generation += 1
        writing = self._writing
        if writing is not None:
            await asyncio.wait([writing[1]])  # its failure is the loop's to handle (`_recover`)
        async with self.db.lock:
            await self.state.reload_locked()
