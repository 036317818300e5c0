"""The sender against a real loopback receiver (and httpx.MockTransport for timeouts): every answer class."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from uploader.outbox import Outbox, QueuedEvent, SourceState
from uploader.sender import FailureKind, Outcome, Sender, error_message
from wire import Batch

pytestmark = pytest.mark.uploader_only


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(tmp_path: Path, clock: Clock) -> Any:
    with Outbox(tmp_path / "outbox.sqlite3", clock=clock) as o:
        yield o


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as c:
        yield c


def _sender(outbox: Outbox, client: httpx.AsyncClient, url: str, clock: Clock, token: str = "good-token",
            **kw: Any) -> Sender:
    kw.setdefault("rand", lambda: 0.5)
    return Sender(outbox, client, url=url, token=token, clock=clock, **kw)


def _queue(outbox: Outbox, evs: list[Any], source: str | None = None) -> None:
    name = source or evs[0].source
    outbox.commit_chunk(SourceState(name, "fp", evs[-1].offset + 1, 0, 0),
                        [QueuedEvent(e.id, e.offset, e.model_dump_json()) for e in evs], None)


async def test_2xx_delivers_gzip_with_bearer_and_batch_id_then_deletes(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock, events: Callable[..., Any]
) -> None:
    evs = events(5)
    _queue(outbox, evs)
    sender = _sender(outbox, client, receiver.url, clock)
    step = await sender.step()
    assert (step.outcome, step.events) == (Outcome.SENT, 5)
    [req] = receiver.requests
    assert req.headers["Authorization"] == "Bearer good-token"
    assert req.headers["Content-Encoding"] == "gzip"
    assert req.headers["Idempotency-Key"] == req.batch_id
    assert req.event_ids == [e.id for e in evs]
    assert outbox.pending_events() == 0
    assert sender.accepted == 5
    assert outbox.stats().last_success_at == clock.now
    assert (await sender.step()).outcome is Outcome.IDLE


async def test_batches_are_bounded_and_sent_oldest_first(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock, events: Callable[..., Any]
) -> None:
    evs = events(23)
    _queue(outbox, evs)
    sender = _sender(outbox, client, receiver.url, clock, batch_max_events=10)
    while (await sender.step()).outcome is Outcome.SENT:
        pass
    assert [len(r.event_ids) for r in receiver.requests] == [10, 10, 3]
    assert receiver.accepted_new == [e.id for e in evs]


async def test_while_more_is_coming_batches_wait_to_be_full_for_at_most_the_linger(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock, events: Callable[..., Any]
) -> None:
    evs = events(27)
    more = [True]
    sender = _sender(outbox, client, receiver.url, clock, batch_max_events=10,
                     more_coming=lambda: more[0], linger=2.0)
    _queue(outbox, evs[:4])
    step = await sender.step()
    assert step.outcome is Outcome.WAIT  # 4 of 10: wait for the reader's next chunk
    assert step.delay == 2.0
    assert receiver.requests == []
    assert outbox.stats().batches == 0  # nothing made yet: the next events still join
    _queue(outbox, evs[4:13], evs[0].source + "2")
    assert (await sender.step()).outcome is Outcome.SENT
    assert [len(r.event_ids) for r in receiver.requests] == [10]
    # 3 queued: waiting again, since the first batch went (the next one was looked for then);
    # once the linger is up, what there is goes.
    clock.now += 1.0
    step = await sender.step()
    assert step.outcome is Outcome.WAIT
    assert step.delay == 1.0
    clock.now += 1.0
    assert (await sender.step()).outcome is Outcome.SENT
    assert [len(r.event_ids) for r in receiver.requests] == [10, 3]
    # The reader is done: the rest goes at once, full or not.
    _queue(outbox, evs[13:], evs[0].source + "3")
    more[0] = False
    while (await sender.step()).outcome is Outcome.SENT:
        pass
    assert [len(r.event_ids) for r in receiver.requests] == [10, 3, 10, 4]
    assert receiver.accepted_new == [e.id for e in evs]
    assert outbox.pending_events() == 0


async def test_a_batch_fills_to_the_outbox_bound_when_that_is_smaller(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock, events: Callable[..., Any]
) -> None:
    # The outbox bound (8) pauses the reader before a batch of 10 could fill: 8 is full.
    sender = _sender(outbox, client, receiver.url, clock, batch_max_events=10,
                     more_coming=lambda: True, fill_events=8)
    evs = events(8)
    _queue(outbox, evs[:7])
    assert (await sender.step()).outcome is Outcome.WAIT
    _queue(outbox, evs[7:], evs[0].source + "2")
    assert (await sender.step()).outcome is Outcome.SENT
    assert [len(r.event_ids) for r in receiver.requests] == [8]


async def test_the_next_batch_is_made_while_one_is_in_flight_and_order_holds(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock, events: Callable[..., Any]
) -> None:
    evs = events(25)
    _queue(outbox, evs)
    sender = _sender(outbox, client, receiver.url, clock, batch_max_events=10)
    assert (await sender.step()).outcome is Outcome.SENT
    # The second batch was persisted (its batch_id fixed) while the first was with the bot.
    stats = outbox.stats()
    assert (stats.batches, stats.pending_events) == (1, 15)
    while (await sender.step()).outcome is Outcome.SENT:
        pass
    assert [len(r.event_ids) for r in receiver.requests] == [10, 10, 5]
    assert len({r.batch_id for r in receiver.requests}) == 3
    assert receiver.accepted_new == [e.id for e in evs]
    assert outbox.pending_events() == 0


async def test_a_batch_made_ahead_is_sent_as_itself_after_its_predecessor_is_retried(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock, events: Callable[..., Any]
) -> None:
    evs = events(20)
    _queue(outbox, evs)
    receiver.answer(503)
    sender = _sender(outbox, client, receiver.url, clock, batch_max_events=10)
    assert (await sender.step()).outcome is Outcome.WAIT
    clock.now += 3600
    while (await sender.step()).outcome is Outcome.SENT:
        pass
    first, retried, second = receiver.requests
    assert retried.batch_id == first.batch_id  # the same batch again, not the one made ahead
    assert retried.event_ids == [e.id for e in evs[:10]]
    assert second.event_ids == [e.id for e in evs[10:]]
    assert receiver.accepted_new == [e.id for e in evs]


async def test_a_redirect_is_kept_and_retried_and_says_where_the_server_sends_us(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock, events: Callable[..., Any]
) -> None:
    """An address typed with http:// where the proxy redirects to https://: not followed (the body
    and token would go where the user did not say), kept, and the failure says what to change."""
    evs = events(3)
    _queue(outbox, evs)
    receiver.answer(308, body={}, headers={"Location": "https://bot.example/api/v1/events"})
    sender = _sender(outbox, client, receiver.url, clock)
    step = await sender.step()
    assert step.outcome is Outcome.WAIT
    assert sender.failure == (
        "unexpected answer 308 Permanent Redirect: the server sends the uploader to "
        "https://bot.example; set the bot's address to that (colony-uploader init)"
    )
    assert outbox.stats().pending_events == 3  # nothing lost, nothing dead-lettered
    clock.now += 3600
    assert (await sender.step()).outcome is Outcome.SENT
    assert receiver.accepted_new == [e.id for e in evs]


def test_a_redirect_names_the_bots_base_address_also_when_relative() -> None:
    request = httpx.Request("POST", "http://bot.example:8080/colony/api/v1/events")
    for location, base in [
        ("https://bot.example/colony/api/v1/events", "https://bot.example/colony"),
        ("/api/v1/events", "http://bot.example:8080"),
        ("https://bot.example/api/v1/events?from=http", "https://bot.example"),
    ]:
        answer = httpx.Response(308, headers={"Location": location}, request=request)
        assert f"sends the uploader to {base};" in error_message(answer), location


async def test_400_dead_letters_with_the_servers_message_and_moves_on(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock, events: Callable[..., Any]
) -> None:
    _queue(outbox, events(2))
    _queue(outbox, events(2, start=2, source="Journal.2025-04-09T000000.01.log"))
    receiver.answer(400, body={"error": {"code": "malformed", "message": "body is not JSON"}})
    sender = _sender(outbox, client, receiver.url, clock, batch_max_events=2)
    step = await sender.step()
    assert step.outcome is Outcome.DEAD_LETTERED
    [letter] = outbox.dead_letters()
    assert (letter.status, letter.reason, letter.n_events) == (400, "400 malformed: body is not JSON", 2)
    assert (await sender.step()).outcome is Outcome.SENT
    assert receiver.accepted_new == [f"{i:032x}" for i in (2, 3)]
    assert outbox.stats().dead_letter_events == 2


async def test_422_from_real_validation_is_dead_lettered(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock
) -> None:
    bad = json.dumps({"id": "f" * 32, "kind": "fsd_jump", "timestamp": "2025-01-01T00:00:00Z",
                      "source": "J.log", "offset": -1, "system_name": "X"})
    outbox.commit_chunk(SourceState("J.log", "fp", 10, 10, 0), [QueuedEvent("f" * 32, 0, bad)], None)
    step = await _sender(outbox, client, receiver.url, clock).step()
    assert step.outcome is Outcome.DEAD_LETTERED
    [letter] = outbox.dead_letters()
    assert letter.status == 422
    assert letter.reason.startswith("422 invalid: ")
    assert outbox.pending_events() == 0


@pytest.mark.parametrize("status", [401, 403])
async def test_token_refused_pauses_and_keeps_everything(
    status: int, outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock,
    events: Callable[..., Any]
) -> None:
    _queue(outbox, events(3))
    receiver.answer(status, body={"error": {"code": "unauthorized", "message": "unknown or revoked token"}})
    sender = _sender(outbox, client, receiver.url, clock)
    step = await sender.step()
    assert step.outcome is Outcome.TOKEN_REFUSED
    assert step.message == (f"the server refused the token ({status} unauthorized: unknown or revoked "
                            "token); sending paused, nothing is lost")
    assert outbox.pending_events() == 3
    assert outbox.stats().token_refused == step.message
    assert outbox.dead_letters() == []
    # Once the token is accepted again, the same batch goes and the refusal is cleared.
    assert (await sender.step()).outcome is Outcome.SENT
    assert outbox.stats().token_refused is None
    assert len(receiver.accepted_new) == 3


async def test_a_wrong_token_is_refused_by_the_real_receiver(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock, events: Callable[..., Any]
) -> None:
    _queue(outbox, events(1))
    step = await _sender(outbox, client, receiver.url, clock, token="wrong").step()
    assert step.outcome is Outcome.TOKEN_REFUSED
    assert "401 unauthorized: unknown or revoked token" in (step.message or "")
    assert outbox.pending_events() == 1


async def test_413_splits_until_it_fits_and_a_lone_oversized_event_is_dead_lettered(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock, events: Callable[..., Any]
) -> None:
    evs = events(4)
    _queue(outbox, evs)
    receiver.answer(413, 413)  # the 4-batch, then its first half (2)
    sender = _sender(outbox, client, receiver.url, clock)
    outcomes = []
    for _ in range(6):
        outcomes.append((await sender.step()).outcome)
    assert outcomes == [Outcome.SPLIT, Outcome.SPLIT, Outcome.SENT, Outcome.SENT, Outcome.SENT, Outcome.IDLE]
    assert [len(r.event_ids) for r in receiver.requests] == [4, 2, 1, 1, 2]
    assert receiver.accepted_new == [e.id for e in evs]  # order kept

    _queue(outbox, events(1, start=10))
    receiver.answer(413)
    assert (await sender.step()).outcome is Outcome.DEAD_LETTERED
    assert outbox.dead_letters()[0].status == 413


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
async def test_retryable_statuses_keep_the_batch_and_back_off(
    status: int, outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock,
    events: Callable[..., Any]
) -> None:
    _queue(outbox, events(2))
    receiver.answer(status, status)
    sender = _sender(outbox, client, receiver.url, clock, backoff_base=2.0, rand=lambda: 1.0)
    first = await sender.step()
    assert (first.outcome, first.delay) == (Outcome.WAIT, 2.0)
    assert sender.failure_kind is FailureKind.SERVER
    # Not due yet: nothing is sent.
    assert (await sender.step()).outcome is Outcome.WAIT
    assert len(receiver.requests) == 1
    clock.now += first.delay
    second = await sender.step()
    assert (second.outcome, second.delay) == (Outcome.WAIT, 4.0)  # exponential
    clock.now += second.delay
    assert (await sender.step()).outcome is Outcome.SENT
    assert len({r.batch_id for r in receiver.requests}) == 1  # the same batch every time
    assert len(receiver.accepted_new) == 2
    assert sender.failing_since is None


async def test_429_retry_after_is_honoured(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock, events: Callable[..., Any]
) -> None:
    _queue(outbox, events(1))
    receiver.answer(429, headers={"Retry-After": "7"})
    sender = _sender(outbox, client, receiver.url, clock, rand=lambda: 0.0)
    step = await sender.step()
    assert (step.outcome, step.delay) == (Outcome.WAIT, 7.0)
    clock.now += 6.9
    assert (await sender.step()).outcome is Outcome.WAIT
    clock.now += 0.1
    assert (await sender.step()).outcome is Outcome.SENT


async def test_the_wall_clock_going_back_keeps_each_wait_from_now(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock, events: Callable[..., Any]
) -> None:
    """Retry times are stored on the wall clock (they outlive the process). Set back six hours
    (NTP, a wrong RTC corrected), the batch, and all behind it, must not wait those hours, nor
    lose its wait (a server's Retry-After) and be sent at every wake-up."""
    _queue(outbox, events(2))
    receiver.answer(*([503] * 200), headers={"Retry-After": "120"})
    sender = _sender(outbox, client, receiver.url, clock, backoff_base=2.0, rand=lambda: 1.0)
    # The server is down for seven hours: retried at the 300 s cap meanwhile.
    start = clock.now
    while clock.now < start + 7 * 3600:
        step = await sender.step()
        assert step.outcome is Outcome.WAIT
        clock.now += step.delay
    last = await sender.step()
    assert (last.outcome, last.delay) == (Outcome.WAIT, 300.0)
    sent = len(receiver.requests)
    clock.now -= 6 * 3600
    for _ in range(5):  # the reader's commits wake the sender again and again
        step = await sender.step()
        assert step.outcome is Outcome.WAIT
        assert 299.0 < step.delay <= 300.0
    assert len(receiver.requests) == sent
    receiver.script.clear()
    clock.now += 300.0
    assert (await sender.step()).outcome is Outcome.SENT


async def test_an_answer_that_cannot_be_decoded_is_retried_not_fatal(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock, events: Callable[..., Any]
) -> None:
    """A proxy saying gzip over a plain body: httpx cannot decode the answer. The batch may or may
    not be stored, so it is sent again later (the bot recognises its id); the sender lives on."""
    _queue(outbox, events(2))
    receiver.answer(200, body={"accepted": 2}, headers={"Content-Encoding": "gzip"})
    sender = _sender(outbox, client, receiver.url, clock, backoff_base=1.0, rand=lambda: 1.0)
    step = await sender.step()
    assert (step.outcome, step.delay) == (Outcome.WAIT, 1.0)
    assert sender.failure_kind is FailureKind.SERVER
    assert sender.failure is not None
    assert sender.failure.startswith("the server's answer could not be decoded")
    clock.now += step.delay
    assert (await sender.step()).outcome is Outcome.SENT
    assert len({r.batch_id for r in receiver.requests}) == 1  # the same batch, twice
    assert len(receiver.accepted_new) == 2
    assert outbox.pending_events() == 0


async def test_timeouts_and_refused_connections_retry(
    outbox: Outbox, receiver: Any, clock: Clock, events: Callable[..., Any]
) -> None:
    _queue(outbox, events(1))
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["Idempotency-Key"])
        if len(calls) == 1:
            raise httpx.ReadTimeout("slow", request=request)
        if len(calls) == 2:
            raise httpx.ConnectError("refused", request=request)
        body = json.loads(gzip.decompress(request.content))
        return httpx.Response(200, json={"accepted": len(body["events"]), "duplicates": 0, "ignored": 0})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as mock:
        sender = _sender(outbox, mock, "http://bot.invalid", clock, rand=lambda: 1.0)
        step = await sender.step()
        assert step.outcome is Outcome.WAIT
        assert step.message == "timed out talking to the server (ReadTimeout)"
        assert sender.failure_kind is FailureKind.UNREACHABLE
        clock.now += step.delay
        step = await sender.step()
        assert (step.outcome, step.message) == (Outcome.WAIT, "cannot reach the server: refused")
        clock.now += step.delay
        assert (await sender.step()).outcome is Outcome.SENT
    assert len(set(calls)) == 1


