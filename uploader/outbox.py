"""The durable outbox: the uploader's only SQL.

One SQLite file (WAL, `synchronous=NORMAL`) holds, per journal file, the offset just after the last
complete line already queued, the normaliser's state, the events waiting to be batched, the batches
waiting to be sent (each with its `batch_id` fixed when it was persisted), and the dead letters.
A file's offset, the normaliser state and the events read from it are written in ONE transaction,
so a crash at any instant neither loses nor duplicates a line.

NORMAL, not FULL: in WAL mode a power cut can roll back the last few transactions but never
splits one, and everything in this file can be made again from the journals, which stay on disk.
A rolled-back chunk is read again (the same lines give the same event ids) and a rolled-back
delivery is sent again (the bot counts it as duplicates). So atomicity is what matters, and the
fsync per chunk (one per journal file in a backfill: slow on a PC's disk) buys nothing.

Each program part (tailer, sender, status) opens its own `Outbox` (its own connection); SQLite
serialises the writers.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wire import SCHEMA_VERSION

logger = logging.getLogger(__name__)

_SELECT_BATCHES = (
    "SELECT id, batch_id, payload, n_events, attempts, next_attempt_at, created_at, attempted_at FROM batches"
)

# Numbered migrations, applied in order and tracked by `PRAGMA user_version`.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE sources (
            name        TEXT PRIMARY KEY,   -- journal file name (the wire `source`)
            fingerprint TEXT NOT NULL,      -- digest of the file's first line: detects replacement
            offset      INTEGER NOT NULL,   -- just after the last complete line already queued
            size_seen   INTEGER NOT NULL,
            mtime_ns    INTEGER NOT NULL,
            updated_at  REAL NOT NULL
        );
        CREATE TABLE state (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE events (
            seq      INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            source   TEXT NOT NULL,
            offset   INTEGER NOT NULL,
            payload  TEXT NOT NULL            -- the wire event's JSON
        );
        CREATE TABLE batches (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            batch_id        TEXT NOT NULL UNIQUE,
            sort_key        REAL NOT NULL,     -- sending order: oldest events first
            created_at      REAL NOT NULL,
            n_events        INTEGER NOT NULL,
            payload         TEXT NOT NULL,     -- the wire Batch JSON, sent as is on every retry
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL DEFAULT 0,
            last_error      TEXT
        );
        CREATE INDEX batches_order ON batches (sort_key);
        CREATE TABLE dead_letters (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            batch_id   TEXT NOT NULL,
            created_at REAL NOT NULL,
            n_events   INTEGER NOT NULL,
            status     INTEGER,
            reason     TEXT NOT NULL,
            payload    TEXT NOT NULL
        );
        """,
    ),
    (
        2,
        """
        -- When the current retry time was set (wall clock): a clock found earlier than this went
        -- back since, and the wait is kept from now instead (see `Sender.step`).
        ALTER TABLE batches ADD COLUMN attempted_at REAL;
        """,
    ),
)

NORMALISER_STATE = "normaliser_state"
LAST_SUCCESS_AT = "last_success_at"
LAST_ERROR = "last_error"
LAST_ERROR_AT = "last_error_at"
TOKEN_REFUSED = "token_refused"
HISTORY_SINCE = "history_since"

_INSERT_BATCH = """INSERT INTO batches (batch_id, sort_key, created_at, n_events, payload)
                   VALUES (?, ?, ?, ?, ?)"""


class OutboxError(Exception):
    """The outbox could not be opened or written (disk full, read-only folder, damaged file)."""


class OutboxConflictError(Exception):
    """Another writer moved a journal file's offset since this one read it: nothing was written."""


ANY_OFFSET = object()  # `commit_chunk(previous=...)` default: write whatever the stored offset is


@dataclass(frozen=True, slots=True)
class SourceState:
    name: str
    fingerprint: str
    offset: int
    size_seen: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    event_id: str
    offset: int
    payload: str  # the wire event's JSON


