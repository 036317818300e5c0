"""Requests aiohttp's own HTTP parser refuses, or whose headers are not UTF-8: a 4xx, no error in
the log, and never the token in a log line (the parser logs the raw line it refused)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

import pytest

from bench._procs import BotProcess, free_port, issue_token
from tests.bot._helpers import Bot


async def _raw(host: str, port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()


@pytest.mark.parametrize("path", [b"/api/v1/whoami", b"/api/v1/sites", b"/api/v1/stream"])
@pytest.mark.parametrize("value", [b"Bearer cbt_\xff\xfe", b"Bearer \xc3\x28abc"])
async def test_a_bearer_token_that_is_not_utf8_is_401(
    bot_api: Bot, path: bytes, value: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """aiohttp keeps undecodable header bytes as surrogates; hashing them raised: a 500 and an ERROR
    traceback anyone could cause, before any rate limit."""
    before = await bot_api.snapshot()
    server = bot_api.client.server
    assert server.host is not None
    request = b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nAuthorization: " + value
    answer = await _raw(server.host, server.port or 0, request + b"\r\nConnection: close\r\n\r\n")
    assert answer.split(b"\r\n", 1)[0] == b"HTTP/1.1 401 Unauthorized", answer[:300]
    assert b'"unauthorized"' in answer
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text[-800:]
    assert await bot_api.snapshot() == before


@pytest.mark.parametrize(
    "line",
    [
        b"Authorization: Bearer {t}\r\r\n",  # a token read from a CRLF file and sent as is
        b"Authorization: Bearer {t}\x01\r\n",
        b"Authorization: Bearer {t}" + b"=" * 9000 + b"\r\n",  # past the parser's line limit
    ],
    ids=["stray-cr", "control-char", "too-long"],
)
async def test_a_malformed_authorization_header_never_logs_the_token(tmp_path: Path, line: bytes) -> None:
    db, log = tmp_path / "colony.db", tmp_path / "bot.log"
    token = await issue_token(db, 5, 6)
    bot = BotProcess(db, free_port(), log=tmp_path / "bot.stderr", COLONY_LOG_FILE=str(log))
    await bot.start()
    try:
        port = int(bot.url.rsplit(":", 1)[1])
        request = b"GET /api/v1/whoami HTTP/1.1\r\nHost: x\r\n" + line.replace(b"{t}", token.encode())
        answer = await _raw("127.0.0.1", port, request + b"Connection: close\r\n\r\n")
        assert answer.split(b"\r\n", 1)[0].endswith(b"400 Bad Request")
    finally:
        assert await bot.stop() == 0
    text = (tmp_path / "bot.stderr").read_text(errors="replace") + log.read_text(errors="replace")
    assert "listening" in text
    assert "WARNING aiohttp.server: refused a malformed HTTP request (" in text
    for secret in (token, token[12:], hashlib.sha256(token.encode()).hexdigest()):
        assert secret not in text, f"the bot's log holds the token: {text[-600:]}"
