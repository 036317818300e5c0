"""Live read-API clients that stop reading (bot/http/live.py): dropped after two keepalive
intervals, and never holding the bot's shutdown for aiohttp's whole timeout."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from pathlib import Path

import aiohttp

from bot.app import ColonyCore
from bot.http.keys import STREAMS
from bot.notify.feed import SiteChange
from tests.bot._helpers import Journal, batch, make_settings, until

SITE = 3958981890


async def _core(tmp_path: Path, **kw: object) -> tuple[ColonyCore, str]:
    core = ColonyCore(make_settings(tmp_path, **kw))
    await core.start()
    token, _ = await core.services.tokens.issue(111, 2)
    a = Journal("Alice")
    async with aiohttp.ClientSession() as s:
        r = await s.post(f"http://127.0.0.1:{core.port}/api/v1/events",
                         json=batch([a.docked(0, SITE, "Site"), a.depot(0, SITE, {"steel": (1000, 100)})]),
                         headers={"Authorization": f"Bearer {token}"})
        assert r.status == 200
    return core, token


def _raw_ws(port: int, token: str) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /api/v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Authorization: Bearer {token}\r\n\r\n").encode())
    assert b" 101 " in s.recv(200)
    return s


async def test_shutdown_is_not_held_by_a_websocket_client_that_is_not_reading(tmp_path: Path) -> None:
    core, token = await _core(tmp_path, shutdown_timeout_seconds=5)
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(
            f"http://127.0.0.1:{core.port}/api/v1/ws", headers={"Authorization": f"Bearer {token}"}
        )
        while (await ws.receive_json())["type"] != "ready":
            pass
        # Connected, but not reading now (busy, or the network went away without a reset): the
        # stop is bounded well below the shutdown timeout (5 s) it would otherwise wait out.
        await asyncio.wait_for(core.stop(), 3.0)
        await ws.close()


async def test_a_websocket_client_that_never_reads_is_dropped_and_does_not_hold_shutdown(
    tmp_path: Path,
) -> None:
    core, token = await _core(tmp_path, stream_keepalive_seconds=0.5, shutdown_timeout_seconds=5)
    assert core._runner is not None
    streams = core._runner.app[STREAMS]
    client = await asyncio.to_thread(_raw_ws, core.port, token)  # reads nothing after the upgrade
    try:
        view = (await core.services.queries.sites(111))[0]
        for conn in core._runner.server._connections:  # type: ignore[union-attr]
            conn.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        published = 0
        # Changes until the socket's buffers are full and the client is dropped (its writes waited
        # two keepalive intervals): its subscription is then gone.
        while streams._subs and published < 200_000:
            core.services.feed.publish([SiteChange(111, view, None)])
            published += 1
            if published % 20 == 0:
                await asyncio.sleep(0)  # let the handler write
        await until(lambda: not streams._subs, "the client that never reads is dropped")
        await asyncio.wait_for(core.stop(), 3.0)
    finally:
        client.close()