@dataclass(frozen=True, slots=True)
class PendingBatch:
    row_id: int
    batch_id: str
    payload: str
    n_events: int
    attempts: int
    next_attempt_at: float
    created_at: float
    attempted_at: float | None = None  # when `next_attempt_at` was set (None: by an older version)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    batch_id: str
    created_at: float
    n_events: int
    status: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class OutboxStats:
    files: int
    queued_events: int  # not yet in a batch
    batched_events: int  # in batches waiting to be sent
    batches: int
    dead_letters: int
    dead_letter_events: int
    last_success_at: float | None
    last_error: str | None
    last_error_at: float | None
    token_refused: str | None

    @property
    def pending_events(self) -> int:
        return self.queued_events + self.batched_events


def batch_json(batch_id: str, uploader_version: str, platform: str, event_payloads: Sequence[str]) -> str:
    """A wire Batch as JSON text, built from the stored event JSON without re-parsing it."""
    head = json.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "batch_id": batch_id,
            "uploader_version": uploader_version,
            "platform": platform,
        },
        separators=(",", ":"),
    )
    return head[:-1] + ',"events":[' + ",".join(event_payloads) + "]}"


class Outbox:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False: the tailer's connection is used from worker threads, one at a time.
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # why: see the module docstring
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(f"cannot open the outbox {path}: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing --------------------------------------------------------------------------------

    def _migrate(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        for number, sql in MIGRATIONS:
            if number <= version:
                continue
            self._db.execute("BEGIN IMMEDIATE")
            try:
                # Read again under the write lock: another process (the backfill's reader, a
                # second command) may have applied it meanwhile.
                (version,) = self._db.execute("PRAGMA user_version").fetchone()
                if number <= version:
                    self._db.execute("COMMIT")
                    continue
                for statement in sql.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {int(number)}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            logger.info("outbox %s migrated to version %d", self.path, number)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; any SQLite or OS failure becomes an `OutboxError`, rolled back."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot write the outbox {self.path}: {exc}") from exc
        try:
            yield self._db
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise OutboxError(f"cannot write the outbox {self.path}: {exc}") from exc
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            logger.debug("rollback after a failed outbox write also failed", exc_info=True)

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        try:
            return list(self._db.execute(sql, params).fetchall())
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot read the outbox {self.path}: {exc}") from exc

    # --- key/value state -------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM state WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def put(self, key: str, value: str | None) -> None:
        with self._tx() as db:
            _put(db, key, value)

    # --- the tailer's side -----------------------------------------------------------------------

    def sources(self) -> dict[str, SourceState]:
        rows = self._read("SELECT name, fingerprint, offset, size_seen, mtime_ns FROM sources")
        return {
            str(r[0]): SourceState(str(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4]))
            for r in rows
        }

    def commit_chunk(
        self,
        source: SourceState,
        events: Sequence[QueuedEvent],
        normaliser_state: str | None,
        *,
        previous: int | object | None = ANY_OFFSET,
    ) -> int:
        """Queue `events`, move `source`'s offset and save the normaliser state, all in one transaction.

        Returns how many events were queued; an id already waiting in the outbox is not queued twice.
        `previous`: the offset the writer read the outbox to hold for this file (None: no row). If
        another writer moved it meanwhile (a second uploader on the same state folder, a backfill's
        reader outliving its killed parent), nothing is written and `OutboxConflictError` is raised: the
        caller reloads and reads on from the stored offset, so no line is queued twice.
        """
        with self._tx() as db:
            if previous is not ANY_OFFSET:
                row = db.execute("SELECT offset FROM sources WHERE name = ?", (source.name,)).fetchone()
                stored = None if row is None else int(row[0])
                if stored != previous:
                    raise OutboxConflictError(
                        f"{source.name}: the outbox holds offset {stored}, this reader expected {previous}"
                    )
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO events (event_id, source, offset, payload) VALUES (?, ?, ?, ?)",
                [(e.event_id, source.name, e.offset, e.payload) for e in events],
            )
            queued = db.total_changes - before
            db.execute(
                """INSERT INTO sources (name, fingerprint, offset, size_seen, mtime_ns, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET fingerprint = excluded.fingerprint,
                       offset = excluded.offset, size_seen = excluded.size_seen,
                       mtime_ns = excluded.mtime_ns, updated_at = excluded.updated_at""",
                (source.name, source.fingerprint, source.offset, source.size_seen, source.mtime_ns,
                 self._clock()),
            )
            if normaliser_state is not None:
                _put(db, NORMALISER_STATE, normaliser_state)
        if queued != len(events):
            logger.warning("%d event(s) of %s were already queued; kept once", len(events) - queued,
                           source.name)
        return queued

    def pending_events(self) -> int:
        """Events not yet delivered: queued plus in batches (the outbox size bound counts these)."""
        rows = self._read(
            "SELECT (SELECT COUNT(*) FROM events), (SELECT COALESCE(SUM(n_events), 0) FROM batches)"
        )
        return int(rows[0][0]) + int(rows[0][1])

    # --- the sender's side -----------------------------------------------------------------------

    def next_batch(
        self, *, max_events: int, max_bytes: int, uploader_version: str, platform: str, min_events: int = 1
    ) -> PendingBatch | None:
        """The oldest batch waiting to be sent; when there is none, one made from the oldest queued
        events (bounded in events and bytes) and persisted with its `batch_id` before it is sent,
        if at least `min_events` are queued."""
        existing = self._oldest_batch()
        if existing is not None:
            return existing
        if not self._make_batch(max_events, max_bytes, uploader_version, platform, min_events):
            return None
        return self._oldest_batch()

    def batch_after(
        self,
        batch: PendingBatch,
        *,
        max_events: int,
        max_bytes: int,
        uploader_version: str,
        platform: str,
        min_events: int = 1,
    ) -> PendingBatch | None:
        """The batch to send once `batch` is delivered, made now from the queued events when there
        is none yet (and `min_events` are queued): the sender prepares it while `batch` is in flight."""
        following = self._batch_after(batch)
        if following is None and self._make_batch(
            max_events, max_bytes, uploader_version, platform, min_events
        ):
            following = self._batch_after(batch)
        return following

    def queued_events(self) -> int:
        """Events queued and not yet in a batch."""
        return int(self._read("SELECT COUNT(*) FROM events")[0][0])

    def _make_batch(
        self, max_events: int, max_bytes: int, uploader_version: str, platform: str, min_events: int = 1
    ) -> bool:
        """Persist one batch (with its `batch_id`) from the oldest queued events; False if fewer
        than `min_events` (at least one) are queued."""
        if min_events > 1 and self.queued_events() < min_events:
            return False  # counted first: reading a full batch's payloads to find it short costs MBs
        # The size in bytes (UTF-8, as sent): a name in Cyrillic is 2 bytes a character.
        rows = self._read(
            "SELECT seq, payload, length(CAST(payload AS BLOB)) FROM events ORDER BY seq LIMIT ?",
            (max_events,),
        )
        if not rows:
            return False
        batch_id = uuid.uuid4().hex
        overhead = len(batch_json(batch_id, uploader_version, platform, []))
        taken: list[str] = []
        size = overhead
        last_seq = 0
        for seq, payload, length in rows:
            if taken and size + int(length) + 1 > max_bytes:
                break
            taken.append(str(payload))
            size += int(length) + 1
            last_seq = int(seq)
        first_seq = int(rows[0][0])
        body = batch_json(batch_id, uploader_version, platform, taken)
        with self._tx() as db:
            db.execute("DELETE FROM events WHERE seq BETWEEN ? AND ?", (first_seq, last_seq))
            db.execute(
                _INSERT_BATCH,
                (batch_id, first_seq, self._clock(), len(taken), body),
            )
        return True

    def _oldest_batch(self) -> PendingBatch | None:
        return self._batch_row(
            self._read(_SELECT_BATCHES + " ORDER BY sort_key, id LIMIT 1")
        )

    def _batch_after(self, batch: PendingBatch) -> PendingBatch | None:
        return self._batch_row(
            self._read(
                _SELECT_BATCHES
                + " WHERE (sort_key, id) > (SELECT sort_key, id FROM batches WHERE id = ?)"
                " ORDER BY sort_key, id LIMIT 1",
                (batch.row_id,),
            )
        )

    @staticmethod
    def _batch_row(rows: list[Any]) -> PendingBatch | None:
        if not rows:
            return None
        r = rows[0]
        return PendingBatch(
            row_id=int(r[0]),
            batch_id=str(r[1]),
            payload=str(r[2]),
            n_events=int(r[3]),
            attempts=int(r[4]),
            next_attempt_at=float(r[5]),
            created_at=float(r[6]),
            attempted_at=None if r[7] is None else float(r[7]),
        )

    def delivered(self, batch: PendingBatch) -> None:
        """The server took the batch (2xx): forget it."""
        with self._tx() as db:
            db.execute("DELETE FROM batches WHERE id = ?", (batch.row_id,))
            _put(db, LAST_SUCCESS_AT, repr(self._clock()))
            _put(db, TOKEN_REFUSED, None)

    def dead_letter(self, batch: PendingBatch, status: int | None, reason: str) -> None:
        """The server refused the batch as bad (400/422): keep it aside with the server's message."""
        with self._tx() as db:
            db.execute("DELETE FROM batches WHERE id = ?", (batch.row_id,))
            self._keep_aside(db, batch.batch_id, batch.n_events, status, reason, batch.payload)

    def _keep_aside(
        self, db: sqlite3.Connection, batch_id: str, n_events: int, status: int | None, reason: str,
        payload: str,
    ) -> None:
        """One dead letter, and the server's reason as the last error (in the caller's transaction)."""
        now = self._clock()
        db.execute(
            """INSERT INTO dead_letters (batch_id, created_at, n_events, status, reason, payload)
               VALUES (?, ?, ?, ?, ?, ?)""",
            (batch_id, now, n_events, status, reason, payload),
        )
        _put(db, LAST_ERROR, reason)
        _put(db, LAST_ERROR_AT, repr(now))

    def set_aside(self, batch: PendingBatch, indexes: Sequence[int], status: int, reason: str) -> int:
        """The server refused some of a batch's events (422 naming them): those become one dead
        letter, the rest a new batch (new batch_id) in the batch's place, sent next. Returns how
        many events were set aside; 0, and nothing changed, when the indexes do not name a proper
        part of the batch (the caller then dead-letters it whole)."""
        document = json.loads(batch.payload)
        events = document["events"]
        bad = sorted({i for i in indexes if 0 <= i < len(events)})
        if not bad or len(bad) == len(events) or len(bad) != len(indexes):
            return 0
        refused = set(bad)

        def body(batch_id: str, part: list[Any]) -> str:
            return batch_json(batch_id, document["uploader_version"], document["platform"], _texts(part))

        kept = [e for i, e in enumerate(events) if i not in refused]
        set_aside = [events[i] for i in bad]
        batch_id = uuid.uuid4().hex
        with self._tx() as db:
            row = db.execute("SELECT sort_key FROM batches WHERE id = ?", (batch.row_id,)).fetchone()
            if row is None:
                return 0
            db.execute("DELETE FROM batches WHERE id = ?", (batch.row_id,))
            db.execute(
                _INSERT_BATCH, (batch_id, float(row[0]), batch.created_at, len(kept), body(batch_id, kept))
            )
            self._keep_aside(
                db, batch.batch_id, len(set_aside), status, reason, body(batch.batch_id, set_aside)
            )
        return len(set_aside)

    def requeue_dead_letters(self, uploader_version: str) -> tuple[int, int]:
        """Every dead letter back into the sending queue, ahead of the other batches (`colony-uploader
        resend`, once the bot was upgraded or fixed): each goes as a new batch (new batch_id, this
        uploader's version). Returns (batches, events) requeued."""
        now = self._clock()
        with self._tx() as db:  # read under the write lock: a second `resend` then finds none
            rows = db.execute("SELECT id, n_events, payload FROM dead_letters ORDER BY id").fetchall()
            first = db.execute("SELECT MIN(sort_key) FROM batches").fetchone()[0]
            # Ahead of every waiting batch, in the order they were refused.
            key = min(0.0, float(first) if first is not None else 0.0) - len(rows)
            for number, (row_id, n_events, payload) in enumerate(rows):
                document = json.loads(payload)
                batch_id = uuid.uuid4().hex
                body = batch_json(batch_id, uploader_version, document["platform"],
                                  _texts(document["events"]))
                db.execute(_INSERT_BATCH, (batch_id, key + number, now, int(n_events), body))
                db.execute("DELETE FROM dead_letters WHERE id = ?", (row_id,))
        return len(rows), sum(int(r[1]) for r in rows)

    def split(self, batch: PendingBatch) -> bool:
        """Replace a batch the server found too large (413) by its two halves, in the same place in
        the sending order, each with a new batch_id. False when it holds a single event."""
        document = json.loads(batch.payload)
        events = document["events"]
        if len(events) < 2:
            return False
        half = len(events) // 2
        rows = self._read("SELECT sort_key FROM batches WHERE id = ?", (batch.row_id,))
        if not rows:
            return False
        key = float(rows[0][0])
        after = self._read("SELECT MIN(sort_key) FROM batches WHERE sort_key > ?", (key,))[0][0]
        # The halves take the original's place: keys k and midway to the next batch's key.
        keys = (key, (key + (float(after) if after is not None else key + 1.0)) / 2.0)
        with self._tx() as db:
            db.execute("DELETE FROM batches WHERE id = ?", (batch.row_id,))
            for part, sort_key in zip((events[:half], events[half:]), keys, strict=True):
                batch_id = uuid.uuid4().hex
                body = batch_json(batch_id, document["uploader_version"], document["platform"], _texts(part))
                db.execute(_INSERT_BATCH, (batch_id, sort_key, batch.created_at, len(part), body))
        return True

    def retry_later(self, batch: PendingBatch, next_attempt_at: float, error: str) -> None:
        now = self._clock()
        with self._tx() as db:
            db.execute(
                """UPDATE batches SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?,
                   attempted_at = ? WHERE id = ?""",
                (next_attempt_at, error, now, batch.row_id),
            )
            _put(db, LAST_ERROR, error)
            _put(db, LAST_ERROR_AT, repr(now))

    def reschedule(self, batch: PendingBatch, next_attempt_at: float) -> None:
        """Move a batch's retry time (the clock went back), without counting an attempt."""
        with self._tx() as db:
            db.execute(
                "UPDATE batches SET next_attempt_at = ?, attempted_at = ? WHERE id = ?",
                (next_attempt_at, self._clock(), batch.row_id),
            )

    def token_refused(self, message: str) -> None:
        with self._tx() as db:
            _put(db, TOKEN_REFUSED, message)
            _put(db, LAST_ERROR, message)
            _put(db, LAST_ERROR_AT, repr(self._clock()))

    # --- status ----------------------------------------------------------------------------------

    def stats(self) -> OutboxStats:
        row = self._read(
            """SELECT (SELECT COUNT(*) FROM sources), (SELECT COUNT(*) FROM events),
                      (SELECT COALESCE(SUM(n_events), 0) FROM batches), (SELECT COUNT(*) FROM batches),
                      (SELECT COUNT(*) FROM dead_letters),
                      (SELECT COALESCE(SUM(n_events), 0) FROM dead_letters)"""
        )[0]
        ints = [int(v) for v in row]
        success = self.get(LAST_SUCCESS_AT)
        error_at = self.get(LAST_ERROR_AT)
        return OutboxStats(
            files=ints[0],
            queued_events=ints[1],
            batched_events=ints[2],
            batches=ints[3],
            dead_letters=ints[4],
            dead_letter_events=ints[5],
            last_success_at=float(success) if success else None,
            last_error=self.get(LAST_ERROR),
            last_error_at=float(error_at) if error_at else None,
            token_refused=self.get(TOKEN_REFUSED),
        )

    def dead_letters(self, limit: int = 20) -> list[DeadLetter]:
        rows = self._read(
            """SELECT batch_id, created_at, n_events, status, reason FROM dead_letters
               ORDER BY id DESC LIMIT ?""",
            (limit,),
        )
        return [
            DeadLetter(
                batch_id=str(r[0]),
                created_at=float(r[1]),
                n_events=int(r[2]),
                status=None if r[3] is None else int(r[3]),
                reason=str(r[4]),
            )
            for r in rows
        ]


def _texts(events: Sequence[Any]) -> list[str]:
    """Events parsed back from a stored batch, as JSON text again (compact, as first written)."""
    return [json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in events]


def _put(db: sqlite3.Connection, key: str, value: str | None) -> None:
    if value is None:
        db.execute("DELETE FROM state WHERE key = ?", (key,))
    else:
        db.execute(
            """INSERT INTO state (key, value) VALUES (?, ?)
               ON CONFLICT (key) DO UPDATE SET value = excluded.value""",
            (key, value),
        )
