"""API errors as `{"error": {"code", "message"}}` with the HTTP status DESIGN section 4 gives."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from aiohttp import web


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        *,
        close: bool = False,
        details: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        # The request body was not read to its end: the connection cannot serve another request.
        self.close = close
        # Machine-readable fields beside code and message (a 422's `invalid_events`).
        self.details = dict(details or {})

    def response(self) -> web.Response:
        response = error_response(self.status, self.code, self.message, self.headers, self.details)
        if self.close:
            response.force_close()
        return response


def error_response(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    details: Mapping[str, object] | None = None,
) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps({"error": {"code": code, "message": message, **(details or {})}}),
        content_type="application/json",
        headers=headers,
    )


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", what)
