"""Errors as JSON, bearer-token authentication and per-token rate limits, for every route."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.http.errors import ApiError, error_response
from bot.http.keys import LIMITER, PUBLIC, SERVICES, TOKEN
from bot.http.ratelimit import RateLimiter

logger = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _STATUS_CODES.get(exc.status, "http_error")
        message = exc.reason if exc.status != 404 else f"no route {request.method} {request.path}"
        return error_response(
            exc.status, code, message, {k: v for k, v in exc.headers.items() if k == "Allow"}
        )
    except Exception:
        logger.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error; the bot's log has the details")


@web.middleware
async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.route.name in PUBLIC or request.match_info.http_exception is not None:
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="colony"'}
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "missing `Authorization: Bearer <token>` header", challenge)
    record = await request.app[SERVICES].tokens.authenticate(token.strip())
    if record is None:
        raise ApiError(401, "unauthorized", "token is unknown or has been revoked", challenge)
    limiter: RateLimiter = request.app[LIMITER]
    wait = limiter.take(record.id)
    if wait > 0:
        retry = limiter.retry_after(wait)
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests for this token; retry in {retry} s",
            {"Retry-After": retry},
        )
    request[TOKEN] = record
    return await handler(request)


@web.middleware
async def compress(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if isinstance(response, web.Response) and response.body is not None:
        body = response.body
        if (
            isinstance(body, bytes)
            and len(body) > 1024
            and "gzip" in request.headers.get("Accept-Encoding", "")
        ):
            response.enable_compression()
    return response
