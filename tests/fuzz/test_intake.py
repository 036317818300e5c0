"""Random requests against the real intake on a loopback port: never a 5xx, and every refused
request leaves the stored data exactly as it was (the whole SQLite file's dump compared).

The bot runs in a thread with its own event loop, so hypothesis can drive it with a plain
synchronous HTTP client, example after example, without restarting it.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import sqlite3
import threading
import urllib.parse
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.app import ColonyCore
from tests.bot._helpers import Journal, batch, make_settings

SITE = 3958981890
DOCUMENTED = {200, 400, 401, 404, 405, 413, 415, 422, 429}


class ThreadedBot:
    def __init__(self, tmp: Path) -> None:
        self.settings = make_settings(
            tmp, rate_limit_per_minute=1e9, rate_limit_burst=1_000_000, max_body_bytes=256 * 1024
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.core = ColonyCore(self.settings)
        self.call(self.core.start())
        self.url = f"http://127.0.0.1:{self.core.port}"
        self.token, _ = self.call(self.core.services.tokens.issue(111, 222, "fuzz"))

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def dump(self) -> list[str]:
        # Under the store's lock, so no write is half way (all writes are transactions anyway).
        async def locked() -> list[str]:
            async with self.core.services.db.lock:
                with sqlite3.connect(self.settings.db_path) as conn:
                    return list(conn.iterdump())

        return list(self.call(locked()))

    def close(self) -> None:
        self.call(self.core.stop())
        self.call(_cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


async def _cancel_the_rest() -> None:
    """Connection handlers of clients that hung up may outlive the server's cleanup by a moment."""
    rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedBot]:
    running = ThreadedBot(tmp_path_factory.mktemp("fuzz-intake"))
    alice = Journal("Alice")
    seed = batch([alice.docked(0, SITE, "Site A"), alice.depot(0, SITE, {"steel": (100, 10)})], "seed")
    with httpx.Client() as client:
        resp = client.post(f"{running.url}/api/v1/events", json=seed, headers=_auth(running.token))
        assert resp.status_code == 200
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as c:
        yield c


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def _valid_batch(n: int) -> dict[str, Any]:
    bob = Journal("Bob", source=f"Journal.fuzz.{n}.log")
    return batch(
        [bob.docked(1, SITE, "Site A"), bob.contribution(2, SITE, {"steel": 3}), bob.event("music", 3)]
    )


def _with_time(stamp: str) -> bytes:
    """A valid batch but for a time that has no UTC equivalent (it once made the intake fail 500)."""
    doc = _valid_batch(7)
    doc["events"][1]["timestamp"] = stamp
    return orjson.dumps(doc)


@st.composite
def mutated_batches(draw: st.DrawFn) -> bytes:
    """A valid batch with one value somewhere replaced by a random JSON value (or a key dropped)."""
    doc = _valid_batch(draw(st.integers(0, 10**6)))
    node: Any = doc
    for _ in range(draw(st.integers(1, 4))):
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node)))
            if not isinstance(node[key], dict | list) or draw(st.booleans()):
                if draw(st.integers(0, 4)) == 0:
                    del node[key]
                else:
                    node[key] = draw(json_values)
                break
            node = node[key]
        elif isinstance(node, list) and node:
            node = node[draw(st.integers(0, len(node) - 1))]
        else:
            break
    return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS) if _dumpable(doc) else b"{}"


def _dumpable(doc: Any) -> bool:
    try:
        orjson.dumps(doc)
    except TypeError:
        return False
    return True


bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: orjson.dumps(v) if _dumpable(v) else b"null"),
    mutated_batches(),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
encodings = st.sampled_from([None, "gzip", "deflate", "br", "identity", "gzip, gzip", "x-garbage", "GZIP"])
content_types = st.sampled_from([
    None, "application/json", "text/plain", "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x", "application/json; charset=latin-1",
])  # fmt: skip


