"""One event the bot refuses, among good ones: the real uploader's sender against the real bot.

The bot names the refused events in its 422 (`invalid_events`); the sender sets only those aside
as a dead letter and sends the rest again, so the good events are stored at once."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.bot._helpers import Bot, Journal
from uploader.outbox import Outbox, QueuedEvent, SourceState
from uploader.sender import Outcome, Sender

SITE = 3958981890


async def test_the_good_events_of_a_refused_batch_are_stored_and_only_the_bad_one_kept_aside(
    bot_api: Bot, tmp_path: Path
) -> None:
    token = await bot_api.token()
    alice = Journal("Alice")
    events = [
        alice.docked(0, SITE, "Site A"),
        alice.depot(1, SITE, {"steel": (100, 10)}),
        alice.contribution(2, SITE, {"steel": 7}),
    ]
    bad = {**events[1], "offset": -1}  # no journal line is at a negative offset
    queued = [events[0], bad, events[2]]
    with Outbox(tmp_path / "outbox.sqlite3") as outbox:
        outbox.commit_chunk(
            SourceState(alice.source, "fp", 10_000, 10_000, 0),
            [QueuedEvent(e["id"], int(e["offset"]), json.dumps(e)) for e in queued],
            None,
        )
        async with httpx.AsyncClient(timeout=10.0) as client:
            sender = Sender(outbox, client, url=str(bot_api.client.make_url("")), token=token)
            assert (await sender.step()).outcome is Outcome.DEAD_LETTERED
            assert (await sender.step()).outcome is Outcome.SENT
            assert (await sender.step()).outcome is Outcome.IDLE
        [letter] = outbox.dead_letters()
        assert (letter.status, letter.n_events) == (422, 1)
        assert letter.reason == "422 invalid: events[1].offset: Input should be greater than or equal to 0"
        assert outbox.pending_events() == 0
    stored, _ = await bot_api.snapshot()
    assert stored == 2
    status, site = await bot_api.get(token, f"/api/v1/sites/{SITE}")
    assert status == 200
    assert site["station_name"] == "Site A"
    assert site["contributions"] == [{"commander": "Alice", "commodity": "steel", "tonnes": 7}]
