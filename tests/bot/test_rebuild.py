"""`colony-bot rebuild` recomputes every projection from the events table, byte for byte."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.services.rebuild import RebuildError, rebuild
from bot.store.db import Database
from bot.store.projections import ProjectionStore
from tests.bot._helpers import Bot, Journal, batch, make_settings, running_bot

SITES = (3958981890, 3958345730, 4212062211)


def _history() -> list[list[dict[str, object]]]:
    """Three commanders' journals cut into batches and delivered out of order."""
    rng = random.Random(7)
    batches = []
    for n, name in enumerate(("Alice", "Bob", "Carol")):
        j = Journal(name, source=f"Journal.2025-04-0{n + 1}T100000.01.log", fid=f"F{n}")
        events: list[dict[str, object]] = [j.event("commander", 0, name=name)]
        provided = dict.fromkeys(SITES, 0)
        for step in range(30):
            market = SITES[step % 3]
            minutes = n * 7 + step * 3
            events.append(j.docked(minutes, market, f"Site {market}", system=f"System {market % 2}"))
            amount = rng.randint(1, 40)
            events.append(j.contribution(minutes + 1, market, {"steel": amount}))
            provided[market] += amount
            events.append(
                j.depot(minutes + 1, market, {"steel": (5000, provided[market] * 3), "water": (10, 5)})
            )
            events.append(j.event("cargo", minutes + 2, count=0, inventory=[]))
        events.append(
            j.event("carrier_trade_order", 200, carrier_id=3710508288, commodity="steel", sale_order=9)
        )
        events.append(j.event("system_claim", 201, system_name=f"Claim {n}", system_address=n + 1))
        events.append(j.event("beacon_deployed", 202))
        batches.extend(events[i : i + 17] for i in range(0, len(events), 17))
    rng.shuffle(batches)
    return batches


async def _load(bot: Bot) -> None:
    tokens = [await bot.token(guild=g, user=10 + g) for g in (1, 2)]
    for index, events in enumerate(_history()):
        status, _ = await bot.post(tokens[index % 2], batch(events))
        assert status == 200


