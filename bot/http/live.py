"""Live site updates for read-API clients, two ways over one feed: server-sent events
(`GET /api/v1/stream`) and a WebSocket (`GET /api/v1/ws`, the original desktop assistant's push
API). Both send every site of the token's guild now, then `ready`, then each site as it changes;
both check the token again every few seconds and end once it is revoked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable
from dataclasses import dataclass
from typing import Literal

import orjson
from aiohttp import WSMsgType, web

from bot.http.errors import ApiError
from bot.http.keys import SERVICES, SETTINGS, STREAMS, TOKEN
from bot.notify.feed import FeedClosedError
from bot.views import SiteView

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()

# How often an open stream checks that its token is still live (a revoked one ends the stream).
STREAM_TOKEN_CHECK_SECONDS = 5.0
CLOSE_WAIT_SECONDS = 1.0  # for a WebSocket client's answer to our close
_REVOKED = {"error": {"code": "unauthorized", "message": "token has been revoked"}}


@dataclass(frozen=True, slots=True)
class Item:
    """One thing to tell a live client: a site as it is now, `ready` (every site sent), `revoked`
    (the token was revoked: the last item), or `keepalive` (nothing for a while)."""

    kind: Literal["site", "ready", "revoked", "keepalive"]
    site: SiteView | None = None


async def site_feed(request: web.Request) -> AsyncGenerator[Item, None]:
    """What a live client of the request's guild is told, until the feed closes or the token is
    revoked. Close it (`contextlib.aclosing`) to end its subscription."""
    services = request.app[SERVICES]
    guild_id = request[TOKEN].guild_id
    raw_token = request.headers.get("Authorization", "").partition(" ")[2].strip()
    keepalive = request.app[SETTINGS].stream_keepalive_seconds
    wait = min(keepalive, STREAM_TOKEN_CHECK_SECONDS)
    # Subscribed before the snapshot is read, so no change falls between the two.
    sub = services.feed.subscribe(guild_id)
    dropped = sub.dropped  # counted from here: a change dropped during the snapshot was missed too
    streams = request.app[STREAMS]
    streams.add(sub)
    try:
        for view in await services.queries.sites(guild_id):
            yield Item("site", view)
        yield Item("ready")
        loop = asyncio.get_running_loop()
        checked = quiet_since = loop.time()
        while True:
            try:
                changes = await asyncio.wait_for(sub.get(), wait)
            except TimeoutError:
                changes = []
            except FeedClosedError:
                return
            now = loop.time()
            if now - checked >= STREAM_TOKEN_CHECK_SECONDS:
                checked = now
                if await services.tokens.authenticate(raw_token) is None:
                    yield Item("revoked")
                    return
            if sub.dropped != dropped:
                # The client fell behind and lost changes (the feed drops the oldest): each lost one
                # may have been a site's last, so every site is sent again as it is now.
                dropped = sub.dropped
                for view in await services.queries.sites(guild_id):
                    yield Item("site", view)
            else:
                for change in changes:
                    yield Item("site", change.site)
            if changes:
                quiet_since = now
            elif now - quiet_since >= keepalive:
                yield Item("keepalive")
                quiet_since = now
    finally:
        streams.discard(sub)
        sub.close()


def sse(event: str, data: bytes) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


_STREAM_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


def _sse_bytes(item: Item) -> bytes:
    if item.kind == "site":
        assert item.site is not None
        return sse("site", item.site.model_dump_json().encode())
    if item.kind == "ready":
        return sse("ready", b"{}")
    if item.kind == "revoked":
        return sse("error", orjson.dumps(_REVOKED))
    return b": keepalive\n\n"


@routes.get("/api/v1/stream", name="stream")
async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: `site` events, `ready`, then a `site` event per change; `error` (the 401
    body) when the token is revoked."""
    if request.method == "HEAD":  # the headers a GET would start with; a stream has no end to send
        return web.Response(headers=_STREAM_HEADERS)
    response = web.StreamResponse(headers=_STREAM_HEADERS)
    await response.prepare(request)
    try:
        async with contextlib.aclosing(site_feed(request)) as feed:
            async for item in feed:
                if not await _sent(request, response.write(_sse_bytes(item))):
                    break
    except (ConnectionResetError, asyncio.CancelledError):
        logger.debug("stream client of guild %s went away", request[TOKEN].guild_id)
        raise
    return response


def _ws_message(item: Item) -> bytes | None:
    if item.kind == "site":
        assert item.site is not None
        return b'{"type":"site","site":' + item.site.model_dump_json().encode() + b"}"
    if item.kind == "ready":
        return b'{"type":"ready"}'
    if item.kind == "revoked":
        return orjson.dumps({"type": "error", **_REVOKED})
    return None  # the WebSocket's own pings keep it alive


@routes.get("/api/v1/ws", name="ws")
async def websocket(request: web.Request) -> web.WebSocketResponse:
    """A WebSocket of JSON text messages: `{"type": "site", "site": {...}}` per site, `{"type":
    "ready"}`, then a `site` message per change; `{"type": "error", "error": {...}}` and a close when
    the token is revoked. Nothing the client sends is read but its close."""
    socket = web.WebSocketResponse(heartbeat=request.app[SETTINGS].stream_keepalive_seconds)
    if not socket.can_prepare(request).ok:
        raise ApiError(400, "malformed", "this address takes a WebSocket upgrade (or use /api/v1/stream)")
    await socket.prepare(request)
    closed = asyncio.create_task(_until_closed(socket))
    try:
        async with contextlib.aclosing(site_feed(request)) as feed:
            async for item in feed:
                if closed.done():
                    break
                message = _ws_message(item)
                if message is not None and not await _sent(request, socket.send_str(message.decode())):
                    break
    except (ConnectionResetError, asyncio.CancelledError):
        logger.debug("WebSocket client of guild %s went away", request[TOKEN].guild_id)
        raise
    finally:
        closed.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await closed
        try:
            # The close waits for the client's answer: one that does not read would hold the
            # bot's shutdown for aiohttp's whole timeout.
            await asyncio.wait_for(socket.close(), CLOSE_WAIT_SECONDS)
        except TimeoutError:
            _drop(request)
    return socket


async def _sent(request: web.Request, sending: Awaitable[None]) -> bool:
    """Whether a write to a live client went out within two keepalive intervals. A client that
    stopped reading (gone without a reset, or stuck) is dropped: its writes would wait for ever,
    holding its subscription and the bot's shutdown."""
    try:
        await asyncio.wait_for(sending, 2 * request.app[SETTINGS].stream_keepalive_seconds)
    except TimeoutError:
        logger.info("live client of guild %s stopped reading; dropped", request[TOKEN].guild_id)
        _drop(request)
        return False
    return True


def _drop(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()


async def _until_closed(socket: web.WebSocketResponse) -> None:
    """Reads what the client sends (its close, and pongs aiohttp answers itself) until it closes."""
    async for message in socket:
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.ERROR):
            return
