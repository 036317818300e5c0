"""The intake's write path: multi-row inserts, one-hop transactions, and the next group prepared
while one is being written (with what that means when the written one fails)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.domain.guild import GuildState
from bot.domain.keys import Envelope
from bot.store.db import MAX_ROWS_PER_STATEMENT, Database, insert_rows
from bot.store.events import EventRow
from bot.store.projections import ProjectionStore
from bot.store.tokens import TokenRecord
from tests.bot._helpers import BOUND, Bot, Journal, batch
from tests.bot._helpers import until as _until
from wire import Batch, BatchResult

SITE = 3958981890


def _table(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b REAL, c TEXT, d BLOB)")


ROWS = [
    (n, n / 3 + 1e-17 * n, f"row {n} é😀 \"'\\ \n", None if n % 2 else b"\x00\xff") for n in range(1, 1234)
]


def test_insert_rows_stores_exactly_what_executemany_stores() -> None:
    many = sqlite3.connect(":memory:", isolation_level=None)
    multi = sqlite3.connect(":memory:", isolation_level=None)
    for conn in (many, multi):
        _table(conn)
    sql = "INSERT INTO t (a, b, c, d) VALUES (?, ?, ?, ?)"
    many.executemany(sql, ROWS)
    statements: list[str] = []
    multi.set_trace_callback(statements.append)
    insert_rows(multi, sql, ROWS)
    assert len(ROWS) > 2 * MAX_ROWS_PER_STATEMENT  # so several statements, the last one shorter
    assert len(statements) == -(-len(ROWS) // MAX_ROWS_PER_STATEMENT)
    dump = "SELECT a, b, c, d, typeof(b), typeof(d) FROM t ORDER BY a"
    assert multi.execute(dump).fetchall() == many.execute(dump).fetchall()


def test_insert_rows_keeps_executemany_for_other_statements() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    _table(conn)
    insert_rows(conn, "INSERT INTO t (a, b, c, d) VALUES (?, ?, ?, ?)", ROWS[:10])
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    insert_rows(conn, "DELETE FROM t WHERE a = ?", [(1,), (2,), (3,)])
    assert len(statements) == 3  # one per row, as executemany
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (7,)


def test_insert_rows_refuses_a_row_of_the_wrong_length() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    _table(conn)
    rows = [(1, 1.0, "a", None), (2, 2.0, "b")]  # a short row would shift every value after it
    with pytest.raises(sqlite3.ProgrammingError, match="every row must have 4 values"):
        insert_rows(conn, "INSERT INTO t (a, b, c, d) VALUES (?, ?, ?, ?)", rows)
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


async def test_run_transaction_is_all_or_none(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    await db.open()
    try:
        await db.run_transaction(_table)

        def half(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t (a) VALUES (1)")
            raise RuntimeError("disk on fire")

        with pytest.raises(RuntimeError, match="disk on fire"):
            await db.run_transaction(half)
        assert not db.conn.in_transaction
        assert await db.read(lambda conn: conn.execute("SELECT count(*) FROM t").fetchone()) == (0,)
    finally:
        await db.close()


async def test_a_cancelled_caller_still_finishes_its_transaction(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    await db.open()
    started, release = threading.Event(), threading.Event()
    try:
        await db.run_transaction(_table)

        def slow(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t (a) VALUES (1)")
            started.set()
            release.wait(BOUND)
            conn.execute("INSERT INTO t (a) VALUES (2)")

        task = asyncio.create_task(db.run_transaction(slow))
        await _until(started.is_set, "the transaction runs")
        task.cancel()
        await asyncio.sleep(0)  # let the cancellation land while the work is still running
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The work ran to its COMMIT; the lock is free and the connection outside a transaction.
        assert not db.lock.locked()
        assert not db.conn.in_transaction
        rows = await db.read(lambda conn: conn.execute("SELECT a FROM t ORDER BY a").fetchall())
        assert rows == [(1,), (2,)]
    finally:
        release.set()
        await db.close()


async def _uploader(bot: Bot) -> TokenRecord:
    """A token's record, as the intake is handed it after authentication."""
    record = await bot.services.tokens.authenticate(await bot.token())
    assert record is not None
    return record


