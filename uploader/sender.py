"""Sending the outbox to the bot: one batch in flight, oldest first, nothing dropped.

Answers: 2xx deletes the batch; 400/422 moves it to the dead letters with the server's message (a
422 that names the invalid events moves only those, and the rest is sent again);
401/403 pauses sending ("token refused") and keeps everything; 413 splits the batch; 408/425/429/5xx,
timeouts and connection errors retry the same batch (same `batch_id`) with backoff, forever.
"""

from __future__ import annotations

import asyncio
import enum
import gzip
import json
import logging
import random
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from uploader import __version__
from uploader.backoff import MAX_RETRY_AFTER, backoff_delay, parse_retry_after
from uploader.outbox import Outbox, PendingBatch

logger = logging.getLogger(__name__)

EVENTS_PATH = "/api/v1/events"
SLOWEST_UPLINK = 1_000  # bytes/s (8 kbit/s) a batch's body is given time to go up at
API_PATH = re.compile(r"/api/v1(?:[/?#]|$)")  # where the bot's routes start in a URL
RETRYABLE_STATUSES = frozenset({408, 425, 429})
DEAD_LETTER_STATUSES = frozenset({400, 422})
TOKEN_STATUSES = frozenset({401, 403})
IDLE_RECHECK_SECONDS = 30.0
TOKEN_RECHECK_SECONDS = 5.0  # while the token is refused: has `init` written a new one?
LOUD_AFTER_ATTEMPTS = 10  # warn at ERROR level once a batch has failed this often
USER_AGENT = f"colony-uploader/{__version__}"


class Outcome(enum.Enum):
    IDLE = "idle"  # nothing to send
    SENT = "sent"
    WAIT = "wait"  # a batch waits for its next attempt (backoff)
    DEAD_LETTERED = "dead_lettered"
    SPLIT = "split"
    TOKEN_REFUSED = "token_refused"


class FailureKind(enum.Enum):
    UNREACHABLE = "unreachable"  # connection refused, DNS, timeout
    SERVER = "server"  # 408/425/429/5xx


@dataclass(frozen=True, slots=True)
class Step:
    outcome: Outcome
    delay: float = 0.0  # for WAIT: seconds until the next attempt
    events: int = 0  # for SENT: events in the delivered batch
    message: str | None = None


def error_message(response: httpx.Response) -> str:
    """The server's own words: `{"error": {"code", "message"}}` when it sent that, else its text."""
    location = response.headers.get("Location")
    if response.is_redirect and location:
        # Not followed: a redirected POST may arrive as a GET, and the token would go along. Most
        # often the address says http:// where the server only speaks https://. The advice is the
        # bot's base address (a proxy sends the whole request's path along).
        target = response.request.url.join(location)  # a Location may be relative
        base = str(target.copy_with(path=API_PATH.split(target.path, maxsplit=1)[0].rstrip("/") or "/",
                                    query=None, fragment=None)).rstrip("/")
        return (
            f"{response.status_code} {response.reason_phrase}: the server sends the uploader to "
            f"{base[:200]}; set the bot's address to that (colony-uploader init)"
        )
    text = response.text
    try:
        document = json.loads(text)
        error = document["error"]
        return f"{response.status_code} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        snippet = " ".join(text.split())[:300]
        return f"{response.status_code} {response.reason_phrase}" + (f": {snippet}" if snippet else "")


def _bots_error(response: httpx.Response) -> bool:
    """Whether the answer is the bot's own error document, `{"error": {"code", "message"}}`."""
    try:
        error = json.loads(response.text)["error"]
        return isinstance(error["code"], str) and isinstance(error["message"], str)
    except (ValueError, KeyError, TypeError):
        return False


