"""The read API (DESIGN section 4) and the live stream, on the real server."""

from __future__ import annotations

import asyncio
import functools
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import ClientResponse

from bot.notify.feed import ChangeFeed
from bot.store.db import migrations
from tests.bot._helpers import Bot, Journal, batch, make_settings, running_bot
from wire import Batch

SITE = 3958981890
OTHER = 3958345730
SYSTEM = "Col 285 Sector GF-F b12-5"


async def _seed(bot: Bot) -> str:
    token = await bot.token(label="Alice's PC")
    a = Journal("Alice")
    events = [
        a.event("loadout", 0, ship="type9", cargo_capacity=790),
        a.docked(0, SITE, "System Colonisation Ship"),
        a.depot(0, SITE, {"steel": (1000, 400), "titanium": (500, 500)}),
        a.contribution(1, SITE, {"steel": 100}),
        a.docked(2, OTHER, "Orbital Construction Site: Newton Vision"),
        a.depot(2, OTHER, {"steel": (300, 300)}, complete=True, progress=1.0),
        a.event("carrier_stats", 3, carrier_id=3710508288, callsign="H5L-69X", name="Haul"),
        a.event("system_claim", 4, system_name="Next Target", system_address=5),
    ]
    assert (await bot.post(token, batch(events)))[0] == 200
    return token


async def test_health_needs_no_token_and_reports_intake(bot_api: Bot) -> None:
    await _seed(bot_api)
    resp = await bot_api.client.get("/api/v1/health")
    body = await resp.json()
    assert resp.status == 200
    assert (body["status"], body["mode"], body["db_schema_version"]) == ("ok", "offline", len(migrations()))
    assert body["intake"]["batches"] == 1
    assert body["intake"]["accepted"] == 8


async def test_whoami(bot_api: Bot) -> None:
    token = await _seed(bot_api)
    status, body = await bot_api.get(token, "/api/v1/whoami")
    assert status == 200
    assert (body["guild_id"], body["user_id"], body["label"]) == ("111", "222", "Alice's PC")
    assert body["token"] == token[:12]
    assert body["last_upload_at"] is not None
    other = await bot_api.token(user=5)
    assert (await bot_api.get(other, "/api/v1/whoami"))[1]["last_upload_at"] is None


async def test_sites_and_systems(bot_api: Bot) -> None:
    token = await _seed(bot_api)
    _, sites = await bot_api.get(token, "/api/v1/sites")
    assert [s["market_id"] for s in sites["sites"]] == [OTHER, SITE]  # by system, then station name
    site = sites["sites"][1]
    assert set(site) >= {
        "market_id", "station_name", "station_type", "system_name", "system_address", "progress",
        "complete", "failed", "updated_at", "commodities", "contributions",
    }  # fmt: skip
    assert set(site["commodities"][0]) >= {
        "name",
        "name_localised",
        "required",
        "provided",
        "remaining",
        "payment",
    }

    _, systems = await bot_api.get(token, "/api/v1/systems")
    assert systems["systems"] == [
        {
            "name": SYSTEM, "address": 6680653861562, "sites": 2, "sites_done": 1, "sites_in_progress": 1,
            "completion": (500 + 500 + 300) / 1800,
        }
    ]  # fmt: skip
    _, found = await bot_api.get(token, "/api/v1/systems?q=col 258 gf-f")
    assert [m["name"] for m in found["matches"]] == [SYSTEM]
    _, found = await bot_api.get(token, "/api/v1/systems?q=Shinrarta")
    assert found["matches"] == []
    for blank in ("", "%20%20"):
        status, body = await bot_api.get(token, f"/api/v1/systems?q={blank}")
        assert (status, body) == (
            400, {"error": {"code": "bad_request", "message": "q is empty: give part of a system name"}}
        )

    status, system = await bot_api.get(token, "/api/v1/systems/col 285 sector gf-f b12-5")
    assert status == 200
    assert (system["name"], system["sites_done"], system["sites_in_progress"]) == (SYSTEM, 1, 1)
    assert system["most_needed"]["name"] == "steel"
    assert system["most_needed"]["remaining"] == 500
    status, body = await bot_api.get(token, "/api/v1/systems/Nowhere")
    assert (status, body) == (
        404,
        {"error": {"code": "not_found", "message": "no system 'Nowhere' with sites"}},
    )


