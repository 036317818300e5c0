"""Tokens: compared timing-safely, stored only as a hash, limited in size and rate."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
import pytest

from bot.http.ratelimit import RateLimiter
from tests.bot._helpers import Bot, Journal, batch, make_settings, running_bot

SITE = 3958981890


def _spy(monkeypatch: pytest.MonkeyPatch, verdict: Callable[[bool], bool]) -> list[tuple[object, object]]:
    """Replace compare_digest (under both names it is reachable by) with a recording wrapper."""
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def compare(a: str, b: str) -> bool:
        calls.append((a, b))
        return verdict(real(a, b))

    monkeypatch.setattr(hmac, "compare_digest", compare)
    monkeypatch.setattr(secrets, "compare_digest", compare)
    return calls


async def test_the_auth_path_decides_with_compare_digest(
    bot_api: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await bot_api.token()
    digest = hashlib.sha256(token.encode()).hexdigest()
    calls = _spy(monkeypatch, lambda same: same)
    status, _ = await bot_api.get(token, "/api/v1/whoami")
    assert status == 200
    assert (digest, digest) in calls  # the stored hash against the presented one's

    # The answer follows compare_digest, not some other comparison made beside it.
    calls = _spy(monkeypatch, lambda same: False)
    status, body = await bot_api.get(token, "/api/v1/whoami")
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    assert calls


async def test_only_the_hash_is_stored(bot_api: Bot) -> None:
    token = await bot_api.token()
    with sqlite3.connect(bot_api.settings.db_path) as conn:
        dump = "\n".join(conn.iterdump())
    assert token not in dump
    assert token[12:] not in dump  # the secret part, after the shown prefix
    assert hashlib.sha256(token.encode()).hexdigest() in dump


@pytest.mark.parametrize(
    "header", ["Bearer", "Basic {t}", "Bearer  ", "bearer{t}", "Token {t}", "Bearer {t}x"]
)
async def test_mangled_authorization_headers_are_401(bot_api: Bot, header: str) -> None:
    token = await bot_api.token()
    resp = await bot_api.client.get("/api/v1/whoami", headers={"Authorization": header.format(t=token)})
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="colony"'


async def test_a_very_long_token_is_refused_without_a_lookup(
    bot_api: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[str] = []
    store = bot_api.services.tokens.store
    real = store.by_hash

    async def by_hash(digest: str) -> object:
        looked_up.append(digest)
        return await real(digest)

    monkeypatch.setattr(store, "by_hash", by_hash)
    status, body = await bot_api.get("cbt_" + "x" * 5000, "/api/v1/whoami")
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    assert looked_up == []


async def test_size_limit_holds_for_declared_chunked_and_gzip_bomb_bodies(tmp_path: Path) -> None:
    async with running_bot(make_settings(tmp_path, max_body_bytes=64 * 1024)) as bot:
        token = await bot.token()
        before = await bot.snapshot()
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        big = orjson.dumps(batch([Journal("A").contribution(1, SITE, {"steel": 1})] * 1)) + b" " * 70_000

        resp = await bot.client.post("/api/v1/events", data=big, headers=auth)
        assert (resp.status, (await resp.json())["error"]["code"]) == (413, "too_large")

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            for _ in range(20):
                yield b" " * 8192

        resp = await bot.client.post("/api/v1/events", data=chunks(), headers=auth)
        assert (resp.status, (await resp.json())["error"]["code"]) == (413, "too_large")

        bomb = gzip.compress(b"[" + b" " * (50 * 1024 * 1024) + b"]")  # 50 MB of spaces, ~50 KB zipped
        assert len(bomb) < 64 * 1024
        resp = await bot.client.post("/api/v1/events", data=bomb, headers=auth | {"Content-Encoding": "gzip"})
        assert (resp.status, (await resp.json())["error"]["code"]) == (413, "too_large")
        assert await bot.snapshot() == before


async def test_rate_limit_is_per_token_and_a_refused_request_stores_nothing(tmp_path: Path) -> None:
    clock = [0.0]
    limiter = RateLimiter(per_minute=60, burst=3, clock=lambda: clock[0])
    async with running_bot(make_settings(tmp_path), limiter=limiter) as bot:
        token, other = await bot.token(user=1), await bot.token(user=2)
        alice = Journal("Alice")
        for minute in range(3):
            assert (await bot.post(token, batch([alice.contribution(minute, SITE, {"steel": 1})])))[0] == 200
        before = await bot.snapshot()
        resp = await bot.client.post(
            "/api/v1/events",
            json=batch([alice.contribution(9, SITE, {"steel": 1})]),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "1"
        assert (await resp.json())["error"]["code"] == "rate_limited"
        assert await bot.snapshot() == before
        # Another commander's token is not slowed down by this one's flood.
        assert (await bot.get(other, "/api/v1/whoami"))[0] == 200
        clock[0] += 1.0  # one request a second comes back
        assert (await bot.get(token, "/api/v1/whoami"))[0] == 200