async def test_outage_then_429_then_500s_then_up_loses_nothing_and_keeps_order(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock, events: Callable[..., Any]
) -> None:
    a = events(30, source="Journal.2025-04-08T215854.01.log")
    b = events(30, start=100, source="Journal.2025-04-09T101010.01.log")
    _queue(outbox, a[:15])
    _queue(outbox, b[:15])
    _queue(outbox, a[15:])
    _queue(outbox, b[15:])
    sender = _sender(outbox, client, receiver.url, clock, batch_max_events=7, rand=lambda: 1.0)

    receiver.stop()  # down: connection refused
    for _ in range(4):
        step = await sender.step()
        assert step.outcome is Outcome.WAIT
        assert sender.failure_kind is FailureKind.UNREACHABLE
        clock.now += step.delay
    receiver.start()
    receiver.answer(429, headers={"Retry-After": "30"})
    receiver.answer(500, 500, 503)
    delivered = 0
    for _ in range(100):
        step = await sender.step()
        if step.outcome is Outcome.IDLE:
            break
        if step.outcome is Outcome.WAIT:
            clock.now += step.delay
        else:
            assert step.outcome is Outcome.SENT
            delivered += step.events
    assert delivered == 60
    assert outbox.pending_events() == 0
    assert sorted(receiver.accepted_new) == sorted(e.id for e in a + b)
    assert len(receiver.accepted_new) == len(set(receiver.accepted_new))
    by_source: dict[str, list[int]] = {}
    for req in receiver.requests:
        if req.status == 200:
            for ev in req.events:
                by_source.setdefault(ev["source"], []).append(ev["offset"])
    for offsets in by_source.values():
        assert offsets == sorted(offsets)
    statuses = [r.status for r in receiver.requests]
    assert statuses[:4] == [429, 500, 500, 503]


