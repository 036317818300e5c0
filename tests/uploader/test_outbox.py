"""The outbox: offsets and events in one transaction, batches with fixed ids, dead letters, bounds."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from uploader.outbox import MIGRATIONS, NORMALISER_STATE, Outbox, OutboxError, QueuedEvent, SourceState
from wire import Batch

pytestmark = pytest.mark.uploader_only

SOURCE = "Journal.2025-04-08T215854.01.log"


def _queued(evs: list[Any]) -> list[QueuedEvent]:
    return [QueuedEvent(e.id, e.offset, e.model_dump_json()) for e in evs]


def _source(offset: int, fingerprint: str = "fp1") -> SourceState:
    return SourceState(SOURCE, fingerprint, offset, offset, 1)


def _take(outbox: Outbox, max_events: int = 1000, max_bytes: int = 10**7) -> Any:
    return outbox.next_batch(max_events=max_events, max_bytes=max_bytes, uploader_version="0.1.0",
                             platform="linux")


def test_opens_in_wal_with_normal_sync_and_migrates_once(tmp_path: Path) -> None:
    path = tmp_path / "state" / "outbox.sqlite3"
    with Outbox(path):
        pass
    with Outbox(path) as outbox:
        assert outbox._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert outbox._db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 2


def test_a_version_1_outbox_is_migrated_keeping_its_batches(tmp_path: Path) -> None:
    """An outbox of the previous version, a batch waiting in it: migration 2 keeps the batch and
    its retry time; the time it was set is unknown (None)."""
    path = tmp_path / "o.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0][1] + "; PRAGMA user_version = 1;")
    db.execute(
        "INSERT INTO batches (batch_id, sort_key, created_at, n_events, payload, attempts, next_attempt_at) "
        "VALUES ('b1', 1, 100.0, 3, '{}', 2, 500.0)"
    )
    db.commit()
    db.close()
    with Outbox(path) as outbox:
        batch = _take(outbox)
        assert (batch.batch_id, batch.attempts, batch.next_attempt_at) == ("b1", 2, 500.0)
        assert batch.attempted_at is None


def test_chunk_commit_moves_offset_events_and_state_together(tmp_path: Path, events: Callable[..., Any]
                                                             ) -> None:
    path = tmp_path / "o.sqlite3"
    with Outbox(path) as outbox:
        assert outbox.commit_chunk(_source(300), _queued(events(3)), '{"k": 1}') == 3
    with Outbox(path) as outbox:  # survives a reopen
        assert outbox.sources()[SOURCE].offset == 300
        assert outbox.get(NORMALISER_STATE) == '{"k": 1}'
        assert outbox.pending_events() == 3


def test_a_failure_inside_the_transaction_leaves_neither_events_nor_offset(
    tmp_path: Path, events: Callable[..., Any]
) -> None:
    path = tmp_path / "o.sqlite3"
    with Outbox(path) as outbox:
        outbox.commit_chunk(_source(100), _queued(events(1)), "s1")
        # Fail the offset update AFTER the events were inserted in the same transaction.
        other = sqlite3.connect(path)
        other.execute("CREATE TRIGGER boom BEFORE UPDATE ON sources BEGIN SELECT RAISE(ABORT, 'crash'); END")
        other.commit()
        with pytest.raises(OutboxError, match=r"cannot write the outbox .*crash"):
            outbox.commit_chunk(_source(300), _queued(events(2, start=1)), "s2")
        assert outbox.pending_events() == 1
        assert outbox.sources()[SOURCE].offset == 100
        assert outbox.get(NORMALISER_STATE) == "s1"
        other.execute("DROP TRIGGER boom")
        other.commit()
        other.close()
        # The retry of the same lines then queues them once.
        assert outbox.commit_chunk(_source(300), _queued(events(2, start=1)), "s2") == 2
        assert outbox.pending_events() == 3


def test_an_event_already_waiting_is_not_queued_twice(tmp_path: Path, events: Callable[..., Any]) -> None:
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.commit_chunk(_source(200), _queued(events(2)), None)
        assert outbox.commit_chunk(_source(300), _queued(events(3)), None) == 1
        assert outbox.pending_events() == 3


def test_batches_are_bounded_oldest_first_and_keep_their_id(tmp_path: Path, events: Callable[..., Any]
                                                            ) -> None:
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        evs = events(25)
        outbox.commit_chunk(_source(2500), _queued(evs), None)
        first = _take(outbox, max_events=10)
        assert first.n_events == 10
        again = _take(outbox, max_events=10)
        assert again.batch_id == first.batch_id  # fixed once persisted, reused on every retry
        batch = Batch.model_validate_json(first.payload)
        assert batch.batch_id == first.batch_id
        assert [e.id for e in batch.events] == [e.id for e in evs[:10]]
        assert outbox.pending_events() == 25
        outbox.delivered(first)
        assert outbox.pending_events() == 15

        one_size = len(evs[0].model_dump_json())
        small = _take(outbox, max_bytes=200 + 3 * (one_size + 1))
        assert 1 <= small.n_events <= 3
        assert len(small.payload.encode()) <= 200 + 3 * (one_size + 1) + 10
        assert [e.id for e in Batch.model_validate_json(small.payload).events] == [
            e.id for e in evs[10 : 10 + small.n_events]
        ]


def test_a_single_event_larger_than_the_byte_bound_still_goes_alone(tmp_path: Path,
                                                                    events: Callable[..., Any]) -> None:
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.commit_chunk(_source(300), _queued(events(3)), None)
        assert _take(outbox, max_bytes=10).n_events == 1


def test_split_keeps_order_and_gives_new_ids(tmp_path: Path, events: Callable[..., Any]) -> None:
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        evs = events(5)
        outbox.commit_chunk(_source(500), _queued(evs), None)
        whole = _take(outbox)
        assert outbox.split(whole)
        first = _take(outbox)
        assert first.batch_id != whole.batch_id
        outbox.delivered(first)
        second = _take(outbox)
        outbox.delivered(second)
        ids = [e.id for b in (first, second) for e in Batch.model_validate_json(b.payload).events]
        assert ids == [e.id for e in evs]
        assert (first.n_events, second.n_events) == (2, 3)
        assert outbox.pending_events() == 0


def test_split_of_one_event_is_refused_and_dead_letter_keeps_the_reason(tmp_path: Path,
                                                                      events: Callable[..., Any]) -> None:
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.commit_chunk(_source(100), _queued(events(1)), None)
        batch = _take(outbox)
        assert not outbox.split(batch)
        outbox.dead_letter(batch, 400, "400 malformed: events[0].kind unknown")
        stats = outbox.stats()
        assert (stats.pending_events, stats.dead_letters, stats.dead_letter_events) == (0, 1, 1)
        [letter] = outbox.dead_letters()
        assert (letter.batch_id, letter.status, letter.reason) == (
            batch.batch_id, 400, "400 malformed: events[0].kind unknown")
        assert stats.last_error == "400 malformed: events[0].kind unknown"


def test_retry_later_counts_attempts(tmp_path: Path, events: Callable[..., Any]) -> None:
    with Outbox(tmp_path / "o.sqlite3", clock=lambda: 1000.0) as outbox:
        outbox.commit_chunk(_source(100), _queued(events(1)), None)
        batch = _take(outbox)
        outbox.retry_later(batch, 1042.0, "503 busy")
        again = _take(outbox)
        assert (again.batch_id, again.attempts, again.next_attempt_at) == (batch.batch_id, 1, 1042.0)
        assert outbox.stats().last_error == "503 busy"


def test_full_disk_gives_an_outbox_error_and_keeps_what_was_stored(tmp_path: Path,
                                                                   events: Callable[..., Any]) -> None:
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.commit_chunk(_source(100), _queued(events(1)), "s1")
        pages = outbox._db.execute("PRAGMA page_count").fetchone()[0]
        outbox._db.execute(f"PRAGMA max_page_count = {pages}")  # the file may not grow: a full disk
        big = [QueuedEvent(f"{i:032x}", i, json.dumps({"pad": "x" * 4000})) for i in range(100, 200)]
        with pytest.raises(OutboxError, match="database or disk is full"):
            outbox.commit_chunk(_source(9999), big, "s2")
        assert outbox.pending_events() == 1
        assert outbox.sources()[SOURCE].offset == 100
        assert outbox.get(NORMALISER_STATE) == "s1"


def test_unusable_state_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the folder should be", encoding="utf-8")
    with pytest.raises(OutboxError, match=r"cannot open the outbox .*state"):
        Outbox(blocker / "outbox.sqlite3")
    assert blocker.read_text(encoding="utf-8") == "a file where the folder should be"


def test_the_byte_bound_counts_bytes_not_characters(tmp_path: Path) -> None:
    """Names in Cyrillic are 2 bytes a character in the UTF-8 sent: a batch stays under the bound
    a proxy or the bot enforces in bytes."""
    name = "\u0421\u0442\u0430\u043d\u0446\u0438\u044f " * 40  # "Станция " x 40: 320 characters
    payloads = [json.dumps({"kind": "x", "station": name, "n": i}, ensure_ascii=False) for i in range(20)]
    assert all(len(p.encode()) > 1.5 * len(p) for p in payloads)
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        outbox.commit_chunk(_source(3000), [QueuedEvent(f"{i:032x}", i, p) for i, p in enumerate(payloads)],
                            None)  # fmt: skip
        bound = 8192
        sent = 0
        while sent < len(payloads):
            batch = _take(outbox, max_bytes=bound)
            assert len(batch.payload.encode()) <= bound
            sent += batch.n_events
            outbox.delivered(batch)
        assert sent == 20


def test_a_migration_another_process_applied_meanwhile_is_not_applied_twice(tmp_path: Path) -> None:
    """Two processes open a version-1 outbox at once (an upgrade: the backfill's reader and the
    sender): both read version 1; the one that gets the write lock second must see version 2."""
    with Outbox(tmp_path / "o.sqlite3") as outbox:  # migrated to the last version

        class FirstReadStale:
            """The connection, but its first `user_version` read is from before the other's."""

            def __init__(self, db: sqlite3.Connection) -> None:
                self.db, self.stale = db, True

            def execute(self, sql: str, *args: Any) -> Any:
                if sql == "PRAGMA user_version" and self.stale:
                    self.stale = False
                    return self.db.execute("SELECT 1")
                return self.db.execute(sql, *args)

        real = outbox._db
        outbox._db = FirstReadStale(real)  # type: ignore[assignment]
        try:
            outbox._migrate()  # must not run ALTER TABLE ... ADD COLUMN attempted_at again
        finally:
            outbox._db = real
        assert real.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_two_resends_at_once_queue_each_dead_letter_once(tmp_path: Path, events: Callable[..., Any]) -> None:
    """`resend` twice at the same moment (two terminals): each dead letter goes back once. The
    second resend runs just before the first takes its write lock, after any read outside it."""
    path = tmp_path / "o.sqlite3"
    with Outbox(path) as first, Outbox(path) as second:
        first.commit_chunk(_source(100), _queued(events(3)), None)
        first.dead_letter(_take(first), 422, "422 invalid: no")
        real_tx = first._tx
        others: list[tuple[int, int]] = []

        def other_resend_first() -> Any:
            if not others:
                others.append(second.requeue_dead_letters("2"))
            return real_tx()

        first._tx = other_resend_first  # type: ignore[method-assign]
        mine = first.requeue_dead_letters("2")
        assert others == [(1, 3)]
        assert mine == (0, 0)
        stats = first.stats()
        assert (stats.batches, stats.batched_events, stats.dead_letters) == (1, 3, 0)