async def test_commodities_stats_status_leaderboard_commanders(bot_api: Bot) -> None:
    token = await _seed(bot_api)
    _, body = await bot_api.get(token, f"/api/v1/commodities?system={SYSTEM}")
    steel = body["commodities"][0]
    assert (steel["name"], steel["required"], steel["provided"], steel["remaining"]) == (
        "steel",
        1000,
        500,
        500,
    )
    assert (steel["sites_requiring"], steel["average_payment"], steel["progress"]) == (1, 1000.0, 0.5)
    assert (await bot_api.get(token, "/api/v1/commodities?system=Nowhere"))[0] == 404

    _, stats = await bot_api.get(token, "/api/v1/stats")
    assert (stats["sites"], stats["sites_done"], stats["events"], stats["tonnes_delivered"]) == (2, 1, 8, 100)
    assert (stats["commanders"], stats["carriers"], stats["claims_active"]) == (1, 1, 1)
    assert stats["tonnes_unattributed"] == 400 + 500 + 300

    _, status = await bot_api.get(token, "/api/v1/status")
    assert [s["market_id"] for s in status["sites_in_progress"]] == [SITE]

    _, board = await bot_api.get(token, "/api/v1/leaderboard?since=2025-04-08T21:00:30Z")
    assert [(e["rank"], e["commander"], e["tonnes"], e["deliveries"]) for e in board["entries"]] == [
        (1, "Alice", 100, 1)
    ]
    _, board = await bot_api.get(token, "/api/v1/leaderboard?since=2025-04-08T21:05:00Z")
    assert board["entries"] == []
    status_code, error = await bot_api.get(token, "/api/v1/leaderboard?since=yesterday")
    assert (status_code, error["error"]["message"]) == (400, "since must be an ISO 8601 time")

    _, cmdrs = await bot_api.get(token, "/api/v1/commanders")
    [alice] = cmdrs["commanders"]
    assert (alice["name"], alice["station_name"], alice["cargo_capacity"]) == (
        "Alice", "Orbital Construction Site: Newton Vision", 790
    )  # fmt: skip
    _, carriers = await bot_api.get(token, "/api/v1/carriers")
    assert carriers["carriers"][0]["callsign"] == "H5L-69X"
    _, claims = await bot_api.get(token, "/api/v1/claims")
    assert claims["claims"][0]["system_name"] == "Next Target"