async def test_run_loop_sends_what_is_queued_and_stops(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, events: Callable[..., Any]
) -> None:
    sender = Sender(outbox, client, url=receiver.url, token="good-token")
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    evs = events(12)
    _queue(outbox, evs)
    sender.wake.set()
    await asyncio.to_thread(receiver.wait_for, lambda: len(receiver.accepted_new) == 12, 10.0)
    stop.set()
    await asyncio.wait_for(task, 5.0)
    assert receiver.accepted_new == [e.id for e in evs]
    for req in receiver.requests:
        Batch.model_validate({**json.loads(json.dumps({"schema_version": 1})), "batch_id": req.batch_id,
                              "uploader_version": "x", "platform": "y", "events": req.events})


async def test_run_loop_pauses_on_a_refused_token_despite_new_events(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, events: Callable[..., Any]
) -> None:
    sender = Sender(outbox, client, url=receiver.url, token="revoked", token_pause=3600)
    stop = asyncio.Event()
    _queue(outbox, events(2))
    task = asyncio.create_task(sender.run(stop))
    await asyncio.to_thread(receiver.wait_for, lambda: len(receiver.requests) == 1, 10.0)
    # Wake-ups set before or after the 401 reaches the sender: either way they must not retry it.
    for i in range(5):  # the tailer queues more and wakes the sender each time
        _queue(outbox, events(1, start=10 + i, source=f"Journal.2025-04-1{i}T000000.01.log"))
        sender.wake.set()
        await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(task, 5.0)
    assert sender.token_refused is not None
    assert len(receiver.requests) == 1  # no retry with the refused token
    assert outbox.pending_events() == 7