@contextmanager
def _held_insert(bot: Bot, poison: set[str]) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Makes the intake's event insert wait (on the database's thread) until released, and fail
    for rows whose id is in `poison`."""
    intake = bot.services.intake
    original = intake.events.insert
    writing, release = threading.Event(), threading.Event()

    def insert(conn: sqlite3.Connection, rows: list[EventRow]) -> None:
        writing.set()
        release.wait(BOUND)
        if any(row.id in poison for row in rows):
            raise RuntimeError("this one cannot be written")
        original(conn, rows)

    intake.events.insert = insert  # type: ignore[method-assign]
    try:
        yield writing, release
    finally:
        release.set()
        intake.events.insert = original  # type: ignore[method-assign]


async def test_the_next_batch_is_prepared_while_one_is_written(bot_api: Bot) -> None:
    record = await _uploader(bot_api)
    intake = bot_api.services.intake
    a, b = Journal("Alice", source="a.log"), Journal("Bob", source="b.log")
    first = Batch.model_validate(batch([a.depot(0, SITE, {"steel": (100, 10)})]))
    second = Batch.model_validate(batch([b.contribution(1, SITE, {"steel": 5})]))
    with _held_insert(bot_api, set()) as (writing, release):
        one = asyncio.create_task(intake.submit(record, first))
        await _until(writing.is_set, "the first batch is being written")
        two = asyncio.create_task(intake.submit(record, second))
        # Prepared (its events counted as pending) while the first transaction is still open.
        await _until(lambda: second.events[0].id in intake._pending_ids.get(111, set()), "it is prepared")
        assert not one.done()
        release.set()
        results = await asyncio.wait_for(asyncio.gather(one, two), BOUND)
    assert results == [BatchResult(accepted=1, duplicates=0, ignored=0)] * 2
    assert intake.stats.transactions == 2
    count, _ = await bot_api.snapshot()
    assert count == 2


async def test_what_was_prepared_on_a_failed_write_is_prepared_again(bot_api: Bot) -> None:
    """The batch prepared while the group before it is written counted an event of that group as a
    duplicate; the group fails, so the event is the next batch's to store after all."""
    record = await _uploader(bot_api)
    intake = bot_api.services.intake
    alice = Journal("Alice")
    bad_event = alice.contribution(1, SITE, {"steel": 7})
    shared = alice.depot(2, SITE, {"steel": (100, 40)})
    later = alice.contribution(3, SITE, {"steel": 3})
    first = Batch.model_validate(batch([bad_event, shared]))
    second = Batch.model_validate(batch([shared, later]))
    poison = {first.events[0].id}
    with _held_insert(bot_api, poison) as (writing, release):
        one = asyncio.create_task(intake.submit(record, first))
        await _until(writing.is_set, "the first batch is being written")
        two = asyncio.create_task(intake.submit(record, second))
        await _until(lambda: second.events[1].id in intake._pending_ids.get(111, set()), "it is prepared")
        release.set()
        results = await asyncio.wait_for(asyncio.gather(one, two, return_exceptions=True), BOUND)
    assert isinstance(results[0], RuntimeError)
    assert results[1] == BatchResult(accepted=2, duplicates=0, ignored=0)
    count, _ = await bot_api.snapshot()
    assert count == 2
    # The state in memory is what a fresh start would load from the database.
    view = await bot_api.services.queries.site(111, SITE)
    assert view is not None
    assert {(c.commander, c.tonnes) for c in view.contributions} == {("Alice", 3)}
    fresh = await ProjectionStore().load(bot_api.db.conn)
    assert fresh[111].site_view(SITE) == view


async def test_stored_payloads_are_the_models_canonical_json(bot_api: Bot) -> None:
    """The payload column (what `rebuild` reads) is `model_dump_json()` of each validated event,
    whatever the client's own formatting, for a known kind and a newer one with extra fields."""
    token = await bot_api.token()
    alice = Journal("Alice")
    known = alice.depot(0, SITE, {"steel": (100, 10)}) | {"timestamp": "2025-04-08T22:00:00+02:00"}
    newer = alice.event("fleet_storage", 1, note="é😀 \u2028", big=2**70, ratio=0.1)
    body = batch([known, newer])
    status, answer = await bot_api.post(token, body)
    assert (status, answer) == (200, {"accepted": 1, "duplicates": 0, "ignored": 1})
    expected = [event.model_dump_json() for event in Batch.model_validate(body).events]
    stored = await bot_api.db.read(
        lambda conn: conn.execute("SELECT payload FROM events ORDER BY seq").fetchall()
    )
    assert [row[0] for row in stored] == expected