def _encode(body: bytes, encoding: str | None, really: bool) -> bytes:
    if not really or encoding is None:
        return body
    if encoding.lower().startswith("gzip"):
        return gzip.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    return body


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    body=bodies,
    encoding=encodings,
    really=st.booleans(),
    content_type=content_types,
    with_token=st.booleans(),
)
@example(
    body=_with_time("9999-12-31T23:59:59-01:00"),
    encoding=None, really=False, content_type="application/json", with_token=True,
)  # fmt: skip
@example(
    body=_with_time("0001-01-01T00:00:00+01:00"),
    encoding=None, really=False, content_type="application/json", with_token=True,
)  # fmt: skip
def test_random_uploads_never_5xx_and_refusals_change_nothing(
    bot: ThreadedBot,
    client: httpx.Client,
    body: bytes,
    encoding: str | None,
    really: bool,
    content_type: str | None,
    with_token: bool,
) -> None:
    # A fresh connection each time: aiohttp closes one after a body it could not decode, and a
    # reused keep-alive connection would race that close (a client-side error, not an answer).
    headers = {"Connection": "close"} | (_auth(bot.token) if with_token else {})
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    if content_type is not None:
        headers["Content-Type"] = content_type
    before = bot.dump()
    resp = client.post(f"{bot.url}/api/v1/events", content=_encode(body, encoding, really), headers=headers)
    assert resp.status_code in DOCUMENTED, resp.text
    if not resp.headers.get("Content-Type", "").startswith("application/json"):
        # aiohttp's HTTP parser refuses a body it cannot decode (br without Brotli, broken deflate)
        # itself, before or beside any handler: a plain-text 400, nothing stored.
        assert resp.status_code == 400
        assert bot.dump() == before
        return
    answer = resp.json()
    if resp.status_code == 200:
        assert set(answer) == {"accepted", "duplicates", "ignored"}
        return
    assert set(answer) == {"error"}
    error = answer["error"]
    if "invalid_events" in error:  # only a 422's, and only indexes of the batch's events
        assert resp.status_code == 422
        assert error["invalid_events"] == sorted(set(error["invalid_events"]))
        assert all(type(i) is int and i >= 0 for i in error["invalid_events"])
        del error["invalid_events"]
    assert set(error) == {"code", "message"}
    assert bot.dump() == before


paths = st.sampled_from([
    "/api/v1/sites/", "/api/v1/systems/", "/api/v1/commodities?system=", "/api/v1/systems?q=",
    "/api/v1/leaderboard?since=", "/api/v1/leaderboard?market_id=", "/api/v1/",
    "/api/v1/haul/boards/", "/api/v1/haul/claims?market_id=", "/api/v1/haul/claims?closed_within_hours=",
])  # fmt: skip
# Text, and numbers around the 64-bit limits (a MarketID past them once reached the store: a 500).
tails = st.one_of(st.text(max_size=60), st.integers(min_value=-(2**70), max_value=2**70).map(str))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=paths, tail=tails, method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"])
)
def test_random_reads_never_5xx(
    bot: ThreadedBot, client: httpx.Client, path: str, tail: str, method: str
) -> None:
    before = bot.dump()
    url = f"{bot.url}{path}{urllib.parse.quote(tail, safe='')}"
    resp = client.request(method, url, headers=_auth(bot.token))
    assert resp.status_code < 500, (method, path, tail, resp.text)
    assert resp.status_code in DOCUMENTED
    if method != "GET":
        assert bot.dump() == before


@pytest.mark.parametrize("tail", ["99999999999999999999", "9223372036854775808", "\u00b2", "-1", "1" * 5000])
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/sites/", 404),
        ("/api/v1/haul/boards/", 404),
        ("/api/v1/leaderboard?market_id=", 400),
        ("/api/v1/haul/claims?market_id=", 400),
    ],
)
def test_an_id_that_is_no_store_number_is_a_4xx_with_a_sentence(
    bot: ThreadedBot, client: httpx.Client, path: str, status: int, tail: str
) -> None:
    resp = client.get(f"{bot.url}{path}{urllib.parse.quote(tail, safe='')}", headers=_auth(bot.token))
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == ("not_found" if status == 404 else "bad_request")