async def test_a_retry_set_by_the_previous_version_is_due_once_the_clock_went_back(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock, events: Callable[..., Any]
) -> None:
    """A batch whose retry time an older uploader set (no time of setting stored): a clock earlier
    than the batch's making went back, so it is due now rather than hours away."""
    _queue(outbox, events(2))
    sender = _sender(outbox, client, receiver.url, clock)
    batch = outbox.next_batch(max_events=10, max_bytes=10**6, uploader_version="0", platform="x")
    assert batch is not None
    outbox._db.execute("UPDATE batches SET attempts = 3, next_attempt_at = ?, attempted_at = NULL",
                       (clock.now + 200.0,))  # fmt: skip
    clock.now -= 6 * 3600
    assert (await sender.step()).outcome is Outcome.SENT


async def test_422_naming_events_sets_only_those_aside_and_sends_the_rest_at_once(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock, events: Callable[..., Any]
) -> None:
    """One event a bot refuses (an older bot, a field it bounds tighter) must not hold back the
    batch's good events: the bot names the bad ones, they alone become a dead letter."""
    evs = events(5)
    _queue(outbox, evs)
    receiver.answer(422, body={"error": {"code": "invalid", "message": "events[1].x: no; events[3].y: no",
                                         "invalid_events": [1, 3]}})
    sender = _sender(outbox, client, receiver.url, clock)
    step = await sender.step()
    assert step.outcome is Outcome.DEAD_LETTERED
    assert sender.dead_lettered_events == 2
    [letter] = outbox.dead_letters()
    assert (letter.status, letter.n_events) == (422, 2)
    assert letter.reason == "422 invalid: events[1].x: no; events[3].y: no"
    assert (await sender.step()).outcome is Outcome.SENT
    refused, resent = receiver.requests
    assert resent.batch_id != refused.batch_id
    assert resent.event_ids == [evs[i].id for i in (0, 2, 4)]
    assert receiver.accepted_new == [evs[i].id for i in (0, 2, 4)]
    assert outbox.pending_events() == 0
    # What was set aside is the two events, whole: `resend` sends them as they were.
    assert outbox.requeue_dead_letters("9.9") == (1, 2)
    assert (await sender.step()).outcome is Outcome.SENT
    assert receiver.requests[-1].event_ids == [evs[i].id for i in (1, 3)]
    assert receiver.requests[-1].events == [json.loads(evs[i].model_dump_json()) for i in (1, 3)]
    assert receiver.accepted_new == [evs[i].id for i in (0, 2, 4, 1, 3)]


