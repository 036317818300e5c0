"""Every route of the API, taken from the route table itself, without a token, with a revoked one and
with another guild's: refused or blind to the first guild's data, and nothing stored by a refusal.

A route added later is covered automatically; one whose path parameter this test cannot fill fails
here until the test learns it.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from bot.http.handlers import routes as api_routes
from bot.http.hauling import routes as haul_routes
from bot.http.keys import PUBLIC
from bot.http.live import routes as live_routes
from tests.bot._helpers import Bot, Journal, batch

GUILD_A, GUILD_B = 111, 999
SITE = 3958981890
SYSTEM = "Col 285 Sector GF-F b12-5"
STATION = "Orbital Construction Site: Secret Harbour"
CMDR = "Alice Secretname"
MISSING = {"code": "unauthorized", "message": "missing `Authorization: Bearer <token>` header"}
REVOKED = {"code": "unauthorized", "message": "token is unknown or has been revoked"}
# Text of guild A's data that must never show up in an answer to guild B.
A_MARKERS = (str(SITE), STATION, CMDR, "Secretname", SYSTEM)
PARAMS = {"market_id": str(SITE), "name": SYSTEM}


def all_routes() -> list[tuple[str, str, str]]:
    """Every route the app serves (`bot/http/app.py` adds the three tables)."""
    out = []
    for route in [*api_routes, *haul_routes, *live_routes]:
        assert isinstance(route, web.RouteDef)
        name = route.kwargs.get("name")
        assert isinstance(name, str), f"route {route.method} {route.path} has no name"
        out.append((route.method, route.path, name))
    return out


def concrete(path: str) -> str:
    def fill(m: re.Match[str]) -> str:
        key = m.group(1).split(":")[0]
        assert key in PARAMS, f"the security test does not know how to fill {{{key}}} in {path}"
        return PARAMS[key]

    return re.sub(r"\{([^}]+)\}", fill, path)


def test_the_route_table_is_what_this_test_walks() -> None:
    methods = {m for m, _, _ in all_routes()}
    assert methods <= {"GET", "POST"}
    assert {n for _, _, n in all_routes()} >= {
        "events", "sites", "site", "systems", "system", "stream", "ws", "haul_boards", "haul_board"
    }
    assert {n for _, _, n in all_routes() if n in PUBLIC} == {"health"}


async def _seed(bot: Bot) -> tuple[str, str, str]:
    token_a = await bot.token(guild=GUILD_A, user=222)
    alice = Journal(CMDR)
    events = [
        alice.docked(0, SITE, STATION),
        alice.depot(0, SITE, {"steel": (1000, 100)}),
        alice.contribution(1, SITE, {"steel": 50}),
    ]
    assert (await bot.post(token_a, batch(events)))[0] == 200
    revoked, record = await bot.services.tokens.issue(GUILD_A, 223, "to revoke")
    await bot.services.tokens.revoke(record.prefix)
    token_b = await bot.token(guild=GUILD_B, user=333)
    return token_a, revoked, token_b


async def _call(
    bot: Bot, method: str, path: str, token: str | None, body: bytes = b""
) -> tuple[int, Any, str]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    if method == "POST":
        headers["Content-Type"] = "application/json"
    if path == "/api/v1/ws":  # as a WebSocket client opens it; a refused one gets the JSON answer
        try:
            async with bot.client.ws_connect(path, headers=headers) as socket:
                return 200, None, await asyncio.wait_for(_ws_until_ready(socket), 10)
        except aiohttp.WSServerHandshakeError:
            pass
    async with bot.client.request(method, path, data=body or None, headers=headers) as resp:
        if resp.headers.get("Content-Type", "").startswith("text/event-stream"):
            text = await asyncio.wait_for(_until_ready(resp), 10)
            return resp.status, None, text
        raw = await resp.read()
        return resp.status, orjson.loads(raw) if raw else None, raw.decode()


async def _until_ready(resp: Any) -> str:
    """The stream's snapshot, up to and including its `ready` event."""
    seen = []
    while True:
        line = (await resp.content.readline()).decode()
        assert line, "the stream ended before `ready`"
        seen.append(line)
        if line.startswith("event: ready"):
            return "".join(seen)


async def _ws_until_ready(socket: Any) -> str:
    """The WebSocket's snapshot, up to and including its `ready` message."""
    seen = []
    while True:
        message = await socket.receive_str()
        seen.append(message)
        if orjson.loads(message)["type"] == "ready":
            return "\n".join(seen)


def _body_for_b() -> bytes:
    zed = Journal("Zed", source="Journal.2025-04-09T100000.01.log")
    return orjson.dumps(batch([zed.docked(2, 42, "B's own site"), zed.depot(2, 42, {"steel": (10, 1)})]))


@pytest.mark.parametrize(("method", "path", "name"), all_routes())
async def test_without_a_token_or_with_a_revoked_one(bot_api: Bot, method: str, path: str, name: str) -> None:
    _, revoked, _ = await _seed(bot_api)
    before = await bot_api.snapshot()
    url = concrete(path)
    body = _body_for_b() if method == "POST" else b""
    for token, error in ((None, MISSING), ("", MISSING), ("cbt_" + "A" * 43, REVOKED), (revoked, REVOKED)):
        status, answer, text = await _call(bot_api, method, url, token, body)
        if name in PUBLIC:
            assert status == 200
            assert not any(marker in text for marker in A_MARKERS)
            continue
        assert (status, answer) == (401, {"error": error}), (token, url)
    assert await bot_api.snapshot() == before


@pytest.mark.parametrize(("method", "path", "name"), all_routes())
async def test_another_guilds_token_sees_nothing_of_this_guild(
    bot_api: Bot, method: str, path: str, name: str
) -> None:
    token_a, _, token_b = await _seed(bot_api)
    site_before = await bot_api.services.queries.site(GUILD_A, SITE)
    assert site_before is not None
    url = concrete(path)
    status, answer, text = await _call(
        bot_api, method, url, token_b, _body_for_b() if method == "POST" else b""
    )
    if "{" in path:
        # A's site and system do not exist for B: the same 404 as for anything missing.
        assert status == 404
        assert answer["error"]["code"] == "not_found"
    else:
        assert status == 200
    assert not any(marker in text for marker in A_MARKERS if marker not in url), text[:500]
    # Whatever B did, A's view of its site is what it was.
    assert await bot_api.services.queries.site(GUILD_A, SITE) == site_before
    # And A still sees its own data on the same route.
    status, _, text = await _call(bot_api, "GET", url, token_a) if method == "GET" else (200, None, STATION)
    assert status == 200
    if name in {"sites", "site", "systems", "system", "stream", "ws", "status"}:
        assert STATION in text or SYSTEM in text
