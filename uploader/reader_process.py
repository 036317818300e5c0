"""A backfill's reading in a process of its own, beside the process that sends.

Reading and normalising a long history is CPU-bound Python, and so is sending (httpx, the outbox's
batches). In one process the two share one interpreter lock and take turns; in two they use two
cores, and a backfill takes about half the time. The processes share only the outbox file (SQLite
serialises the writers; a chunk commits only if its file's offset is still what its reader loaded,
see `Outbox.commit_chunk`) and two one-way pipes: progress and log records up (the parent's
handlers write them: one log file, one writer), a stop request down.

The reader stops at a chunk boundary (each chunk commits whole or not at all) when asked, when its
pipe from the parent closes, or when the parent is gone (killed), so it never outlives a backfill
by more than one chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.handlers
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal

from uploader.outbox import Outbox, OutboxError
from uploader.sidefiles import JournalSideFiles
from uploader.tailer import Tailer, TailProgress

logger = logging.getLogger(__name__)

StartMethod = Literal["fork", "spawn"]
# How often the reader looks for a stop request and for its parent.
_WATCH_INTERVAL = 0.2
# How long a full outbox (past `outbox_max_events`) is left to drain before reading is tried again.
_BLOCKED_WAIT = 0.5
# A journal that cannot be read is tried again this often, this far apart, before a backfill
# fails (a live `run` keeps trying): enough for a network share's or an antivirus's hiccup.
READ_RETRIES = 5
READ_RETRY_WAIT = 1.0
# A chunk (1 MiB) takes milliseconds; this only bounds a reader stuck on a dead network drive.
_CLOSE_TIMEOUT = 30.0


def start_method_for(setting: Literal["auto", "fork", "spawn"]) -> StartMethod:
    """`fork` or `spawn` as set; for `auto`, fork on Linux (no second interpreter start-up) unless
    this process already runs other threads (a forked child gets copies of their locks, held or
    not), spawn elsewhere (Windows has only spawn; fork is unsafe with macOS system libraries)."""
    if setting != "auto":
        return setting
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "spawn"


@dataclass(frozen=True)
class ReadJob:
    """What the reader process needs (picklable: spawn sends it to a new interpreter)."""

    journal_dir: Path
    outbox_path: Path
    since: datetime | None
    outbox_max_events: int
    parent_pid: int
    log_level: int


# Messages up the pipe: ("log", record attributes) and ("commit", events, bytes_read) after each
# chunk with events; then one of ("done", "read" | "folder_missing" | "stopped") or
# ("failed", "outbox" | "error", text).
Message = tuple[Any, ...]


def read_in_process(
    job: ReadJob, up: Connection, down: Connection, inherited: tuple[Connection, ...]
) -> None:
    """The reader process: read every journal into the outbox once, then report and exit."""
    for end in inherited:  # fork copied the parent's ends: closed, so the parent's death shows
        end.close()
    # Ctrl-C reaches the whole process group: the parent decides, and stops us by the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGTERM"):
        # fork copied the parent's asyncio handler, which only wakes a loop we do not run.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(ValueError):  # (only the main thread may; the target runs there)
        signal.set_wakeup_fd(-1)
    logging.raiseExceptions = False  # a record the dead parent cannot take is dropped quietly
    root = logging.getLogger()
    for handler in list(root.handlers):  # inherited with fork: the parent alone writes the log
        root.removeHandler(handler)
    root.addHandler(logging.handlers.QueueHandler(_PipeQueue(up)))  # type: ignore[arg-type]
    root.setLevel(job.log_level)
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(job.parent_pid, down, stop), daemon=True)
    watcher.start()
    try:
        with Outbox(job.outbox_path) as outbox:
            tailer = Tailer(
                job.journal_dir,
                outbox,
                side_files=JournalSideFiles(job.journal_dir),
                since=job.since,
                outbox_max_events=job.outbox_max_events,
                stop_flag=stop,
                on_commit=lambda n: up.send(("commit", n, tailer.total_bytes_read)),
            )
            reason = _read_all(tailer, stop)
        up.send(("done", reason))
    except OutboxError as exc:
        _send_quietly(up, ("failed", "outbox", str(exc)))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the pipe up broke: the parent is gone, nobody to tell
    except Exception as exc:  # a journal that cannot be read, a bug: said, not swallowed
        logger.exception("the backfill's reader failed")
        _send_quietly(up, ("failed", "error", f"{type(exc).__name__}: {exc}"))
    finally:
        stop.set()
        up.close()


class _PipeQueue:
    """What `QueueHandler` puts records into: the pipe up, so they come in order with the rest."""

    def __init__(self, up: Connection) -> None:
        self._up = up

    def put_nowait(self, record: logging.LogRecord) -> None:
        # `QueueHandler.prepare` has merged the message and its arguments: the dict pickles.
        self._up.send(("log", record.__dict__))


def _read_all(tailer: Tailer, stop: threading.Event) -> str:
    failures = 0
    while True:
        progress = tailer.poll_once()
        if progress.folder_missing:
            return "folder_missing"
        if progress.stopped or stop.is_set():
            return "stopped"
        if progress.conflict:
            continue  # another reader committed first: go on from its offsets
        failures = read_failures(progress, failures)
        if failures:
            stop.wait(READ_RETRY_WAIT)
            continue
        if not progress.blocked:
            return "read"
        stop.wait(_BLOCKED_WAIT)  # the outbox is full: the sender drains it meanwhile


def read_failures(progress: TailProgress, failures: int) -> int:
    """A backfill's polls in a row that met an unreadable journal, this one counted (0 when it
    read); past READ_RETRIES, the error is raised: the backfill fails (`run` keeps trying)."""
    if progress.read_error is None:
        return 0
    if failures + 1 > READ_RETRIES:
        raise OSError(progress.read_error)
    return failures + 1


def _watch(parent_pid: int, down: Connection, stop: threading.Event) -> None:
    """Set `stop` on a stop request, on the pipe closing, or once the parent is gone."""
    while not stop.is_set():
        try:
            if down.poll(_WATCH_INTERVAL):
                down.recv()  # the only message is "stop"
                break
        except (EOFError, OSError):
            break  # the parent closed its end, or died
        # Belt and braces on POSIX: an orphan is re-parented, which the parent pid shows.
        if os.name == "posix" and os.getppid() != parent_pid:
            break
    stop.set()


def _send_quietly(up: Connection, message: Message) -> None:
    with contextlib.suppress(OSError):
        up.send(message)


class ReaderProcess:
    """The sending process's handle on its reader: start it, follow its progress, stop it."""

    def __init__(
        self, job: ReadJob, *, start_method: StartMethod, on_commit: Callable[[int], object]
    ) -> None:
        context: Any = multiprocessing.get_context(start_method)
        self._up_recv, self._up_send = context.Pipe(duplex=False)
        self._down_recv, self._down_send = context.Pipe(duplex=False)
        # A forked child starts with our ends too; a spawned one gets only what it is given.
        inherited = (self._up_recv, self._down_send) if start_method == "fork" else ()
        self._process = context.Process(
            target=read_in_process,
            args=(job, self._up_send, self._down_recv, inherited),
            name="colony-uploader-reader",
            daemon=True,
        )
        self._on_commit = on_commit
        self._relay: threading.Thread | None = None
        self.bytes_read = 0
        self.events = 0
        self.done: str | None = None  # "read", "folder_missing" or "stopped"
        self.failure: tuple[str, str] | None = None  # ("outbox" | "error", message)
        self.closed = asyncio.Event()  # the pipe up closed: the reader has said all it will say
        self._closing = False

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._process.start()
        # Our copies of the reader's ends: closed, so its death closes the pipe up.
        self._up_send.close()
        self._down_recv.close()
        self._relay = threading.Thread(target=self._relay_messages, args=(loop,), daemon=True)
        self._relay.start()

    @property
    def exitcode(self) -> int | None:
        code = self._process.exitcode
        return None if code is None else int(code)

    def _relay_messages(self, loop: asyncio.AbstractEventLoop) -> None:
        """A thread: the pipe's messages into the event loop, until the reader closes it."""
        while True:
            try:
                message = self._up_recv.recv()
            except (EOFError, OSError):
                break
            if message[0] == "log":
                # Handled here, in order, by our own handlers (the child's level already applied).
                record = logging.makeLogRecord(message[1])
                logging.getLogger(record.name).handle(record)
            else:
                loop.call_soon_threadsafe(self._handle, message)
        loop.call_soon_threadsafe(self.closed.set)

    def _handle(self, message: Message) -> None:
        kind = message[0]
        if kind == "commit":
            self.events += int(message[1])
            self.bytes_read = int(message[2])
            self._on_commit(int(message[1]))
        elif kind == "done":
            self.done = str(message[1])
        elif kind == "failed":
            self.failure = (str(message[1]), str(message[2]))

    def stop(self) -> None:
        with contextlib.suppress(OSError):  # already gone
            self._down_send.send(("stop",))

    async def close(self) -> None:
        """Stop the reader (it finishes its chunk), wait for it, and stop relaying its logs.

        Idempotent: the backfill closes it on a stop request, and its caller again on the way out.
        """
        if self._closing:
            return
        self._closing = True
        timeout = _CLOSE_TIMEOUT
        self.stop()
        await asyncio.to_thread(self._process.join, timeout)
        if self._process.is_alive():
            logger.warning("the reader did not stop within %.0f s; terminating it", timeout)
            self._process.terminate()
            await asyncio.to_thread(self._process.join, 5.0)
        if self._relay is not None:
            await asyncio.to_thread(self._relay.join, 5.0)
        self._down_send.close()
        self._up_recv.close()