@pytest.mark.parametrize(
    "named",
    [
        [0, 1, 2],  # every event: the batch is bad
        [1, 7],  # an index the batch does not have: not this batch's answer
        [1, 1],  # named twice
        ["1"],  # not a list of numbers
        None,  # an older bot: no list
    ],
)
async def test_422_without_a_usable_list_of_events_dead_letters_the_whole_batch(
    named: Any, outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock,
    events: Callable[..., Any]
) -> None:
    _queue(outbox, events(3))
    error: dict[str, Any] = {"code": "invalid", "message": "bad"}
    if named is not None:
        error["invalid_events"] = named
    receiver.answer(422, body={"error": error})
    sender = _sender(outbox, client, receiver.url, clock)
    assert (await sender.step()).outcome is Outcome.DEAD_LETTERED
    [letter] = outbox.dead_letters()
    assert letter.n_events == 3
    assert outbox.pending_events() == 0
    assert (await sender.step()).outcome is Outcome.IDLE


async def test_resent_dead_letters_go_before_the_batches_waiting(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock, events: Callable[..., Any]
) -> None:
    first, second = events(4), events(2, start=4, source="Journal.2025-04-09T000000.01.log")
    _queue(outbox, first)
    receiver.answer(422, body={"error": {"code": "invalid", "message": "bad"}})
    sender = _sender(outbox, client, receiver.url, clock, batch_max_events=2)
    assert (await sender.step()).outcome is Outcome.DEAD_LETTERED
    assert (await sender.step()).outcome is Outcome.SENT
    receiver.answer(422, body={"error": {"code": "invalid", "message": "bad"}})
    _queue(outbox, second)
    assert (await sender.step()).outcome is Outcome.DEAD_LETTERED
    assert outbox.requeue_dead_letters("9.9") == (2, 4)
    _queue(outbox, events(1, start=6, source="Journal.2025-04-10T000000.01.log"))
    while (await sender.step()).outcome is Outcome.SENT:
        pass
    sent = [r.event_ids for r in receiver.requests[3:]]
    # The two refused batches, in the order they were refused, then what was queued after.
    assert sent[:2] == [[e.id for e in first[:2]], [e.id for e in second]]
    assert len(sent) == 3