class Sender:
    def __init__(
        self,
        outbox: Outbox,
        client: httpx.AsyncClient,
        *,
        url: str,
        token: str,
        batch_max_events: int = 2000,
        batch_max_bytes: int = 4 * 1024 * 1024,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        token_pause: float = 600.0,
        more_coming: Callable[[], bool] | None = None,
        fill_events: int | None = None,
        linger: float = 2.0,
        idle_recheck: float = IDLE_RECHECK_SECONDS,
        token_source: Callable[[], str | None] | None = None,
        token_recheck: float = TOKEN_RECHECK_SECONDS,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._outbox = outbox
        self._client = client
        self._endpoint = url.rstrip("/") + EVENTS_PATH
        self._token = token
        self._max_events = batch_max_events
        self._max_bytes = batch_max_bytes
        self._base = backoff_base
        self._cap = backoff_cap
        self._token_pause = token_pause
        self._clock = clock
        self._rand = rand
        self.platform = sys.platform
        self.wake = asyncio.Event()
        # What the rest of the program (progress, backfill's give-up rule) reads:
        self.delivered_events = 0
        self.dead_lettered_events = 0  # refused by the server as invalid, kept aside
        self.accepted = 0
        self.duplicates = 0
        self.failing_since: float | None = None
        self.failure: str | None = None
        self.failure_kind: FailureKind | None = None
        self.token_refused: str | None = None
        # The next batch's gzip body, made while the one before it was in flight: (batch_id, body).
        self._ready: tuple[str, bytes] | None = None
        # While `more_coming()` (a backfill's reader is still reading), a new batch waits until it
        # is full, for at most `linger` seconds: a history goes in few, full requests (the bot's
        # per-token rate limit counts requests, and each has a fixed cost), not one per chunk read.
        self._more_coming = more_coming
        # Full: `batch_max_events`, or fewer when the outbox holds fewer (its bound pauses the
        # reader, and a batch that can never fill would wait out the linger every time).
        self._fill_events = min(batch_max_events, fill_events or batch_max_events)
        self._linger = linger
        self._filling_since: float | None = None
        # Idle or waiting, the outbox is looked at again this often: `colony-uploader resend`, run
        # beside this uploader, queues batches without waking it.
        self._idle_recheck = idle_recheck
        # The token as the settings hold it now: a refused token is replaced by running `init`
        # again, which a running uploader (autostarted, out of sight) then takes on by itself.
        self._token_source = token_source
        self._token_recheck = token_recheck

    async def step(self) -> Step:
        """Try to move the outbox forward by one batch."""
        min_events = self._min_events()
        batch = self._outbox.next_batch(
            max_events=self._max_events,
            max_bytes=self._max_bytes,
            uploader_version=__version__,
            platform=self.platform,
            min_events=min_events,
        )
        if batch is None:
            if min_events > 1 and self._filling_since is not None:
                # Woken by the reader's next commit, or when the wait is up.
                return Step(Outcome.WAIT, delay=max(0.0, self._filling_since + self._linger - self._clock()))
            return Step(Outcome.IDLE)
        self._filling_since = None
        now = self._clock()
        wait = batch.next_attempt_at - now
        if batch.attempted_at is not None and now < batch.attempted_at:
            # The wall clock went back (NTP, a wrong RTC corrected) since the retry time was set:
            # the wait it was given runs from now, not until the old clock's time comes round
            # (hours, for this batch and every batch behind it).
            wait = batch.next_attempt_at - batch.attempted_at
            self._outbox.reschedule(batch, now + wait)
        elif batch.attempted_at is None and (
            now < batch.created_at or wait > max(self._cap, MAX_RETRY_AFTER)
        ):
            wait = 0.0  # set by an older version (no time of setting), and the clock went back since
        if wait > 0:
            return Step(Outcome.WAIT, delay=wait)
        ready, self._ready = self._ready, None
        body = ready[1] if ready is not None and ready[0] == batch.batch_id else await _compress(batch)
        post = asyncio.create_task(self._post(batch, body))
        # Started after the post: while the bot works on this batch, the next one is made and
        # compressed (a backlog's batches are MBs; compressing one takes tens of ms in which the
        # bot would otherwise sit idle).
        prepare = asyncio.create_task(self._prepare_after(batch))
        try:
            step = await post
            await prepare
        except BaseException:
            post.cancel()
            prepare.cancel()
            await asyncio.gather(post, prepare, return_exceptions=True)
            raise
        return step

    def _min_events(self) -> int:
        """Events a new batch needs: a full batch while more are coming, unless that was already
        awaited for `linger` seconds; else one."""
        if self._more_coming is None or not self._more_coming():
            self._filling_since = None
            return 1
        now = self._clock()
        if self._filling_since is None:
            self._filling_since = now
        return 1 if now - self._filling_since >= self._linger else self._fill_events

    async def _prepare_after(self, batch: PendingBatch) -> None:
        following = self._outbox.batch_after(
            batch,
            max_events=self._max_events,
            max_bytes=self._max_bytes,
            uploader_version=__version__,
            platform=self.platform,
            min_events=self._min_events(),
        )
        if following is not None:
            self._ready = (following.batch_id, await _compress(following))

    async def _post(self, batch: PendingBatch, body: bytes) -> Step:
        # The answer comes once the whole body is up: on a slow uplink a backfill's batch takes
        # longer than the timeout to send, and the same body would time out for ever.
        base = self._client.timeout
        allowance = len(body) / SLOWEST_UPLINK
        timeout = httpx.Timeout(
            connect=base.connect,
            read=None if base.read is None else max(base.read, allowance),
            write=None if base.write is None else max(base.write, allowance),
            pool=base.pool,
        )
        try:
            response = await self._client.post(
                self._endpoint,
                content=body,
                timeout=timeout,
                headers={
                    "Authorization": f"Bearer {self._token}",
                    "Content-Type": "application/json",
                    "Content-Encoding": "gzip",
                    "Idempotency-Key": batch.batch_id,
                    "User-Agent": USER_AGENT,
                },
            )
        except httpx.TimeoutException as exc:
            return self._retry(batch, f"timed out talking to the server ({type(exc).__name__})",
                               FailureKind.UNREACHABLE)
        except httpx.TransportError as exc:
            return self._retry(batch, f"cannot reach the server: {exc or type(exc).__name__}",
                               FailureKind.UNREACHABLE)
        except httpx.DecodingError as exc:
            # An answer whose body does not match its Content-Encoding (a broken proxy): whether
            # the bot stored the batch is unknown, so it is sent again (the bot knows its id).
            return self._retry(batch, f"the server's answer could not be decoded ({exc})",
                               FailureKind.SERVER)
        return self._classify(batch, response)

    def _classify(self, batch: PendingBatch, response: httpx.Response) -> Step:
        status = response.status_code
        if 200 <= status < 300:
            counts = _batch_counts(response)
            if counts is None:
                # Not the bot's answer (a web server or a proxy page at a wrong address): taken for a
                # delivery, the batch would be deleted unsent. Kept, and retried, as a server problem.
                return self._retry(batch, f"HTTP {status} without the bot's counts from {self._endpoint}: "
                                   "is the address the bot's?", FailureKind.SERVER)
            self._outbox.delivered(batch)
            self._note_success(batch, counts)
            return Step(Outcome.SENT, events=batch.n_events)
        message = error_message(response)
        if status == 422 and batch.n_events > 1:
            refused = _invalid_events(response)
            set_aside = self._outbox.set_aside(batch, refused, status, message) if refused else 0
            if set_aside:
                # Only the events the bot named are kept aside; the rest go again at once.
                logger.warning("the server refused %d of the %d events of batch %s as invalid, kept as a "
                               "dead letter: %s", set_aside, batch.n_events, batch.batch_id, message)
                self.dead_lettered_events += set_aside
                return Step(Outcome.DEAD_LETTERED, message=message)
        if status in DEAD_LETTER_STATUSES | TOKEN_STATUSES and not _bots_error(response):
            # Not the bot's words (a proxy, a WAF, plain HTTP spoken to a TLS port): they say
            # nothing about these events or the token. Kept and retried as a set-up problem.
            return self._retry(batch, f"unexpected answer {message}", FailureKind.SERVER)
        if status in DEAD_LETTER_STATUSES:
            logger.warning("the server refused batch %s (%d events) as invalid, kept as a dead letter: %s",
                           batch.batch_id, batch.n_events, message)
            self._outbox.dead_letter(batch, status, message)
            self.dead_lettered_events += batch.n_events
            return Step(Outcome.DEAD_LETTERED, message=message)
        if status in TOKEN_STATUSES:
            text = f"the server refused the token ({message}); sending paused, nothing is lost"
            logger.error("%s", text)
            self._outbox.token_refused(text)
            self.token_refused = text
            return Step(Outcome.TOKEN_REFUSED, message=text)
        if status == 413:
            if self._outbox.split(batch):
                logger.info("batch %s (%d events) too large for the server; split in two",
                            batch.batch_id, batch.n_events)
                return Step(Outcome.SPLIT, message=message)
            logger.warning("a single event is too large for the server, kept as a dead letter: %s", message)
            self._outbox.dead_letter(batch, status, message)
            self.dead_lettered_events += batch.n_events
            return Step(Outcome.DEAD_LETTERED, message=message)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status in RETRYABLE_STATUSES or status >= 500:
            return self._retry(batch, message, FailureKind.SERVER, retry_after)
        # Any other answer (a proxy's 404, a 3xx...) is a set-up problem: retry rather than drop.
        return self._retry(batch, f"unexpected answer {message}", FailureKind.SERVER, retry_after)

    def _retry(
        self, batch: PendingBatch, message: str, kind: FailureKind, retry_after: float | None = None
    ) -> Step:
        now = self._clock()
        delay = backoff_delay(batch.attempts, base=self._base, cap=self._cap, retry_after=retry_after,
                              rand=self._rand)
        self._outbox.retry_later(batch, now + delay, message)
        if self.failing_since is None:
            self.failing_since = now
        self.failure = message
        self.failure_kind = kind
        attempts = batch.attempts + 1
        level = logging.ERROR if attempts >= LOUD_AFTER_ATTEMPTS else logging.WARNING
        logger.log(level, "batch %s not delivered (attempt %d): %s; next try in %.1f s",
                   batch.batch_id, attempts, message, delay)
        return Step(Outcome.WAIT, delay=delay, message=message)

    def _note_success(self, batch: PendingBatch, counts: tuple[int, int]) -> None:
        self.delivered_events += batch.n_events
        self.failing_since = None
        self.failure = None
        self.failure_kind = None
        self.token_refused = None
        self.accepted += counts[0]
        self.duplicates += counts[1]
        logger.debug("batch %s delivered (%d events)", batch.batch_id, batch.n_events)

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set. `wake` is set by whoever queues events."""
        while not stop.is_set():
            # Cleared before looking, so a wake-up arriving meanwhile is not lost.
            self.wake.clear()
            step = await self.step()
            if step.outcome in (Outcome.SENT, Outcome.DEAD_LETTERED, Outcome.SPLIT):
                continue
            if step.outcome is Outcome.TOKEN_REFUSED:
                # New events must not retry a refused token: only time, a new token in the settings
                # (or a stop) ends the pause.
                await self._await_token(stop)
                continue
            # Also while the oldest batch waits out a retry: batches resent beside this uploader go
            # before it.
            timeout = self._idle_recheck
            if step.outcome is not Outcome.IDLE:
                timeout = min(step.delay, timeout)
            await wait_any(self.wake, stop, within=timeout)


    async def _await_token(self, stop: asyncio.Event) -> None:
        """The token pause: until it is over, `stop` is set, or the settings hold another token."""
        loop = asyncio.get_running_loop()
        end = loop.time() + self._token_pause
        while not stop.is_set() and (left := end - loop.time()) > 0:
            await wait_any(stop, within=min(left, self._token_recheck) if self._token_source else left)
            fresh = self._token_source() if self._token_source is not None else None
            if fresh and fresh != self._token:
                logger.warning("a new token in the settings: sending again")
                self._token = fresh
                return


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The answer's JSON object; None when it is not one (not the bot's answer: a web page...)."""
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _batch_counts(response: httpx.Response) -> tuple[int, int] | None:
    """(accepted, duplicates) of the bot's answer to a batch; None when the answer is not one."""
    data = json_object(response)
    if data is None:
        return None
    accepted, duplicates = data.get("accepted"), data.get("duplicates")
    if type(accepted) is not int or type(duplicates) is not int:
        return None
    return accepted, duplicates


def _invalid_events(response: httpx.Response) -> list[int]:
    """The indexes of the events a 422 names as invalid (`error.invalid_events`); [] when it names
    none (the batch itself is wrong, or the bot is older than this field)."""
    error = (json_object(response) or {}).get("error")
    indexes = error.get("invalid_events") if isinstance(error, dict) else None
    if not isinstance(indexes, list) or not all(type(i) is int for i in indexes):
        return []
    return indexes


async def _compress(batch: PendingBatch) -> bytes:
    # In a thread: zlib releases the GIL, so a big batch compresses beside the event loop.
    return await asyncio.to_thread(gzip.compress, batch.payload.encode("utf-8"), compresslevel=6, mtime=0)


async def wait_any(*events: asyncio.Event, within: float | None) -> None:
    """Return when any of `events` is set or after `within` seconds (None: no limit)."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