async def test_a_look_up_older_than_a_commit_still_sees_it(
    bot_api: Bot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An upload is looked up in the database when it arrives; prepared only after a group that
    stored one of its events has committed (and left the pending set), it still counts that event
    as a duplicate instead of failing on the unique index."""
    monkeypatch.setattr("bot.services.intake.MAX_GROUP_BATCHES", 1)  # one upload per transaction
    record = await _uploader(bot_api)
    intake = bot_api.services.intake
    a, c = Journal("Alice", source="a.log"), Journal("Carol", source="c.log")
    shared = a.contribution(1, SITE, {"steel": 7})
    first = Batch.model_validate(batch([shared]))
    other = Batch.model_validate(batch([c.contribution(2, SITE, {"steel": 1})]))
    last = Batch.model_validate(batch([shared, a.contribution(3, SITE, {"steel": 3})]))
    with _held_insert(bot_api, set()) as (writing, release):
        one = asyncio.create_task(intake.submit(record, first))
        await _until(writing.is_set, "the first batch is being written")
        two = asyncio.create_task(intake.submit(record, other))  # prepared next: the group is full
        await _until(lambda: other.events[0].id in intake._pending_ids.get(111, set()), "it is prepared")
        three = asyncio.create_task(intake.submit(record, last))
        await _until(
            lambda: any(i.batch is last and i.found is not None and i.found.done() for i in intake._queue),
            "the last batch is looked up, before the first commits",
        )
        release.set()
        results = await asyncio.wait_for(asyncio.gather(one, two, three), BOUND)
    assert results[2] == BatchResult(accepted=1, duplicates=1, ignored=0)
    assert "retrying them one by one" not in caplog.text
    count, _ = await bot_api.snapshot()
    assert count == 3


async def test_an_upload_prepared_again_twice_keeps_its_latest_look_up(bot_api: Bot) -> None:
    """Two failed groups in a row: the upload prepared on top of the first is looked up again (what
    it was looked up against is gone), then, when its own group fails, prepared a third time. That
    third time must pair the latest look-up with the commits after it, not the first look-up: the
    first missed an event committed between the two, which then counted as new and failed the
    insert (a 500 for a valid upload)."""
    record = await _uploader(bot_api)
    intake = bot_api.services.intake
    alice, bob = Journal("Alice", source="a.log"), Journal("Bob", source="b.log")
    eve = Journal("Eve", source="e.log")
    shared = alice.contribution(1, SITE, {"steel": 7})
    first = Batch.model_validate(batch([shared]))
    later = Batch.model_validate(batch([shared, bob.contribution(2, SITE, {"steel": 3})]))
    bad_one = Batch.model_validate(batch([eve.contribution(3, SITE, {"steel": 1})]))
    bad_two = Batch.model_validate(batch([eve.contribution(4, SITE, {"steel": 1})]))
    poison = {bad_one.events[0].id, bad_two.events[0].id}
    with _held_insert(bot_api, poison) as (writing, release):
        one = asyncio.create_task(intake.submit(record, first))
        two = asyncio.create_task(intake.submit(record, bad_one))  # the same group as `first`
        await _until(writing.is_set, "the first group is being written")
        assert intake._writing is not None
        assert len(intake._writing[0].items) == 2
        three = asyncio.create_task(intake.submit(record, later))
        four = asyncio.create_task(intake.submit(record, bad_two))
        await _until(
            lambda: intake._ready is not None and len(intake._ready.items) == 2, "the next is prepared"
        )
        release.set()
        results = await asyncio.wait_for(asyncio.gather(one, two, three, four, return_exceptions=True), BOUND)
    assert results[0] == BatchResult(accepted=1, duplicates=0, ignored=0)
    assert isinstance(results[1], RuntimeError)
    assert results[2] == BatchResult(accepted=1, duplicates=1, ignored=0)
    assert isinstance(results[3], RuntimeError)
    count, _ = await bot_api.snapshot()
    assert count == 2
    view = await bot_api.services.queries.site(111, SITE)
    fresh = await ProjectionStore().load(bot_api.db.conn)
    assert fresh[111].site_view(SITE) == view


async def test_a_reload_while_a_group_is_written_keeps_that_group_and_the_next(
    bot_api: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upload fails while being prepared (a bug's path: the state is reloaded) while one group is
    being written and the next is prepared. The reload must come after the written group commits,
    and the prepared one must be prepared again on the reloaded state, not written as it was: the
    state in memory then equals what a fresh start loads."""
    record = await _uploader(bot_api)
    intake = bot_api.services.intake
    a, b = Journal("Alice", source="a.log"), Journal("Bob", source="b.log")
    c = Journal("Carol", source="c.log")
    first = Batch.model_validate(batch([a.depot(0, SITE, {"steel": (100, 10)})]))
    second = Batch.model_validate(batch([b.contribution(1, SITE, {"steel": 5})]))
    third = Batch.model_validate(batch([c.contribution(2, SITE, {"steel": 9})]))
    poison = third.events[0].id
    apply = GuildState.apply

    def failing_apply(self: GuildState, envelope: Envelope) -> None:
        if envelope.event.id == poison:
            raise RuntimeError("a bug met while preparing")
        apply(self, envelope)

    monkeypatch.setattr(GuildState, "apply", failing_apply)
    with _held_insert(bot_api, set()) as (writing, release):
        one = asyncio.create_task(intake.submit(record, first))
        await _until(writing.is_set, "the first group is being written")
        two = asyncio.create_task(intake.submit(record, second))
        await _until(lambda: intake._ready is not None, "the second is prepared")
        three = asyncio.create_task(intake.submit(record, third))
        generation = intake._generation
        await _until(lambda: intake._generation > generation, "the third failed and a reload began")
        release.set()
        results = await asyncio.wait_for(asyncio.gather(one, two, three, return_exceptions=True), BOUND)
    assert results[:2] == [BatchResult(accepted=1, duplicates=0, ignored=0)] * 2
    assert isinstance(results[2], RuntimeError)
    count, _ = await bot_api.snapshot()
    assert count == 2
    view = await bot_api.services.queries.site(111, SITE)
    assert view is not None
    assert [(x.commander, x.tonnes) for x in view.contributions] == [("Bob", 5)]
    fresh = await ProjectionStore().load(bot_api.db.conn)
    assert fresh[111].site_view(SITE) == view