async def test_an_idle_sender_finds_batches_resent_beside_it(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock, events: Callable[..., Any],
    tmp_path: Path
) -> None:
    """`colony-uploader resend` runs as its own process beside a running uploader and cannot wake
    its sender: the idle sender looks at the outbox again on its own."""
    _queue(outbox, events(2))
    receiver.answer(422, body={"error": {"code": "invalid", "message": "bad"}})
    sender = _sender(outbox, client, receiver.url, clock, idle_recheck=0.05)
    stop = asyncio.Event()
    running = asyncio.create_task(sender.run(stop))
    try:
        await _until(lambda: outbox.stats().dead_letters == 1, "the batch is a dead letter")
        with Outbox(tmp_path / "outbox.sqlite3", clock=clock) as beside:
            assert beside.requeue_dead_letters("9.9") == (1, 2)
        await _until(lambda: len(receiver.accepted_new) == 2, "the resent batch is delivered")
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)


async def _until(condition: Callable[[], bool], what: str, bound: float = 10.0) -> None:
    """Await `condition()` for at most `bound` seconds, yielding to the sender between checks."""
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.01)


async def test_a_refused_token_replaced_in_the_settings_is_taken_on_without_a_restart(
    outbox: Outbox, client: httpx.AsyncClient, receiver: Any, clock: Clock, events: Callable[..., Any]
) -> None:
    """The commander runs `init` again with a new token: the uploader running out of sight (a
    Startup shortcut, a service) sends with it at once, not after a restart nor a 10-minute pause."""
    _queue(outbox, events(3))
    configured = ["wrong-token"]
    sender = _sender(outbox, client, receiver.url, clock, token="wrong-token",
                     token_source=lambda: configured[0], token_recheck=0.05)  # fmt: skip
    stop = asyncio.Event()
    running = asyncio.create_task(sender.run(stop))
    try:
        await _until(lambda: outbox.stats().token_refused is not None, "the token is refused")
        assert receiver.accepted_new == []
        configured[0] = "good-token"
        await _until(lambda: len(receiver.accepted_new) == 3, "the batch is sent with the new token")
        assert receiver.requests[-1].headers["Authorization"] == "Bearer good-token"
        # The receiver counts the batch before it answers: the outbox hears of it a moment later.
        await _until(lambda: outbox.stats().token_refused is None, "the refusal is cleared")
        assert outbox.pending_events() == 0
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)


def test_the_configured_token_is_read_again_from_the_config_file(tmp_path: Path) -> None:
    from uploader.runner import configured_token
    from uploader.settings import Settings

    config = tmp_path / "config.toml"
    config.write_text('url = "http://127.0.0.1:9"\ntoken = "first-token-123"\n', encoding="utf-8")
    settings = Settings(config_file=config, _env_file=None)  # type: ignore[call-arg]
    assert configured_token(settings) == "first-token-123"
    config.write_text('url = "http://127.0.0.1:9"\ntoken = "second-token-456"\n', encoding="utf-8")
    assert configured_token(settings) == "second-token-456"
    config.write_text('url = "http://127.0.0.1:9"\ntoken = "unfinished', encoding="utf-8")
    assert configured_token(settings) is None  # being written: no answer yet, not a crash
    # `init` run again for the squadron's new server: its token must not go to the old address.
    config.write_text('url = "https://new.example"\ntoken = "new-token-789"\n', encoding="utf-8")
    assert configured_token(settings) is None
