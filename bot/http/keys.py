"""Typed keys for what the app and each request carry."""

from __future__ import annotations

from aiohttp import web

from bot.http.ratelimit import RateLimiter
from bot.services.bundle import Services
from bot.settings import Settings
from bot.store.tokens import TokenRecord

SERVICES = web.AppKey("services", Services)
SETTINGS = web.AppKey("settings", Settings)
LIMITER = web.AppKey("limiter", RateLimiter)
STARTED = web.AppKey("started", float)
MODE = web.AppKey("mode", str)
TOKEN = web.RequestKey("token", TokenRecord)  # the authenticated token of a request

PUBLIC = frozenset({"health"})  # route names served without a token

__all__ = ["LIMITER", "MODE", "PUBLIC", "SERVICES", "SETTINGS", "STARTED", "TOKEN", "TokenRecord"]