async def test_large_answers_are_gzipped_when_asked(bot_api: Bot) -> None:
    token = await _seed(bot_api)
    resp = await bot_api.client.get(
        "/api/v1/sites", headers={"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    )
    assert resp.headers["Content-Encoding"] == "gzip"
    assert len((await resp.json())["sites"]) == 2


async def _next_event(resp: ClientResponse) -> tuple[str, Any]:
    kind = ""
    while True:
        line = (await resp.content.readline()).decode()
        if line.startswith("event: "):
            kind = line[7:].strip()
        elif line.startswith("data: "):
            return kind, json.loads(line[6:])


async def _one_upload_each(bot: Bot, token: str, other_guild: str) -> Any:
    """An upload to another guild, then one changing SITE here; SITE's JSON as /sites/{id} says."""
    await bot.post(other_guild, batch([Journal("Zed").depot(9, 42, {"steel": (1, 0)})]))
    a = Journal("Alice", source="later.log")
    await bot.post(token, batch([a.contribution(10, SITE, {"steel": 50})]))
    _, current = await bot.get(token, f"/api/v1/sites/{SITE}")
    return current


async def test_stream_sends_every_site_then_each_change(bot_api: Bot) -> None:
    token = await _seed(bot_api)
    other_guild = await bot_api.token(guild=999)
    async with bot_api.client.get("/api/v1/stream", headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        first = [await asyncio.wait_for(_next_event(resp), 5) for _ in range(3)]
        assert [(k, d.get("market_id")) for k, d in first] == [
            ("site", OTHER),
            ("site", SITE),
            ("ready", None),
        ]

        # Another guild's upload is not streamed here; ours is, as the same site JSON as /sites/{id}.
        current = await _one_upload_each(bot_api, token, other_guild)
        kind, data = await asyncio.wait_for(_next_event(resp), 5)
        assert (kind, data) == ("site", current)
        assert data["commodities"][0]["provisional"] == 150


async def test_stream_keeps_quiet_connections_alive_and_ends_at_shutdown(tmp_path: Path) -> None:
    async with running_bot(make_settings(tmp_path, stream_keepalive_seconds=0.05)) as bot:
        token = await bot.token()
        async with bot.client.get("/api/v1/stream", headers={"Authorization": f"Bearer {token}"}) as resp:
            assert await asyncio.wait_for(_next_event(resp), 5) == ("ready", {})

            async def keepalive() -> None:
                while (await resp.content.readline()) != b": keepalive\n":
                    pass

            await asyncio.wait_for(keepalive(), 5)
            bot.services.feed.close()  # what the app does at shutdown: the stream ends
            rest = await asyncio.wait_for(resp.content.read(), 5)  # returns only once the stream ends
            assert rest.strip() in (b"", b": keepalive")


async def test_a_stream_ends_once_its_token_is_revoked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token is checked when the stream opens and again while it is open: once revoked, the
    stream says so in an `error` event and ends, as every other request with it gets 401."""
    monkeypatch.setattr("bot.http.live.STREAM_TOKEN_CHECK_SECONDS", 0.05)
    async with running_bot(make_settings(tmp_path, stream_keepalive_seconds=0.05)) as bot:
        token, record = await bot.services.tokens.issue(111, 7, "leaked")
        async with bot.client.get("/api/v1/stream", headers={"Authorization": f"Bearer {token}"}) as resp:
            assert await asyncio.wait_for(_next_event(resp), 5) == ("ready", {})
            await bot.services.tokens.revoke(record.prefix)
            event = await asyncio.wait_for(_next_event(resp), 5)
            revoked = {"error": {"code": "unauthorized", "message": "token has been revoked"}}
            assert event == ("error", revoked)
            rest = await asyncio.wait_for(resp.content.read(), 5)  # returns only once the stream ends
            assert b"event: site" not in rest


async def test_head_of_the_stream_is_its_headers_only(bot_api: Bot) -> None:
    """HEAD would otherwise start the stream after the headers, and the connection's next request
    would never be answered."""
    token = await _seed(bot_api)
    headers = {"Authorization": f"Bearer {token}"}
    async with bot_api.client.head("/api/v1/stream", headers=headers) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
    status, _ = await bot_api.get(token, f"/api/v1/sites/{SITE}")  # the connection still serves
    assert status == 200


async def _next_message(socket: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.receive_str(), 5))
    return message


async def test_the_websocket_sends_every_site_then_each_change(bot_api: Bot) -> None:
    """The original assistant's push API: the same updates as the event stream, as JSON messages."""
    token = await _seed(bot_api)
    other_guild = await bot_api.token(guild=999)
    headers = {"Authorization": f"Bearer {token}"}
    async with bot_api.client.ws_connect("/api/v1/ws", headers=headers) as socket:
        first = [await _next_message(socket) for _ in range(3)]
        assert [(m["type"], m.get("site", {}).get("market_id")) for m in first] == [
            ("site", OTHER),
            ("site", SITE),
            ("ready", None),
        ]
        current = await _one_upload_each(bot_api, token, other_guild)
        assert await _next_message(socket) == {"type": "site", "site": current}


async def test_the_websocket_ends_once_its_token_is_revoked_or_the_bot_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.http.live.STREAM_TOKEN_CHECK_SECONDS", 0.05)
    async with running_bot(make_settings(tmp_path, stream_keepalive_seconds=0.05)) as bot:
        token, record = await bot.services.tokens.issue(111, 7, "leaked")
        headers = {"Authorization": f"Bearer {token}"}
        async with bot.client.ws_connect("/api/v1/ws", headers=headers) as socket:
            assert await _next_message(socket) == {"type": "ready"}
            await bot.services.tokens.revoke(record.prefix)
            revoked = {"code": "unauthorized", "message": "token has been revoked"}
            assert await _next_message(socket) == {"type": "error", "error": revoked}
            closing = await asyncio.wait_for(socket.receive(), 5)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        headers = {"Authorization": f"Bearer {await bot.token()}"}
        async with bot.client.ws_connect("/api/v1/ws", headers=headers) as socket:
            assert await _next_message(socket) == {"type": "ready"}
            bot.services.feed.close()  # what the app does at shutdown: the socket is closed
            closing = await asyncio.wait_for(socket.receive(), 5)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_the_websocket_address_without_an_upgrade_says_so(bot_api: Bot) -> None:
    token = await _seed(bot_api)
    status, body = await bot_api.get(token, "/api/v1/ws")
    assert (status, body["error"]["code"]) == (400, "malformed")
    assert "WebSocket" in body["error"]["message"]


async def test_done_reads_done_and_not_before(bot_api: Bot) -> None:
    """A site at 99.97% is not done and never reads 100.0%; a site the game completed counts whole
    in its system's completion, whatever its last snapshot said; and the most needed goods are
    only goods still needed."""
    from bot.render.text import percent

    assert (percent(0.999708), percent(1.0), percent(0.58066)) == ("99.9%", "100.0%", "58.1%")
    token = await bot_api.token()
    a = Journal("Alice")
    events = [
        a.docked(0, SITE, "System Colonisation Ship"),
        a.depot(0, SITE, {"steel": (1000, 990), "water": (10, 10)}, progress=0.99),
        a.event("construction_complete", 1, market_id=SITE),
    ]
    assert (await bot_api.post(token, batch(events)))[0] == 200
    _, systems = await bot_api.get(token, "/api/v1/systems")
    (system,) = systems["systems"]
    assert (system["sites_done"], system["completion"]) == (1, 1.0)
    b = Journal("Bob", source="b.log")
    other = [
        b.docked(2, OTHER, "Site B", system="Elsewhere"),
        b.depot(2, OTHER, {"steel": (100, 50), "water": (10, 10)}),
    ]
    assert (await bot_api.post(token, batch(other)))[0] == 200
    _, status = await bot_api.get(token, "/api/v1/status")
    assert [c["name"] for c in status["most_needed"]] == ["steel"]  # not water, 10 of 10


_SITES = (3958981890, 3958345730, 4212062211)


@pytest.mark.parametrize("during_snapshot", [False, True], ids=["after-ready", "during-snapshot"])
async def test_a_stream_that_fell_behind_still_ends_on_every_sites_current_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, during_snapshot: bool
) -> None:
    """README: after `ready`, a `site` event whenever a site changes. A client that fell behind (its
    queue full: 1000 pending change lists in production, 2 here to keep the test small) loses the
    oldest pending changes; when the lost one was a site's LAST change, the client kept showing
    that site's old state for good, with nothing telling it so. Also when the changes were lost
    while the first snapshot was being written."""
    monkeypatch.setattr("bot.services.bundle.ChangeFeed", functools.partial(ChangeFeed, queue_size=2))
    async with running_bot(make_settings(tmp_path)) as bot:
        token = await bot.token()
        j = Journal("Alice")
        seed = [e for m in _SITES for e in (j.docked(0, m, f"Site {m}"), j.depot(0, m, {"steel": (1000, 0)}))]
        assert (await bot.post(token, batch(seed)))[0] == 200
        record = await bot.services.tokens.authenticate(token)
        assert record is not None
        uploads = [
            Batch.model_validate(batch([j.contribution(5 + n, m, {"steel": 7})]))
            for n, m in enumerate(_SITES)
        ]

        async def three_changes_at_once() -> None:  # one group commit, one change per site
            await asyncio.gather(*(bot.services.intake.submit(record, b) for b in uploads))

        if during_snapshot:
            real_sites = bot.services.queries.sites

            async def sites_then_changes(guild_id: int) -> Any:
                views = await real_sites(guild_id)
                if not getattr(sites_then_changes, "done", False):
                    sites_then_changes.done = True  # type: ignore[attr-defined]
                    await three_changes_at_once()  # after the snapshot was read, before it is sent
                return views

            monkeypatch.setattr(bot.services.queries, "sites", sites_then_changes)
        headers = {"Authorization": f"Bearer {token}"}
        async with bot.client.get("/api/v1/stream", headers=headers) as resp:
            seen: dict[int, Any] = {}
            while True:
                kind, data = await asyncio.wait_for(_next_event(resp), 5)
                if kind == "ready":
                    break
                seen[data["market_id"]] = data
            if not during_snapshot:
                await three_changes_at_once()
            # A last change on the second site marks the end of what the client will be sent.
            assert (await bot.post(token, batch([j.contribution(9, _SITES[1], {"steel": 1})])))[0] == 200
            while True:
                kind, data = await asyncio.wait_for(_next_event(resp), 5)
                seen[data["market_id"]] = data
                if data["market_id"] == _SITES[1] and data["contributions"][0]["tonnes"] == 8:
                    break
            for market_id in _SITES:
                _, current = await bot.get(token, f"/api/v1/sites/{market_id}")
                assert seen[market_id] == current, f"the stream left site {market_id} stale"
