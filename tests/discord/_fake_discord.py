"""Discord's REST API as far as a login and a channel post go: a small aiohttp app on loopback.

discord.py's requests are pointed at it (`point_discord_at`); everything on our side is the real
code. Started late, on a port chosen first, it plays "Discord was unreachable, then came back".
"""

from __future__ import annotations

import itertools
import json
import socket
from dataclasses import dataclass, field
from typing import Any

import discord
import pytest
import yarl
from aiohttp import web

USER = {"id": "4242", "username": "colony", "discriminator": "0", "avatar": None, "bot": True}
APPLICATION = {
    "id": "4242",
    "name": "ED Colony",
    "description": "",
    "icon": None,
    "bot_public": False,
    "bot_require_code_grant": False,
    "verify_key": "00",
    "owner": USER,
    "flags": 0,
}


def free_port() -> int:
    """A loopback port nothing listens on (yet): connecting to it is refused, as when offline."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _json(data: object, status: int = 200) -> web.Response:
    # discord.py decodes a body only under exactly `application/json` (no charset), as Discord sends.
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


def point_discord_at(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    """discord.py's REST calls and its gateway (which the fake does not serve: a refused upgrade)."""
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{port}/api/v10")
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(f"ws://127.0.0.1:{port}/"))


@dataclass
class FakeDiscord:
    port: int
    refuse_token: bool = False
    drop_application: int = 0  # the next N application look-ups: the connection is dropped (aiohttp
    # tries a dropped request once more itself)
    tokens: list[str] = field(default_factory=list)
    posts: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    synced: list[tuple[int | None, list[dict[str, Any]]]] = field(default_factory=list)  # (guild, commands)
    _runner: web.AppRunner | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(900_000_000_000_000_001))

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v10/users/@me", self._me)
        app.router.add_get("/api/v10/oauth2/applications/@me", self._application)
        app.router.add_post("/api/v10/channels/{channel_id}/messages", self._post)
        app.router.add_put("/api/v10/applications/{app}/commands", self._sync)
        app.router.add_put("/api/v10/applications/{app}/guilds/{guild}/commands", self._sync)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _me(self, request: web.Request) -> web.Response:
        self.tokens.append(request.headers.get("Authorization", ""))
        if self.refuse_token:
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        return _json(USER)

    async def _application(self, request: web.Request) -> web.Response:
        if self.drop_application:
            self.drop_application -= 1
            assert request.transport is not None
            request.transport.close()  # as a network failing mid-login
        return _json(APPLICATION)

    async def _sync(self, request: web.Request) -> web.Response:
        guild = request.match_info.get("guild")
        commands: list[dict[str, Any]] = await request.json()
        self.synced.append((int(guild) if guild else None, commands))
        answer = [
            {"id": str(next(self._ids)), "application_id": APPLICATION["id"], "type": 1, "version": "1"}
            | ({"guild_id": guild} if guild else {})
            | command
            for command in commands
        ]
        return _json(answer)

    async def _post(self, request: web.Request) -> web.Response:
        channel_id = int(request.match_info["channel_id"])
        body = await request.json()
        self.posts.append((channel_id, body))
        message = {
            "id": str(next(self._ids)),
            "channel_id": str(channel_id),
            "type": 0,
            "content": body.get("content") or "",
            "author": USER,
            "timestamp": "2026-11-26T00:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "pinned": False,
        }
        return _json(message)
