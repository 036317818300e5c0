"""POST /api/v1/events on the real server: counts, idempotency, unknown kinds, all-or-none."""

from __future__ import annotations

import asyncio
import sqlite3

from bot.store.events import EventRow
from bot.store.projections import ProjectionStore
from tests.bot._helpers import Bot, Journal, batch
from wire import Batch, BatchResult

SITE = 3958981890


async def test_batch_is_stored_and_the_site_appears(bot_api: Bot) -> None:
    token = await bot_api.token()
    alice = Journal("Alice")
    events = [
        alice.docked(0, SITE, "Orbital Construction Site: Newton Vision"),
        alice.depot(0.1, SITE, {"steel": (1000, 400), "titanium": (500, 100)}),
        alice.contribution(1, SITE, {"steel": 50}),
    ]
    status, body = await bot_api.post(token, batch(events))
    assert (status, body) == (200, {"accepted": 3, "duplicates": 0, "ignored": 0})

    status, site = await bot_api.get(token, f"/api/v1/sites/{SITE}")
    assert status == 200
    assert site["station_name"] == "Orbital Construction Site: Newton Vision"
    assert site["system_name"] == "Col 285 Sector GF-F b12-5"
    steel = next(c for c in site["commodities"] if c["name"] == "steel")
    # 400 per snapshot + 50 delivered after it (provisional), never more.
    assert (steel["required"], steel["provided"], steel["remaining"], steel["provisional"]) == (
        1000,
        450,
        550,
        50,
    )
    assert site["progress"] == (450 + 100) / 1500
    assert site["contributions"] == [{"commander": "Alice", "commodity": "steel", "tonnes": 50}]


async def test_duplicates_and_replayed_batches(bot_api: Bot) -> None:
    token = await bot_api.token()
    alice = Journal("Alice")
    first = [alice.depot(0, SITE, {"steel": (1000, 0)}), alice.contribution(1, SITE, {"steel": 10})]
    assert await bot_api.post(token, batch(first, "b1")) == (
        200,
        {"accepted": 2, "duplicates": 0, "ignored": 0},
    )
    # The same batch id again: the same answer, nothing stored twice.
    assert await bot_api.post(token, batch(first, "b1")) == (
        200,
        {"accepted": 2, "duplicates": 0, "ignored": 0},
    )
    # The same events under a new batch id (the uploader re-read a file): duplicates.
    again = [*first, alice.contribution(2, SITE, {"steel": 5})]
    assert await bot_api.post(token, batch(again, "b2")) == (
        200,
        {"accepted": 1, "duplicates": 2, "ignored": 0},
    )
    # The same event twice inside one batch counts once.
    dup = alice.contribution(3, SITE, {"steel": 1})
    assert await bot_api.post(token, batch([dup, dup], "b3")) == (
        200,
        {"accepted": 1, "duplicates": 1, "ignored": 0},
    )
    count, _ = await bot_api.snapshot()
    assert count == 4
    _, site = await bot_api.get(token, f"/api/v1/sites/{SITE}")
    assert site["contributions"] == [{"commander": "Alice", "commodity": "steel", "tonnes": 16}]


