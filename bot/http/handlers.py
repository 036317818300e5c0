"""Route handlers: parse the request, call one service, shape the answer. No logic of their own."""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bot.http.errors import ApiError, not_found
from bot.http.keys import MODE, SERVICES, SETTINGS, STARTED, TOKEN
from bot.ids import typed_id
from bot.store.tokens import TokenRecord
from wire import SCHEMA_VERSION, Batch
from wire.errors import describe_errors

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")


def _dump(models: Sequence[BaseModel]) -> list[Any]:
    return [m.model_dump(mode="json") for m in models]


def _token(request: web.Request) -> TokenRecord:
    return request[TOKEN]


def _invalid_events(errors: list[ErrorDetails]) -> dict[str, list[int]]:
    """`{"invalid_events": [3, 7]}`: the indexes of the refused events, when nothing else in the
    batch is wrong. The uploader then sets those aside and sends the rest again, so one bad event
    does not hold a batch of good ones back. Empty when the batch itself is wrong."""
    indexes: set[int] = set()
    for error in errors:
        loc = error["loc"]
        if len(loc) < 2 or loc[0] != "events" or not isinstance(loc[1], int):
            return {}
        indexes.add(loc[1])
    return {"invalid_events": sorted(indexes)}


# zlib window bits per Content-Encoding: gzip's header, zlib's header, or raw deflate (some clients
# send raw deflate under "deflate"; tried when the zlib header is wrong).
_DECODINGS: dict[str, tuple[int, ...]] = {"gzip": (31,), "x-gzip": (31,), "deflate": (15, -15)}


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The request body, decoded, refused with 413 as soon as it is known to exceed `limit`.

    The declared length is checked before reading anything; the raw stream is counted as it
    arrives and the decoded body is never let grow past the limit, so a gzip bomb stops there.
    We decode ourselves (the app runs with aiohttp's auto_decompress off): aiohttp's own decoder
    raised from inside its parser on a bad stream and could leave the kept-alive connection stuck.
    A refused body that was not read to its end closes the connection.
    """
    too_large = ApiError(
        413, "too_large", f"body larger than {limit} bytes; send smaller batches", close=True
    )
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in _DECODINGS and encoding not in ("", "identity"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Encoding {encoding[:40]!r} is not supported; send gzip, deflate or none",
            close=True,
        )
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    raw = bytearray()
    try:
        async for chunk in request.content.iter_chunked(64 * 1024):
            raw += chunk
            if len(raw) > limit:
                raise too_large
    except RequestPayloadError as exc:  # broken chunked encoding, a body cut short
        reason = " ".join(str(getattr(exc, "message", exc)).split())
        raise ApiError(400, "malformed", f"body could not be read: {reason}", close=True) from exc
    if encoding not in _DECODINGS:
        return bytes(raw)
    return _decode(bytes(raw), encoding, limit, too_large)


def _decode(raw: bytes, encoding: str, limit: int, too_large: ApiError) -> bytes:
    reason = "empty body"
    for wbits in _DECODINGS[encoding]:
        decoder = zlib.decompressobj(wbits)
        try:
            body = decoder.decompress(raw, limit + 1)
        except zlib.error as exc:
            reason = str(exc)
            continue
        if len(body) > limit:
            raise too_large
        if not decoder.eof:
            reason = "the compressed stream ends early"
            continue
        if decoder.unused_data:
            reason = "data after the end of the compressed stream"
            continue
        return body
    raise ApiError(400, "malformed", f"body could not be decoded as {encoding}: {reason}")


@routes.get("/api/v1/health", name="health")
async def health(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    stats = services.intake.stats
    return _json(
        {
            "status": "ok",
            "mode": request.app[MODE],
            "schema_version": SCHEMA_VERSION,
            "db_schema_version": services.db.schema_version,
            "uptime_seconds": round(time.monotonic() - request.app[STARTED], 3),
            "intake": {
                "batches": stats.batches,
                "replayed_batches": stats.replayed_batches,
                "accepted": stats.accepted,
                "duplicates": stats.duplicates,
                "ignored": stats.ignored,
                "last_batch_at": stats.last_batch_at.isoformat() if stats.last_batch_at else None,
            },
        }
    )


@routes.post("/api/v1/events", name="events")
async def post_events(request: web.Request) -> web.Response:
    token = _token(request)
    body = await _read_body(request, request.app[SETTINGS].max_body_bytes)
    try:
        batch = Batch.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            reason = errors[0]["msg"].removeprefix("Invalid JSON: ")
            raise ApiError(400, "malformed", f"body is not valid JSON: {reason}") from None
        raise ApiError(422, "invalid", describe_errors(errors), details=_invalid_events(errors)) from None
    # Shielded: a client hanging up must not cancel a transaction half way.
    result = await asyncio.shield(request.app[SERVICES].intake.submit(token, batch))
    return _json(result.model_dump(mode="json"))


@routes.get("/api/v1/whoami", name="whoami")
async def whoami(request: web.Request) -> web.Response:
    token = _token(request)
    last = await request.app[SERVICES].intake.last_upload(token.id)
    return _json(
        {
            "last_upload_at": last.isoformat() if last else None,
            # Discord snowflakes exceed 2**53: strings, as in Discord's own API.
            "guild_id": str(token.guild_id),
            "user_id": str(token.user_id),
            "label": token.label,
            "token": token.prefix,
            "created_at": token.created_at.isoformat(),
        }
    )


@routes.get("/api/v1/sites", name="sites")
async def sites(request: web.Request) -> web.Response:
    views = await request.app[SERVICES].queries.sites(_token(request).guild_id)
    return _json({"sites": _dump(views)})


def _int(text: str, what: str) -> int:
    value = typed_id(text)
    if value is None:  # not a number, or none a store could hold: names nothing
        raise not_found(f"no {what} {text!r}")
    return value


@routes.get("/api/v1/sites/{market_id}", name="site")
async def site(request: web.Request) -> web.Response:
    market_id = _int(request.match_info["market_id"], "site")
    view = await request.app[SERVICES].queries.site(_token(request).guild_id, market_id)
    if view is None:
        raise not_found(f"no site {market_id}")
    return _json(view.model_dump(mode="json"))


@routes.get("/api/v1/systems", name="systems")
async def systems(request: web.Request) -> web.Response:
    queries = request.app[SERVICES].queries
    guild_id = _token(request).guild_id
    query = request.query.get("q")
    if query is not None:
        if len(query) > 200:
            raise ApiError(400, "bad_request", "q is longer than 200 characters")
        if not query.strip():  # it would match every system, each as well as the next
            raise ApiError(400, "bad_request", "q is empty: give part of a system name")
        return _json({"query": query, "matches": _dump(await queries.search_systems(guild_id, query))})
    return _json({"systems": _dump(await queries.systems(guild_id))})


@routes.get("/api/v1/systems/{name}", name="system")
async def system(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    view = await request.app[SERVICES].queries.system(_token(request).guild_id, name)
    if view is None:
        raise not_found(f"no system {name!r} with sites")
    return _json(view.model_dump(mode="json"))


@routes.get("/api/v1/commodities", name="commodities")
async def commodities(request: web.Request) -> web.Response:
    system_name = request.query.get("system")
    totals = await request.app[SERVICES].queries.commodities(_token(request).guild_id, system_name)
    if totals is None:
        raise not_found(f"no system {system_name!r} with sites")
    return _json({"system": system_name, "commodities": _dump(totals)})


@routes.get("/api/v1/stats", name="stats")
async def stats(request: web.Request) -> web.Response:
    view = await request.app[SERVICES].queries.stats(_token(request).guild_id)
    return _json(view.model_dump(mode="json"))


@routes.get("/api/v1/status", name="status")
async def status(request: web.Request) -> web.Response:
    view = await request.app[SERVICES].queries.status(_token(request).guild_id)
    return _json(view.model_dump(mode="json"))


@routes.get("/api/v1/leaderboard", name="leaderboard")
async def leaderboard(request: web.Request) -> web.Response:
    market_id: int | None = None
    since: datetime | None = None
    if "market_id" in request.query:
        market_id = typed_id(request.query["market_id"])
        if market_id is None:  # (a number past 64 bits was a 500 from the store)
            raise ApiError(400, "bad_request", "market_id must be a MarketID (a whole number)")
    if "since" in request.query:
        try:
            since = datetime.fromisoformat(request.query["since"])
        except ValueError:
            raise ApiError(400, "bad_request", "since must be an ISO 8601 time") from None
        if since.tzinfo is None:
            raise ApiError(400, "bad_request", "since needs a time zone, e.g. 2025-04-08T00:00:00Z")
    entries = await request.app[SERVICES].queries.leaderboard(_token(request).guild_id, market_id, since)
    return _json(
        {"market_id": market_id, "since": since.isoformat() if since else None, "entries": _dump(entries)}
    )


@routes.get("/api/v1/commanders", name="commanders")
async def commanders(request: web.Request) -> web.Response:
    views = await request.app[SERVICES].queries.commanders(_token(request).guild_id)
    return _json({"commanders": _dump(views)})


@routes.get("/api/v1/carriers", name="carriers")
async def carriers(request: web.Request) -> web.Response:
    views = await request.app[SERVICES].queries.carriers(_token(request).guild_id)
    return _json({"carriers": _dump(views)})


@routes.get("/api/v1/claims", name="claims")
async def claims(request: web.Request) -> web.Response:
    views = await request.app[SERVICES].queries.claims(_token(request).guild_id)
    return _json({"claims": _dump(views)})
