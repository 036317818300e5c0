"""Read API of squadron hauling (DESIGN section 4 conventions: bearer token, the token's guild only,
`{"error": {"code", "message"}}` with 400 and 404).

- `GET /api/v1/haul/claims[?market_id=N][&closed_within_hours=H]`: `{"claims": [...]}`, the open
  claims and those closed in the last H hours
- `GET /api/v1/haul/boards`: `{"boards": [...]}`, every site still being built
- `GET /api/v1/haul/boards/{market_id}`: one site's board
- `GET /api/v1/haul/carriers`: `{"carriers": [...]}`, stock per carrier moved since its snapshot, with
  the gap to the previous one
"""

from __future__ import annotations

from datetime import timedelta

import orjson
from aiohttp import web

from bot.http.errors import ApiError, not_found
from bot.http.keys import SERVICES, TOKEN
from bot.ids import typed_id

routes = web.RouteTableDef()
MAX_CLOSED_HOURS = 24 * 90


def _json(payload: object) -> web.Response:
    return web.Response(body=orjson.dumps(payload), content_type="application/json")


def _int(request: web.Request, name: str, what: str = "a whole number") -> int | None:
    text = request.query.get(name)
    if text is None:
        return None
    value = typed_id(text)
    if value is None:  # (a number past 64 bits would reach the store)
        raise ApiError(400, "bad_request", f"{name} must be {what}")
    return value


@routes.get("/api/v1/haul/claims", name="haul_claims")
async def claims(request: web.Request) -> web.Response:
    market_id = _int(request, "market_id")
    span = f"a whole number between 0 and {MAX_CLOSED_HOURS}"
    hours = _int(request, "closed_within_hours", span)
    if hours is not None and not 0 <= hours <= MAX_CLOSED_HOURS:
        raise ApiError(400, "bad_request", f"closed_within_hours must be {span}")
    views = await request.app[SERVICES].hauling.claims(
        request[TOKEN].guild_id, closed_within=None if hours is None else timedelta(hours=hours)
    )
    chosen = [v for v in views if market_id is None or v.market_id == market_id]
    return _json({"claims": [v.model_dump(mode="json") for v in chosen]})


@routes.get("/api/v1/haul/boards", name="haul_boards")
async def boards(request: web.Request) -> web.Response:
    views = await request.app[SERVICES].hauling.boards(request[TOKEN].guild_id)  # the sites being built
    return _json({"boards": [v.model_dump(mode="json") for v in views]})


@routes.get("/api/v1/haul/boards/{market_id}", name="haul_board")
async def board(request: web.Request) -> web.Response:
    text = request.match_info["market_id"]
    view = None
    # Like /api/v1/sites/{market_id}: what is not a MarketID names no site.
    market_id = typed_id(text)
    if market_id is not None:
        view = await request.app[SERVICES].hauling.board(request[TOKEN].guild_id, market_id)
    if view is None:
        raise not_found(f"no site {text!r}")
    return _json(view.model_dump(mode="json"))


@routes.get("/api/v1/haul/carriers", name="haul_carriers")
async def carriers(request: web.Request) -> web.Response:
    views = await request.app[SERVICES].hauling.carrier_stock(request[TOKEN].guild_id)
    return _json({"carriers": [v.model_dump(mode="json") for v in views]})