async def test_unknown_kinds_are_stored_and_counted_as_ignored(bot_api: Bot) -> None:
    token = await bot_api.token()
    alice = Journal("Alice")
    future = {
        "kind": "megaship_arrival",
        "id": "f" * 32,
        "timestamp": "2026-01-01T00:00:00Z",
        "anything": [1, 2],
    }
    status, body = await bot_api.post(token, batch([alice.depot(0, SITE, {"steel": (10, 0)}), future]))
    assert (status, body) == (200, {"accepted": 1, "duplicates": 0, "ignored": 1})
    async with bot_api.db.conn.execute(
        "SELECT kind, known, payload FROM events WHERE id = ?", ("f" * 32,)
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    assert (row[0], row[1]) == ("megaship_arrival", 0)
    assert '"anything":[1,2]' in row[2]
    # A newer kind's fields are kept exactly, even an integer beyond 64 bits.
    huge = {"kind": "galaxy_map", "id": "e" * 32, "timestamp": "2026-01-01T00:00:00Z", "n": 2**70}
    status, body = await bot_api.post(token, batch([huge]))
    assert (status, body) == (200, {"accepted": 0, "duplicates": 0, "ignored": 1})
    async with bot_api.db.conn.execute("SELECT payload FROM events WHERE id = ?", ("e" * 32,)) as cur:
        stored = await cur.fetchone()
    assert stored is not None
    assert f'"n":{2**70}' in stored[0]
    # Sent again: a duplicate now, not ignored twice.
    status, body = await bot_api.post(token, batch([future]))
    assert body == {"accepted": 0, "duplicates": 1, "ignored": 0}


async def test_same_event_id_in_two_guilds_is_two_events(bot_api: Bot) -> None:
    one = await bot_api.token(guild=1)
    two = await bot_api.token(guild=2)
    event = Journal("Alice").depot(0, SITE, {"steel": (10, 1)})
    assert (await bot_api.post(one, batch([event])))[1]["accepted"] == 1
    assert (await bot_api.post(two, batch([event])))[1]["accepted"] == 1


async def test_a_failing_batch_leaves_nothing_behind(bot_api: Bot) -> None:
    """All or none: a batch whose write fails in the middle stores no event and changes no state."""
    token = await bot_api.token()
    alice = Journal("Alice")
    assert (await bot_api.post(token, batch([alice.depot(0, SITE, {"steel": (100, 10)})])))[0] == 200
    before = await bot_api.snapshot()
    view_before = await bot_api.services.queries.site(111, SITE)

    original = bot_api.services.intake.projections.write_rows_now

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    bot_api.services.intake.projections.write_rows_now = broken  # type: ignore[method-assign]
    try:
        events = [alice.contribution(1, SITE, {"steel": 30}), alice.depot(2, SITE, {"steel": (100, 40)})]
        resp = await bot_api.client.post(
            "/api/v1/events", json=batch(events), headers={"Authorization": f"Bearer {token}"}
        )
        assert resp.status == 500
        assert (await resp.json())["error"]["code"] == "internal"
    finally:
        bot_api.services.intake.projections.write_rows_now = original  # type: ignore[method-assign]
    assert await bot_api.snapshot() == before
    assert await bot_api.services.queries.site(111, SITE) == view_before
    # And the same events go through once the fault is gone.
    assert (await bot_api.post(token, batch(events)))[1]["accepted"] == 2


async def test_a_bad_batch_in_a_group_fails_alone(bot_api: Bot) -> None:
    """Batches written in one transaction (group commit) are still each all or none."""
    token = await bot_api.token()
    record = await bot_api.services.tokens.authenticate(token)
    assert record is not None
    intake = bot_api.services.intake
    a, b, c = (
        Journal("Alice", source="a.log"),
        Journal("Bob", source="b.log"),
        Journal("Carol", source="c.log"),
    )
    good1 = Batch.model_validate(
        batch([a.depot(0, SITE, {"steel": (100, 10)}), a.contribution(1, SITE, {"steel": 5})])
    )
    bad = Batch.model_validate(batch([b.contribution(2, SITE, {"steel": 7})]))
    good2 = Batch.model_validate(batch([c.contribution(3, SITE, {"steel": 3})]))
    poison = bad.events[0].id
    original = intake.events.insert

    def insert(conn: sqlite3.Connection, rows: list[EventRow]) -> None:
        if any(row.id == poison for row in rows):
            raise RuntimeError("this one cannot be written")
        original(conn, rows)

    intake.events.insert = insert  # type: ignore[method-assign]
    results = await asyncio.gather(
        intake.submit(record, good1), intake.submit(record, bad), intake.submit(record, good2),
        return_exceptions=True,
    )  # fmt: skip
    intake.events.insert = original  # type: ignore[method-assign]
    assert results[0] == BatchResult(accepted=2, duplicates=0, ignored=0)
    assert isinstance(results[1], RuntimeError)
    assert results[2] == BatchResult(accepted=1, duplicates=0, ignored=0)
    count, _ = await bot_api.snapshot()
    assert count == 3
    view = await bot_api.services.queries.site(111, SITE)
    assert view is not None
    assert {(c.commander, c.tonnes) for c in view.contributions} == {("Alice", 5), ("Carol", 3)}
    # The state in memory is what a fresh start would load from the database.
    fresh = await ProjectionStore().load(bot_api.db.conn)
    assert fresh[111].site_view(SITE) == view
    # The bad batch goes through once it can be written.
    assert await intake.submit(record, bad) == BatchResult(accepted=1, duplicates=0, ignored=0)
