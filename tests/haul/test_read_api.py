"""The hauling read API on the real server: claims and boards of the token's guild, in DESIGN
section 4's JSON, with its errors; the store filled from the real April 2025 journal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.bot._helpers import Bot, make_settings, running_bot
from tests.haul._world import APRIL, CARRIER, SITE, at, journal_events
from wire import Batch

pytestmark = pytest.mark.samples

GUILD, USER = 111, 222


@pytest.fixture
async def api(tmp_path: Path, samples: Path) -> AsyncIterator[tuple[Bot, str]]:
    async with running_bot(make_settings(tmp_path)) as bot:
        token, record = await bot.services.tokens.issue(GUILD, USER, "TEST's PC")
        events = journal_events(samples / APRIL)
        batch = Batch(batch_id="april", uploader_version="test", platform="test", events=events)
        await bot.services.intake.submit(record, batch)
        bot.services.hauling.clock = lambda: at("2025-04-09T01:20:00")
        yield bot, token


async def test_claims_and_boards_of_the_tokens_guild(api: tuple[Bot, str]) -> None:
    bot, token = api
    claim = await bot.services.hauling.claim(GUILD, USER, "titanium", 1000, SITE)
    await bot.services.hauling.link_carrier(GUILD, CARRIER, SITE)

    status, body = await bot.get(token, "/api/v1/haul/claims")
    assert status == 200
    (only,) = body["claims"]
    assert only == {
        "id": claim.id,
        "market_id": SITE,
        "site_name": "System Colonisation Ship",
        "system_name": "Col 285 Sector GF-F b12-5",
        "discord_user_id": str(USER),
        "commodity": "titanium",
        "name_localised": "Titanium",
        "tonnes": 1000,
        "delivered": 0,
        "remaining": 1000,
        "in_ships": 740,
        "status": "open",
        "created_at": "2025-04-09T01:20:00Z",
        "expires_at": "2025-04-09T05:20:00Z",
        "closed_at": None,
    }
    assert (await bot.get(token, f"/api/v1/haul/claims?market_id={SITE + 1}"))[1] == {"claims": []}

    status, board = await bot.get(token, f"/api/v1/haul/boards/{SITE}")
    assert status == 200
    titanium = next(x for x in board["lines"] if x["name"] == "titanium")
    assert (titanium["in_ships"], titanium["claimed"], titanium["on_carriers"]) == (740, 260, 0)
    # Linked, nothing known on it: what ships and the claim leave is for the carrier to load.
    assert titanium["to_load_on_carriers"] == titanium["remaining"] - 740 - 260 == titanium["open"]
    for line in board["lines"]:
        assert line["in_ships"] + line["claimed"] + line["on_carriers"] + line["open"] == line["remaining"]
    assert board["carriers"] == [CARRIER]
    assert [c["id"] for c in board["claims"]] == [claim.id]
    assert [r["window_hours"] for r in board["rates"]] == [3, 24]

    status, boards = await bot.get(token, "/api/v1/haul/boards")
    assert status == 200
    assert [b["market_id"] for b in boards["boards"]] == [SITE]

    status, carriers = await bot.get(token, "/api/v1/haul/carriers")
    assert status == 200
    (carrier,) = [c for c in carriers["carriers"] if c["carrier_id"] == CARRIER]
    assert (carrier["callsign"], carrier["sites"], carrier["lines"]) == ("H5L-69X", [SITE], [])

    # Closed claims show when asked for.
    await bot.services.hauling.release(GUILD, USER, claim.id)
    assert (await bot.get(token, "/api/v1/haul/claims"))[1] == {"claims": []}
    _, body = await bot.get(token, "/api/v1/haul/claims?closed_within_hours=1")
    assert [(c["id"], c["status"], c["closed_at"]) for c in body["claims"]] == [
        (claim.id, "released", "2025-04-09T01:20:00Z")
    ]


async def test_another_guild_sees_nothing_and_bad_input_is_refused(api: tuple[Bot, str]) -> None:
    bot, token = api
    await bot.services.hauling.claim(GUILD, USER, "titanium", 10, SITE)
    other = await bot.token(guild=999, user=1)
    assert await bot.get(other, "/api/v1/haul/claims") == (200, {"claims": []})
    assert await bot.get(other, "/api/v1/haul/boards") == (200, {"boards": []})
    assert await bot.get(other, f"/api/v1/haul/boards/{SITE}") == (
        404,
        {"error": {"code": "not_found", "message": f"no site '{SITE}'"}},
    )
    assert await bot.get(token, "/api/v1/haul/boards/steel") == (
        404,
        {"error": {"code": "not_found", "message": "no site 'steel'"}},
    )
    # Digits int() refuses ("²", "①") and numbers past 64 bits name no site either (were 500s).
    for odd in ("%C2%B2", "%E2%91%A0", "9" * 5000):
        status, body = await bot.get(token, f"/api/v1/haul/boards/{odd}")
        assert status == 404
        assert body["error"]["code"] == "not_found"
    assert await bot.get(token, "/api/v1/haul/claims?market_id=abc") == (
        400,
        {"error": {"code": "bad_request", "message": "market_id must be a whole number"}},
    )
    assert await bot.get(token, "/api/v1/haul/claims?closed_within_hours=-1") == (
        400,
        {
            "error": {
                "code": "bad_request",
                "message": "closed_within_hours must be a whole number between 0 and 2160",
            }
        },
    )
    resp = await bot.client.get("/api/v1/haul/claims")
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthorized"
    assert len((await bot.get(token, "/api/v1/haul/claims"))[1]["claims"]) == 1  # untouched
