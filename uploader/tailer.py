"""Tailing the journal folder into the outbox.

`Tailer.poll_once()` reads every journal, oldest first, from its stored offset; consumes complete
lines only; normalises them; and commits each chunk's events together with the file's new offset and
the normaliser's state in one outbox transaction. Reading is idempotent, so it is safe to call as
often as we like: `tail()` calls it whenever watchdog sees a journal change and at least every
`poll_interval` (watchdog alone misses growth of open files on some systems, and never sees network
drives). A poll costs what may have changed, not the years of journals a folder keeps: a finished
older journal is looked at when watchdog names it and every `RECHECK_SECONDS`.

Handled: a folder that does not exist yet; new files (a new session, a `Continued` part); a file
truncated (size below the offset) or replaced at the same path (its first-line fingerprint changed),
both re-read from the start; an outbox past its size bound (reading pauses, nothing is dropped).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from uploader.journal.files import JournalFile, is_journal_name, journal_file, oldest_first, previous_part
from uploader.journal.reader import fingerprint, read_complete_lines
from uploader.normalise.normaliser import Normaliser, NormaliserState, SideFiles
from uploader.outbox import (
    NORMALISER_STATE,
    Outbox,
    OutboxConflictError,
    QueuedEvent,
    SourceState,
)
from uploader.sender import wait_any

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_BYTES = 1024 * 1024
# An older journal not written for this long is finished: its unterminated last line (a game that
# crashed mid-line) is taken as whole. Before that, a second game instance may still be writing it.
QUIET_SECONDS = 60.0
TAIL_BYTES = 256 * 1024  # more than any journal line (the longest, Market-sized, are ~100 kB)
# The folder keeps every journal ever written, but only the newest grow (one per game instance).
# An older journal read to its end and quiet is not even stat'ed at each poll: only when watchdog
# names it, and every RECHECK_SECONDS (a game instance back at it, or a file restored, is not lost).
LIVE_JOURNALS = 2
RECHECK_SECONDS = 60.0


@dataclass(slots=True)
class TailProgress:
    """What one `poll_once` did."""

    bytes_read: int = 0
    lines: int = 0
    events: int = 0
    files: int = 0  # journal files looked at (finished older ones are passed by between re-checks)
    blocked: bool = False  # the outbox is full: reading paused until the sender drains it
    folder_missing: bool = False
    stopped: bool = False
    conflict: bool = False  # another reader committed first: poll again to go on from its offset
    # A journal could not be read (a network share's hiccup, an antivirus lock): nothing of it was
    # consumed; poll again later.
    read_error: str | None = None


class Tailer:
    def __init__(
        self,
        folder: Path,
        outbox: Outbox,
        *,
        side_files: SideFiles | None = None,
        since: datetime | None = None,
        outbox_max_events: int = 500_000,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        on_commit: Callable[[int], object] | None = None,
        stop_flag: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = folder
        self._outbox = outbox
        self._side_files = side_files
        self._since = since
        self._max_pending = outbox_max_events
        self._chunk_bytes = chunk_bytes
        self._on_commit = on_commit
        self.stop_flag = stop_flag if stop_flag is not None else threading.Event()
        # A folder keeps every session ever played (thousands of journals), so each name is judged
        # once: its journal (header read), or None for anything else (Status.json, a folder...).
        self._listing: frozenset[str] = frozenset()  # the folder's names when last judged
        self._judged: dict[str, JournalFile | None] = {}
        self._files: list[JournalFile] = []  # the journals to read, oldest first
        self._clock = clock
        self._next_recheck = clock()  # when every journal is looked at again: at once, the first time
        # Journals watchdog saw change since the last poll (its thread adds to it): looked at even
        # when finished.
        self._named: set[str] = set()
        self._named_lock = threading.Lock()
        self._sources: dict[str, SourceState] = {}
        self._normaliser = Normaliser()
        self._loaded = False
        self.total_bytes_read = 0
        self.total_events = 0
        self._paused = False  # reading waits for the outbox to drain (said once per pause)
        self._read_errors: set[str] = set()  # said once each, until a poll reads without one

    # --- state -----------------------------------------------------------------------------------

    def _load(self) -> None:
        """(Re)load offsets and the normaliser state from the outbox: the one source of truth."""
        self._sources = self._outbox.sources()
        raw = self._outbox.get(NORMALISER_STATE)
        state = NormaliserState.model_validate_json(raw) if raw else None
        self._normaliser = Normaliser(state, self._side_files)
        self._loaded = True

    def reload(self) -> None:
        """Forget what this tailer knows: its next poll loads offsets and context from the outbox
        (another reader has been writing it)."""
        self._loaded = False

    def remaining_bytes(self) -> int:
        """Bytes of journal not yet read (for progress display)."""
        if not self.folder.is_dir():
            return 0
        if not self._loaded:
            self._load()
        total = 0
        for journal in self._journals():
            try:
                size = journal.path.stat().st_size
            except OSError:
                continue
            known = self._sources.get(journal.name)
            total += max(size - (known.offset if known else 0), 0)
        return total

    def _journals(self) -> list[JournalFile]:
        try:
            listing = frozenset(os.listdir(self.folder))
        except OSError:
            return []
        if listing != self._listing:
            self._relist(listing)
        return self._files

    def _relist(self, listing: frozenset[str]) -> None:
        """Judge the names not judged before, and order the journals again.

        A journal whose header could not be read yet (the game had only just created it) is judged
        again at each change of the folder: its header, once there, dates it.
        """
        judged: dict[str, JournalFile | None] = {}
        unsure = new = False
        for name in listing:
            journal = self._judged.get(name)
            if name not in self._judged or (journal is not None and not journal.dated):
                if not is_journal_name(name):
                    journal = None
                elif (self.folder / name).is_file():
                    journal = journal_file(self.folder / name)
                    new = new or name not in self._judged
                else:  # a network share's hiccup, or gone: not judged for good, asked again next poll
                    unsure = True
                    continue
            judged[name] = journal
        files = [journal for journal in judged.values() if journal is not None]
        if self._since is not None:
            since = self._since
            files = [f for f in files if f.started >= since]
        self._files = oldest_first(files)
        self._judged = judged  # names gone from the folder are forgotten
        self._listing = frozenset() if unsure else listing
        if new:
            # A new session or a `Continued` part: every older journal is looked at in this poll,
            # so what they got meanwhile (part 1's last lines, whose context part 2 carries on)
            # is read before it.
            self._next_recheck = min(self._next_recheck, self._clock())

    def _forget(self, name: str) -> None:
        """Judge `name` again at the next poll (deleted, renamed or replaced under us), and look at it
        even if what was there had been read to its end."""
        self._judged.pop(name, None)
        self._listing = frozenset()
        self.journal_changed(name)

    def journal_changed(self, name: str) -> None:
        """The journal `name` changed (watchdog saw it; any thread): the next poll looks at it."""
        with self._named_lock:
            self._named.add(name)

    def _take_named(self) -> set[str]:
        with self._named_lock:
            named, self._named = self._named, set()
        return named

    def _to_look_at(
        self, files: list[JournalFile], named: set[str], recheck: bool
    ) -> list[tuple[JournalFile, bool]]:
        """The journals this poll looks at, each with whether it is older than the newest one.

        All of them at a re-check. Else the newest `LIVE_JOURNALS`, those named, and any older one
        that its last look found not read to its end, or modified less than `QUIET_SECONDS` ago (a
        second game instance may be writing it).
        """
        newest = len(files) - 1
        live = len(files) - LIVE_JOURNALS
        quiet_before = time.time_ns() - int(QUIET_SECONDS * 1e9)
        return [
            (journal, index < newest)
            for index, journal in enumerate(files)
            if recheck or index >= live or journal.name in named or not self._settled(journal, quiet_before)
        ]

    def _settled(self, journal: JournalFile, quiet_before: int) -> bool:
        """Whether its last look found the journal read to its end and last modified before
        `quiet_before` (ns)."""
        known = self._sources.get(journal.name)
        return known is not None and known.offset >= known.size_seen and known.mtime_ns < quiet_before

    # --- reading ---------------------------------------------------------------------------------

    def poll_once(self) -> TailProgress:
        """Read everything new in the folder into the outbox (until done, stopped or full)."""
        progress = TailProgress()
        if not self.folder.is_dir():
            progress.folder_missing = True
            return progress
        if not self._loaded:
            self._load()
        try:
            self._poll(progress)
        except OutboxConflictError as exc:
            # Another reader of this state folder got there first (see `Outbox.commit_chunk`):
            # nothing of this chunk was written; go on from what the outbox now holds.
            logger.warning("another reader moved on in the outbox (%s); reloading its state", exc)
            self._loaded = False
            progress.conflict = True
        except BaseException:
            # The outbox refused a write (or we were interrupted): the in-memory normaliser may be
            # ahead of what was committed, so start again from what the outbox holds.
            self._loaded = False
            raise
        return progress

    def _poll(self, progress: TailProgress) -> None:
        try:
            files = self._journals()
        except OSError as exc:
            self._read_failed(progress, f"cannot list {self.folder}: {exc}")
            return
        recheck = self._clock() >= self._next_recheck
        named = self._take_named()
        done = False
        try:
            done = self._read_all(self._to_look_at(files, named, recheck), progress)
        finally:
            if not done:
                for name in named:  # not all looked at (stopped, blocked, failed): the next poll does
                    self.journal_changed(name)
        if not done:
            return
        if recheck:
            self._next_recheck = self._clock() + RECHECK_SECONDS
        if progress.read_error is None and self._read_errors:
            logger.info("journals readable again")
            self._read_errors.clear()

    def _read_all(self, journals: list[tuple[JournalFile, bool]], progress: TailProgress) -> bool:
        """Read each (journal, older) in turn; False when reading stopped before the end."""
        for journal, older in journals:
            if self.stop_flag.is_set():
                progress.stopped = True
                return False
            progress.files += 1
            try:
                status = self._read_file(journal, older, progress)
            except FileNotFoundError:
                self._forget(journal.name)  # deleted or renamed under us
                continue
            except OSError as exc:
                # Nothing of it was consumed; the next poll retries it. The newer journals are read
                # meanwhile (each has its own context): an older file locked for good (a backup
                # tool, another account's copy) must not hold the live one back.
                self._read_failed(progress, f"cannot read {journal.name}: {exc}")
                self.journal_changed(journal.name)  # looked at again even if it seemed finished
                continue
            if status != "ok":
                return False
        return True

    @staticmethod
    def _finished(path: Path, st: os.stat_result) -> bool:
        """Whether an older journal's unterminated last line is all there will be of it.

        Only the newest journal grows, unless two game instances write at once (a hauling alt):
        then an older one may be mid-line. Its tail counts as whole when it is a whole JSON object
        (a game that stopped before the line end), or once the file has been quiet for
        `QUIET_SECONDS` (what a crash left: read, and skipped as not JSON).
        """
        if time.time() - st.st_mtime > QUIET_SECONDS:
            return True
        with path.open("rb") as f:
            f.seek(max(0, st.st_size - 1))
            if f.read(1) in (b"\n", b""):
                return True  # ends with a whole line: the usual case, one byte read
            f.seek(max(0, st.st_size - TAIL_BYTES))
            tail = f.read()
        tail = tail[tail.rfind(b"\n") + 1 :].strip(b"\x00\r\t ")
        if not tail:
            return True  # nothing unterminated
        try:
            return isinstance(orjson.loads(tail), dict)
        except orjson.JSONDecodeError:
            return False

    def _read_failed(self, progress: TailProgress, message: str) -> None:
        progress.read_error = message
        # From what the outbox holds again: the normaliser may have started the file over
        # (`restart_file`) for a read that then failed.
        self._loaded = False
        if message not in self._read_errors:  # once per failure, not at every poll
            logger.warning("%s; trying again", message)
            self._read_errors.add(message)

    def _read_file(self, journal: JournalFile, older: bool, progress: TailProgress) -> str:
        name = journal.name
        st = journal.path.stat()
        known = self._sources.get(name)
        if (
            known is not None
            and st.st_size == known.size_seen
            and st.st_mtime_ns == known.mtime_ns
            and known.offset >= st.st_size
        ):
            return "ok"  # unchanged and fully read
        digest = fingerprint(journal.path)
        if digest is None:
            return "ok"  # no complete first line yet
        offset = 0
        if known is not None:
            if known.fingerprint != digest:
                logger.warning("%s was replaced (its first line changed); reading it from the start", name)
                self._forget(name)  # its header too: dated (and ordered) by the new one from the next poll
            elif st.st_size < known.offset:
                logger.warning("%s shrank below what was read (%d < %d bytes); reading it from the start",
                               name, st.st_size, known.offset)
                self._normaliser.restart_file(digest)  # its lines' ids as at the first read
            else:
                offset = known.offset
        final = older and self._finished(journal.path, st)
        # A `Continued` part carries on its session's part before it (by the fingerprint read).
        before = self._sources.get(previous_part(name) or "")
        continues = before.fingerprint if before is not None else None
        while True:
            if self.stop_flag.is_set():
                progress.stopped = True
                return "stopped"
            if self._outbox.pending_events() >= self._max_pending:
                if not self._paused:  # once per pause: the caller polls again every few tenths
                    logger.warning("the outbox holds %d events or more; reading paused until it drains",
                                   self._max_pending)
                    self._paused = True
                progress.blocked = True
                return "blocked"
            if self._paused:
                logger.info("the outbox has room again; reading on")
                self._paused = False
            chunk = read_complete_lines(journal.path, offset, self._chunk_bytes, final=final, end=st.st_size)
            if chunk.next_offset == offset:
                if known is None or (known.size_seen, known.mtime_ns, known.fingerprint, known.offset) != (
                    st.st_size, st.st_mtime_ns, digest, offset
                ):
                    self._commit(SourceState(name, digest, offset, st.st_size, st.st_mtime_ns), [], known)
                return "ok"
            self._normaliser.note_started(digest, journal.started)
            events = self._normaliser.feed_chunk(name, digest, chunk, continues=continues)
            # The serializer itself: what model_dump_json() calls, without its per-call set-up.
            queued = [
                QueuedEvent(e.id, e.offset, e.__pydantic_serializer__.to_json(e).decode()) for e in events
            ]
            size = max(st.st_size, chunk.next_offset)
            committed = SourceState(name, digest, chunk.next_offset, size, st.st_mtime_ns)
            self._commit(committed, queued, known)
            known = committed
            progress.bytes_read += chunk.next_offset - offset
            progress.lines += chunk.line_count
            progress.events += len(queued)
            self.total_bytes_read += chunk.next_offset - offset
            self.total_events += len(queued)
            if queued and self._on_commit is not None:
                self._on_commit(len(queued))  # after the counters: a listener may read them
            offset = chunk.next_offset

    def _commit(self, source: SourceState, queued: list[QueuedEvent], loaded: SourceState | None) -> None:
        """Commit unless another reader moved the file on since `loaded` (what we last knew of it)."""
        state = self._normaliser.state.model_dump_json()
        previous = None if loaded is None else loaded.offset
        self._outbox.commit_chunk(source, queued, state, previous=previous)
        self._sources[source.name] = source


# --- the live loop -------------------------------------------------------------------------------


class _Watch:
    """A watchdog observer whose only job is to pass on, from its thread, the name of each journal
    that changed.

    Only journals: the game rewrites Status.json several times a second while playing (Cargo.json,
    NavRoute.json... at each change), and each wake is a poll. The side files need no wake: they
    are read when a journal line says they changed.
    """

    def __init__(self, folder: Path, on_journal: Callable[[str], object]) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                for path in (event.src_path, getattr(event, "dest_path", "")):  # a move: both names
                    name = os.path.basename(os.fsdecode(path))
                    if name and is_journal_name(name):
                        on_journal(name)

        self._observer: Any = Observer()
        self._observer.schedule(_Handler(), str(folder), recursive=False)
        self._observer.daemon = True
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)


async def tail(
    tailer: Tailer,
    stop: asyncio.Event,
    *,
    poll_interval: float = 1.0,
    use_watchdog: bool = True,
    on_poll: Callable[[TailProgress], None] | None = None,
) -> None:
    """Tail until `stop`: read on every watchdog wake-up, and at least every `poll_interval` seconds."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def changed(name: str) -> None:  # in watchdog's thread
        tailer.journal_changed(name)
        loop.call_soon_threadsafe(wake.set)

    watch: _Watch | None = None
    waiting_logged = False
    try:
        while not stop.is_set():
            wake.clear()
            if use_watchdog and watch is None and tailer.folder.is_dir():
                try:
                    watch = _Watch(tailer.folder, changed)
                except OSError as exc:  # e.g. inotify limits: the poll still covers us
                    logger.warning("cannot watch %s (%s); polling every %.1f s instead",
                                   tailer.folder, exc, poll_interval)
                    use_watchdog = False
            progress = await asyncio.to_thread(tailer.poll_once)
            if progress.folder_missing and not waiting_logged:
                logger.warning("journal folder %s does not exist yet; waiting for it", tailer.folder)
            waiting_logged = progress.folder_missing
            if on_poll is not None:
                on_poll(progress)
            await wait_any(wake, stop, within=poll_interval)
    finally:
        tailer.stop_flag.set()
        if watch is not None:
            watch.stop()