async def test_rebuild_gives_byte_identical_projections(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with running_bot(settings) as bot:
        await _load(bot)
        count, before = await bot.snapshot()
        assert count == 3 * (1 + 30 * 4 + 3)
        assert len(before["ledger"]) == 90
        assert all(
            before[table] for table in ("sites", "site_commodities", "stations", "commanders", "claims")
        )

    db = Database(settings.db_path)
    await db.open()
    try:
        result = await rebuild(db)
        after = await ProjectionStore().dump(db.conn)
    finally:
        await db.close()
    assert result.guilds == 2
    assert after == before

    # The same through the command line, from a wiped projection set.
    db = Database(settings.db_path)
    await db.open()
    async with db.transaction() as conn:
        await ProjectionStore().clear(conn)
    await db.close()
    assert await asyncio.to_thread(main, ["rebuild"], settings) == 0
    db = Database(settings.db_path)
    await db.open()
    try:
        assert await ProjectionStore().dump(db.conn) == before
    finally:
        await db.close()


async def test_a_bot_started_on_rebuilt_projections_answers_the_same(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with running_bot(settings) as bot:
        await _load(bot)
        token = await bot.token(guild=1, user=10)
        answers = [(await bot.get(token, path))[1] for path in ("/api/v1/sites", "/api/v1/leaderboard")]
    db = Database(settings.db_path)
    await db.open()
    await rebuild(db)
    await db.close()
    async with running_bot(settings) as bot:
        token = await bot.token(guild=1, user=10)
        assert [(await bot.get(token, p))[1] for p in ("/api/v1/sites", "/api/v1/leaderboard")] == answers


async def test_rebuild_uses_events_an_older_bot_stored_as_an_unknown_kind(tmp_path: Path) -> None:
    """An uploader newer than the bot sends a kind the bot does not know yet: it is stored with
    known = 0, "kept for a later version, not used" (bot/services/intake.py). Once the bot is
    upgraded to a version that knows the kind, `colony-bot rebuild` is the way to use them."""
    settings = make_settings(tmp_path)
    async with running_bot(settings) as bot:
        token = await bot.token()
        j = Journal("Alice")
        assert (await bot.post(token, batch([j.docked(0, SITES[0], "Site")])))[0] == 200
        depot = j.depot(1, SITES[0], {"steel": (1000, 250)})
        # What an older bot, which did not know `depot`, stored for this event (the row the
        # intake writes, with known = 0): simulated with the store's own insert.
        record = await bot.services.tokens.authenticate(token)
        assert record is not None
        row = (record.guild_id, depot["id"], "depot", 0, "2025-04-08T21:01:00+00:00", record.user_id,
               record.id, "old-bot-batch", "2025-04-08T21:02:00+00:00", json.dumps(depot))  # fmt: skip

        # And one this version cannot read as the kind it names (a newer uploader's other shape):
        # kept, skipped, and no reason for the rebuild to fail.
        odd = {**j.depot(2, SITES[0], {"steel": (1000, 999)}), "resources": "a newer shape"}
        odd_row = (*row[:1], odd["id"], *row[2:9], json.dumps(odd))

        def insert(conn: Any) -> None:
            bot.services.intake.events.insert(conn, [row, odd_row])

        await bot.db.run_transaction(insert)
    db = Database(settings.db_path)
    await db.open()
    try:
        await rebuild(db)
    finally:
        await db.close()
    async with running_bot(settings) as bot:
        token = await bot.token()
        status, site = await bot.get(token, f"/api/v1/sites/{SITES[0]}")
        assert status == 200
        assert site["commodities"] != [], "the stored depot snapshot was not replayed by rebuild"
        amounts = [(c["name"], c["required"], c["provided"]) for c in site["commodities"]]
        assert amounts == [("steel", 1000, 250)]


async def test_rebuild_refuses_a_stored_event_it_used_live_and_cannot_read_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A row the live projections used (known = 1) that this version cannot read (a damaged row, a
    bound tightened since) fails the rebuild, which leaves the projections as they were; skipping
    it would quietly take its tonnes off the ledger."""
    settings = make_settings(tmp_path)
    async with running_bot(settings) as bot:
        token = await bot.token()
        j = Journal("Alice")
        events = [j.docked(0, SITES[0], "Site"), j.depot(1, SITES[0], {"steel": (1000, 250)}),
                  j.contribution(2, SITES[0], {"steel": 250})]  # fmt: skip
        assert (await bot.post(token, batch(events)))[0] == 200
        record = await bot.services.tokens.authenticate(token)
        assert record is not None
        broken = {**j.contribution(3, SITES[0], {"steel": 5}), "offset": -1}
        row = (
            record.guild_id, broken["id"], "contribution", 1, "2025-04-08T21:03:00+00:00",
            record.user_id, record.id, "damaged", "2025-04-08T21:04:00+00:00", json.dumps(broken),
        )  # fmt: skip
        await bot.db.run_transaction(lambda conn: bot.services.intake.events.insert(conn, [row]))
        before = await bot.snapshot()
    db = Database(settings.db_path)
    await db.open()
    try:
        with pytest.raises(RebuildError, match=f"event {broken['id']} of guild 111 cannot be read"):
            await rebuild(db)
    finally:
        await db.close()
    async with running_bot(settings) as bot:
        assert await bot.snapshot() == before
    # As an operator meets it: one line naming the event, exit 1.
    capsys.readouterr()  # what the bots above logged (once any test has set logging up) is not this
    code = await asyncio.to_thread(main, ["rebuild"], settings)
    err = capsys.readouterr().err
    assert code == 1
    assert err == (
        f"colony-bot: cannot rebuild: event {broken['id']} of guild 111 cannot be read by this version "
        "(offset: Input should be greater than or equal to 0); nothing was changed\n"
    )
