"""The aiohttp application factory."""

from __future__ import annotations

import time

from aiohttp import web

from bot.http import middleware
from bot.http.handlers import routes
from bot.http.hauling import routes as haul_routes
from bot.http.keys import LIMITER, MODE, SERVICES, SETTINGS, STARTED, STREAMS, OpenStreams
from bot.http.live import routes as live_routes
from bot.http.ratelimit import RateLimiter
from bot.services.bundle import Services
from bot.settings import Settings


def create_app(
    services: Services, settings: Settings, *, limiter: RateLimiter | None = None, mode: str = "offline"
) -> web.Application:
    app = web.Application(
        middlewares=[middleware.errors, middleware.compress, middleware.auth],
        # aiohttp's own cap for request.read(); the intake counts the stream itself (see handlers).
        client_max_size=settings.max_body_bytes,
        # The intake decodes gzip/deflate itself, bounded and with clear errors (handlers._read_body).
        handler_args={"auto_decompress": False},
    )
    app[SERVICES] = services
    app[SETTINGS] = settings
    app[LIMITER] = limiter or RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
    app[STARTED] = time.monotonic()
    app[MODE] = mode
    app[STREAMS] = OpenStreams()
    app.add_routes(routes)
    app.add_routes(haul_routes)
    app.add_routes(live_routes)
    return app
