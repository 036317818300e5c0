"""Wiring the tailer and the sender together for `run` and `backfill`, with a stated shutdown order.

Failures the user can act on become an `UploadError` carrying one clear line and an exit code;
the CLI prints it, never a traceback.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from pydantic import ValidationError

from uploader.http_clients import async_client
from uploader.outbox import HISTORY_SINCE, Outbox, OutboxError
from uploader.reader_process import READ_RETRY_WAIT, ReaderProcess, ReadJob, read_failures, start_method_for
from uploader.sender import FailureKind, Sender, wait_any
from uploader.settings import Settings
from uploader.sidefiles import JournalSideFiles
from uploader.tailer import Tailer, TailProgress, tail

logger = logging.getLogger(__name__)


class ExitCode(enum.IntEnum):
    OK = 0
    ERROR = 1  # unexpected: details in the log file
    CONFIG = 2  # missing or bad settings / arguments
    TOKEN_REFUSED = 3
    UNREACHABLE = 4  # the server could not be reached, or kept failing, for `give_up_after`
    NO_JOURNALS = 5
    OUTBOX = 6  # the outbox could not be written (full disk, read-only folder)
    ALREADY_RUNNING = 7  # another uploader is sending from the same state folder
    REFUSED = 8  # backfill: everything was sent, but the server refused some events as invalid
    INTERRUPTED = 130


class UploadError(Exception):
    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class Progress:
    bytes_total: int = 0  # journal bytes to read when this run started, plus growth since
    bytes_read: int = 0
    events_queued: int = 0
    events_delivered: int = 0
    pending: int = 0  # events in the outbox now


def configured_token(settings: Settings) -> str | None:
    """The token the settings hold now (`init` may have written a new one since the start); None
    while they cannot be read (a config file being written), and when they name another server:
    its token must not go to this one (a restart takes on both)."""
    try:
        fresh = Settings(config_file=settings.config_file)
    except (ValidationError, OSError, ValueError):  # TOMLDecodeError and UnicodeDecodeError too
        return None
    if fresh.url != settings.url:
        return None
    return fresh.token.get_secret_value() if fresh.token is not None else None


def outbox_failure(exc: OutboxError) -> UploadError:
    return UploadError(ExitCode.OUTBOX, f"{exc} (is the disk full? nothing was lost; free space and rerun)")


# `run` reads a backlog at least this big in a reader process first (as `backfill` does): a
# process costs a fraction of a second to start, a long history seconds to read in a thread.
CATCH_UP_IN_PROCESS_BYTES = 8 * 2**20


async def _set_when(happened: asyncio.Event, then: asyncio.Event) -> None:
    await happened.wait()
    then.set()


async def _poll_until_stopped(tailer: Tailer, stop: asyncio.Event) -> TailProgress:
    """One `poll_once` in a worker thread; a stop meanwhile ends it after the chunk in progress."""
    reading = asyncio.ensure_future(asyncio.to_thread(tailer.poll_once))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if reading not in done:
            tailer.stop_flag.set()
        return await reading
    finally:
        stopping.cancel()


class ThreadReader:
    """`backfill_reader=thread`: the backfill's reading in a worker thread of this process, with
    the interface of `ReaderProcess`, so the backfill watches either the same way."""

    exitcode: int | None = None

    def __init__(self, tailer: Tailer) -> None:
        self._tailer = tailer
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.done: str | None = None
        self.failure: tuple[str, str] | None = None
        self.closed = asyncio.Event()

    @property
    def bytes_read(self) -> int:
        return self._tailer.total_bytes_read

    @property
    def events(self) -> int:
        return self._tailer.total_events

    def start(self) -> None:
        self._task = asyncio.create_task(self._read(), name="reader")

    async def _read(self) -> None:
        failures = 0
        try:
            while True:
                progress = await _poll_until_stopped(self._tailer, self._stop)
                if progress.folder_missing:
                    self.done = "folder_missing"
                    return
                if progress.stopped or self._stop.is_set():
                    self.done = "stopped"
                    return
                failures = read_failures(progress, failures)  # as the reader process does
                if failures:
                    await wait_any(self._stop, within=READ_RETRY_WAIT)
                    continue
                if not (progress.blocked or progress.conflict):
                    self.done = "read"
                    return
                await wait_any(self._stop, within=0.1)  # the outbox is full: the sender drains it
        except OutboxError as exc:
            self.failure = ("outbox", str(exc))
        except Exception as exc:
            logger.exception("reading the journals failed")
            self.failure = ("error", f"{type(exc).__name__}: {exc}")
        finally:
            self.closed.set()

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


class Runner:
    def __init__(
        self,
        settings: Settings,
        journal_dir: Path,
        *,
        since: datetime | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if settings.url is None or settings.token is None:
            raise UploadError(ExitCode.CONFIG, "no server address or token: run `colony-uploader init` "
                              "or set COLONY_UPLOADER_URL and COLONY_UPLOADER_TOKEN")
        self.settings = settings
        self.journal_dir = journal_dir
        self._since = since
        self._clock = clock
        self.progress = Progress()
        self._tailer: Tailer | None = None
        self._reader: ReaderProcess | ThreadReader | None = None
        self._sender: Sender | None = None
        self._pending_outbox: Outbox | None = None

    def snapshot(self) -> Progress:
        """Current figures for the progress display (cheap; called a few times a second)."""
        p = self.progress
        if self._reader is not None:
            p.bytes_read = self._reader.bytes_read
            p.events_queued = self._reader.events
            p.bytes_total = max(p.bytes_total, p.bytes_read)
        elif self._tailer is not None:
            p.bytes_read = self._tailer.total_bytes_read
            p.events_queued = self._tailer.total_events
            p.bytes_total = max(p.bytes_total, p.bytes_read)
        if self._sender is not None:
            p.events_delivered = self._sender.delivered_events
        return p

    async def run(self, stop: asyncio.Event, *, backfill: bool, use_watchdog: bool = True) -> str:
        """`backfill=True`: return once everything is delivered. Else tail until `stop`."""
        settings = self.settings
        assert settings.url is not None
        assert settings.token is not None
        loop = asyncio.get_running_loop()
        try:
            tail_box = Outbox(settings.outbox_path)
        except OutboxError as exc:
            raise outbox_failure(exc) from exc
        send_box = Outbox(settings.outbox_path)
        try:
            since = self._history_since(tail_box)
            timeout = httpx.Timeout(settings.http_timeout, connect=min(10.0, settings.http_timeout))
            # With this PC's proxies, as `doctor` (uploader.http_clients). A failed connect is
            # retried by the sender.
            async with async_client(settings.url, timeout=timeout) as client:
                reading: list[ReaderProcess | ThreadReader] = []  # backfill's or a catch-up's reader
                sender = Sender(
                    send_box,
                    client,
                    url=settings.url,
                    token=settings.token.get_secret_value(),
                    batch_max_events=settings.batch_max_events,
                    batch_max_bytes=settings.batch_max_bytes,
                    backoff_base=settings.backoff_base,
                    backoff_cap=settings.backoff_cap,
                    more_coming=lambda: any(r.done is None and not r.closed.is_set() for r in reading),
                    fill_events=settings.outbox_max_events,
                    token_source=lambda: configured_token(settings),
                )
                tailer = Tailer(
                    self.journal_dir,
                    tail_box,
                    side_files=JournalSideFiles(self.journal_dir),
                    since=since,
                    outbox_max_events=settings.outbox_max_events,
                    on_commit=lambda _n: loop.call_soon_threadsafe(sender.wake.set),
                )
                self._sender = sender
                reader: ReaderProcess | ThreadReader | None = None
                if backfill:
                    if not self.journal_dir.is_dir():
                        raise UploadError(ExitCode.NO_JOURNALS, f"journal folder not found: "
                                          f"{self.journal_dir} (set COLONY_UPLOADER_JOURNAL_DIR; "
                                          "`colony-uploader doctor` shows where it looked)")
                    if settings.backfill_reader == "thread":
                        reader = ThreadReader(tailer)
                    else:
                        # Started before this process has any other thread (fork copies only this one).
                        reader = self._reader_process(tail_box, since, sender)
                    reader.start()
                    reading.append(reader)
                    self._reader = reader
                    self.progress.bytes_total = await asyncio.to_thread(tailer.remaining_bytes)
                else:
                    self._tailer = tailer
                    # Measured here, before this process starts a thread, so the reader can fork.
                    backlog = self.progress.bytes_total = tailer.remaining_bytes()
                    if backlog >= CATCH_UP_IN_PROCESS_BYTES and settings.backfill_reader != "thread":
                        # A first start with a long history: read it as `backfill` does, then tail.
                        logger.info("catching up %.0f MB of journals in a reader process", backlog / 2**20)
                        reader = self._reader_process(tail_box, since, sender)
                        reader.start()
                        reading.append(reader)
                        self._reader = reader
                stop_sending = asyncio.Event()
                send_task = asyncio.create_task(sender.run(stop_sending), name="sender")
                try:
                    if backfill:
                        assert reader is not None
                        return await self._backfill(reader, sender, send_box, send_task, stop)
                    if reader is not None:
                        if await self._catch_up(reader, sender, send_task, stop):
                            return f"stopped; {sender.delivered_events} event(s) delivered this run"
                        self._reader = None
                        tailer.reload()  # the reader process moved the offsets on
                    return await self._live(tailer, sender, send_task, stop, use_watchdog)
                finally:
                    # Shutdown order: stop reading (a chunk in progress commits or rolls back
                    # whole), then stop sending (a batch in flight is re-sent with the same id).
                    tailer.stop_flag.set()
                    if reader is not None:
                        await reader.close()
                    stop_sending.set()
                    sender.wake.set()
                    send_task.cancel()
                    await asyncio.gather(send_task, return_exceptions=True)
        except OutboxError as exc:
            raise outbox_failure(exc) from exc
        finally:
            tail_box.close()
            send_box.close()

    def _reader_process(self, outbox: Outbox, since: datetime | None, sender: Sender) -> ReaderProcess:
        method = self.settings.backfill_reader
        assert method != "thread"
        job = ReadJob(
            journal_dir=self.journal_dir,
            outbox_path=outbox.path,
            since=since,
            outbox_max_events=self.settings.outbox_max_events,
            parent_pid=os.getpid(),
            log_level=logging.getLogger().getEffectiveLevel(),
        )
        return ReaderProcess(
            job,
            start_method=start_method_for(method),
            on_commit=lambda _n: sender.wake.set(),
        )

    def _history_since(self, outbox: Outbox) -> datetime | None:
        """`--since` is remembered, so a later `run` does not send the history it left out."""
        if self._since is not None:
            outbox.put(HISTORY_SINCE, self._since.isoformat())
            return self._since
        stored = outbox.get(HISTORY_SINCE)
        return datetime.fromisoformat(stored) if stored else None

    async def _backfill(
        self,
        reader: ReaderProcess | ThreadReader,
        sender: Sender,
        outbox: Outbox,
        send_task: asyncio.Task[None],
        stop: asyncio.Event,
    ) -> str:
        """Send while `reader` reads; done once it has read everything and all is delivered."""
        # The sender fills its batches while the reader reads: once it is done, send the rest now.
        finished = asyncio.create_task(_set_when(reader.closed, sender.wake))
        try:
            while True:
                if stop.is_set():
                    await reader.close()
                    pending = outbox.pending_events()
                    raise UploadError(ExitCode.INTERRUPTED,
                                      f"interrupted; {pending} event(s) kept in the outbox for next time")
                if reader.failure is not None:
                    kind, text = reader.failure
                    if kind == "outbox":
                        raise outbox_failure(OutboxError(text))
                    raise UploadError(ExitCode.ERROR, f"reading the journals failed: {text} (details in the "
                                      "log file); nothing was lost: run the backfill again")
                if reader.done == "folder_missing":
                    raise UploadError(ExitCode.NO_JOURNALS, f"journal folder disappeared: {self.journal_dir}")
                if reader.closed.is_set() and reader.done is None:
                    # A process killed (by the OS, out of memory...) before it could say why.
                    raise UploadError(ExitCode.ERROR, "the reading process ended unexpectedly (exit code "
                                      f"{reader.exitcode}); nothing was lost: run the backfill again")
                if send_task.done():
                    send_task.result()  # re-raises what stopped the sender
                if sender.token_refused:
                    raise UploadError(ExitCode.TOKEN_REFUSED, f"{sender.token_refused}; check the token with "
                                      "`colony-uploader doctor`")
                pending = outbox.pending_events()
                self.progress.pending = pending
                if reader.done == "read" and pending == 0:
                    delivered = sender.delivered_events
                    if sender.dead_lettered_events:
                        # Not "every event delivered" (DESIGN section 2): a script must see it.
                        raise UploadError(
                            ExitCode.REFUSED,
                            f"backfill done, but the server refused {sender.dead_lettered_events} "
                            f"event(s) as invalid ({delivered} delivered): they are kept as dead letters; "
                            "`colony-uploader status` shows the server's message, and `colony-uploader "
                            "resend` queues them again once the bot takes them",
                        )
                    return f"backfill complete: {delivered} event(s) delivered, nothing left to send"
                self._give_up_if_failing(sender, pending)
                await wait_any(stop, within=0.1)
        finally:
            finished.cancel()

    async def _catch_up(
        self,
        reader: ReaderProcess | ThreadReader,
        sender: Sender,
        send_task: asyncio.Task[None],
        stop: asyncio.Event,
    ) -> bool:
        """`run`'s first reading of a long backlog, in a reader process; True when stopped meanwhile.

        Sending goes on beside it and after it. A reader that fails is no reason to stop: the
        live tailer reads whatever it left. A sender that fails is: the reader would wait on a
        full outbox forever, so its error ends the run (as in `_live`).
        """
        waiters = {asyncio.ensure_future(reader.closed.wait()), asyncio.ensure_future(stop.wait())}
        try:
            await asyncio.wait({*waiters, send_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        if send_task.done() and not stop.is_set():
            send_task.result()  # re-raises what stopped the sender; the caller stops the reader
        sender.wake.set()  # its batches waited to be full: what is left goes now
        if stop.is_set():
            await reader.close()
            return True
        if reader.done != "read":
            if reader.failure is not None:
                what = reader.failure[1]
            else:
                what = f"it ended with {reader.done or f'exit code {reader.exitcode}'}"
            logger.warning("catching up in a reader process stopped (%s); reading on in this one", what)
        else:
            logger.info("caught up: %d event(s) read; following the journals live", reader.events)
        await reader.close()
        return False

    def _give_up_if_failing(self, sender: Sender, pending: int) -> None:
        if sender.failing_since is None:
            return
        failing_for = time.time() - sender.failing_since
        if failing_for > self.settings.give_up_after:
            detail = (sender.failure or "").removeprefix("cannot reach the server: ")
            what = ("cannot reach the server at" if sender.failure_kind is FailureKind.UNREACHABLE
                    else "the server keeps failing at")
            raise UploadError(ExitCode.UNREACHABLE, f"{what} {self.settings.url} ({detail}); "
                              f"{pending} event(s) kept in the outbox for the next run")

    async def _live(
        self, tailer: Tailer, sender: Sender, send_task: asyncio.Task[None], stop: asyncio.Event,
        use_watchdog: bool,
    ) -> str:
        tail_task = asyncio.create_task(
            tail(tailer, stop, poll_interval=self.settings.poll_interval, use_watchdog=use_watchdog),
            name="tailer",
        )
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait({tail_task, send_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in (tail_task, send_task):
                if task in done:
                    task.result()  # an OutboxError surfaces here
            return f"stopped; {sender.delivered_events} event(s) delivered this run"
        finally:
            stop.set()
            tailer.stop_flag.set()
            stopper.cancel()
            await asyncio.gather(tail_task, stopper, return_exceptions=True)
