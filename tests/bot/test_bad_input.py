"""Every refused request: the status, the JSON error body, and stored data left exactly as it was."""

from __future__ import annotations

import asyncio
import gzip
import io
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import orjson

from bot.console import Caller, execute
from bot.discord.replies import ColonyReplies
from bot.http.ratelimit import RateLimiter
from bot.notify.channels import ChannelUpdates, ConsoleChannelPort, MemoryFollowStore
from bot.notify.feed import SiteChange
from bot.notify.notifier import ConsoleNotifier
from tests.bot._helpers import Bot, Journal, batch, make_settings, running_bot

SITE = 3958981890


async def _seeded(bot: Bot) -> str:
    token = await bot.token()
    alice = Journal("Alice")
    events = [alice.docked(0, SITE, "Site A"), alice.depot(0, SITE, {"steel": (100, 10)})]
    assert (await bot.post(token, batch(events)))[0] == 200
    return token


async def _raw(
    bot: Bot, data: bytes, token: str | None, **headers: str
) -> tuple[int, object, dict[str, str]]:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    headers.setdefault("Content-Type", "application/json")
    resp = await bot.client.post("/api/v1/events", data=data, headers=headers)
    return resp.status, await resp.json(), dict(resp.headers)


def _body() -> bytes:
    return orjson.dumps(batch([Journal("Bob").contribution(5, SITE, {"steel": 7})]))


async def test_malformed_json_is_400(bot_api: Bot) -> None:
    token = await _seeded(bot_api)
    before = await bot_api.snapshot()
    status, body, _ = await _raw(bot_api, b'{"schema_version": 1, "events": [', token)
    assert status == 400
    assert body == {
        "error": {
            "code": "malformed",
            "message": "body is not valid JSON: EOF while parsing a list at line 1 column 33",
        }
    }
    assert await bot_api.snapshot() == before


async def test_schema_violation_is_422_with_the_field_path(bot_api: Bot) -> None:
    token = await _seeded(bot_api)
    before = await bot_api.snapshot()
    good = Journal("Bob").contribution(5, SITE, {"steel": 7})
    bad = Journal("Bob", source="other.log").depot(6, SITE, {"steel": (100, 17)})
    del bad["market_id"]
    status, body, _ = await _raw(bot_api, orjson.dumps(batch([good, bad])), token)
    assert status == 422
    assert body == {
        "error": {
            "code": "invalid",
            "message": "events[1].market_id: Field required",
            # Which events were refused, for the uploader to set only those aside.
            "invalid_events": [1],
        }
    }
    # An event of a kind this bot does not know is judged by the fallback's rules only...
    stranger = {"kind": "from_a_newer_uploader", "timestamp": "2025-04-08T21:00:00Z"}
    status, body, _ = await _raw(bot_api, orjson.dumps(batch([good, stranger])), token)
    assert status == 422
    assert body == {
        "error": {"code": "invalid", "message": "events[1].id: Field required", "invalid_events": [1]}
    }
    # ... and one with no usable kind says so.
    nameless = {**good, "kind": "Not A Kind"}
    status, body, _ = await _raw(bot_api, orjson.dumps(batch([nameless])), token)
    assert status == 422
    assert body["error"]["message"].startswith("events[0]: Input tag 'Not A Kind' found using 'kind'")
    assert body["error"]["invalid_events"] == [0]
    # A valid JSON document that is not a batch at all.
    status, body, _ = await _raw(bot_api, b"[1, 2]", token)
    assert status == 422
    assert body["error"]["code"] == "invalid"
    assert body["error"]["message"].startswith("body: Input should be an object")
    assert "invalid_events" not in body["error"]  # the batch itself is wrong, not some events
    # Bad events beside a bad batch field: no event list either, the whole batch is refused.
    mixed = {**batch([good, nameless]), "schema_version": 99}
    status, body, _ = await _raw(bot_api, orjson.dumps(mixed), token)
    assert status == 422
    assert body["error"]["message"].startswith("schema_version: Input should be 1")
    assert "invalid_events" not in body["error"]
    assert await bot_api.snapshot() == before


async def test_a_number_past_64_bits_is_422_not_a_failed_transaction(bot_api: Bot) -> None:
    """SQLite stores 64-bit integers: a bigger offset or payment used to pass validation and fail
    the insert (500, which the uploader retries forever). Refused at the boundary, as any bad field."""
    token = await _seeded(bot_api)
    before = await bot_api.snapshot()
    good = Journal("Bob").contribution(5, SITE, {"steel": 7})
    far = {**Journal("Bob", source="far.log").contribution(6, SITE, {"steel": 1}), "offset": 2**63}
    status, body, _ = await _raw(bot_api, orjson.dumps(batch([good, far])), token)
    assert status == 422
    assert body == {
        "error": {
            "code": "invalid",
            "message": f"events[1].offset: Input should be less than {2**63}",
            "invalid_events": [1],
        }
    }
    rich = Journal("Bob", source="rich.log").depot(7, SITE, {"steel": (100, 10)})
    rich["resources"][0]["payment"] = 2**63
    status, body, _ = await _raw(bot_api, orjson.dumps(batch([good, rich])), token)
    assert status == 422
    assert body == {
        "error": {
            "code": "invalid",
            "message": f"events[1].resources[0].payment: Input should be less than {2**63}",
            "invalid_events": [1],
        }
    }
    # The largest 64-bit offset is a number SQLite stores: accepted.
    edge = {**Journal("Bob", source="edge.log").contribution(8, SITE, {"steel": 1}), "offset": 2**63 - 1}
    status, body, _ = await _raw(bot_api, orjson.dumps(batch([edge])), token)
    assert (status, body) == (200, {"accepted": 1, "duplicates": 0, "ignored": 0})
    count, _ = await bot_api.snapshot()
    assert count == before[0] + 1


async def test_oversized_bodies_are_413_before_being_read(tmp_path: Path) -> None:
    async with running_bot(make_settings(tmp_path, max_body_bytes=4096)) as bot:
        token = await _seeded(bot)
        before = await bot.snapshot()
        expected = {
            "error": {"code": "too_large", "message": "body larger than 4096 bytes; send smaller batches"}
        }
        big = orjson.dumps(batch([Journal("Bob").contribution(i, SITE, {"steel": 1}) for i in range(40)]))
        assert len(big) > 4096
        # Declared length over the limit.
        status, body, _ = await _raw(bot, big, token)
        assert (status, body) == (413, expected)

        # No declared length (chunked): counted as it streams in.
        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(big), 1000):
                yield big[start : start + 1000]

        resp = await bot.client.post(
            "/api/v1/events", data=chunks(), headers={"Authorization": f"Bearer {token}"}
        )
        assert (resp.status, await resp.json()) == (413, expected)
        # A small gzip body that inflates past the limit (a "zip bomb").
        bomb = gzip.compress(b" " * 100_000)
        assert len(bomb) < 4096
        status, body, _ = await _raw(bot, bomb, token, **{"Content-Encoding": "gzip"})
        assert (status, body) == (413, expected)
        assert await bot.snapshot() == before


async def test_gzip_bodies_are_accepted_and_bad_gzip_is_400(bot_api: Bot) -> None:
    token = await _seeded(bot_api)
    status, body, _ = await _raw(bot_api, gzip.compress(_body()), token, **{"Content-Encoding": "gzip"})
    assert (status, body) == (200, {"accepted": 1, "duplicates": 0, "ignored": 0})
    before = await bot_api.snapshot()
    status, body, _ = await _raw(
        bot_api, b"\x1f\x8b\x08\x00garbage-not-gzip", token, **{"Content-Encoding": "gzip"}
    )
    assert status == 400
    assert isinstance(body, dict)
    assert body["error"]["code"] == "malformed"
    assert body["error"]["message"].startswith("body could not be decoded")
    assert await bot_api.snapshot() == before


async def test_missing_unknown_and_revoked_tokens_are_401(bot_api: Bot) -> None:
    token = await _seeded(bot_api)
    before = await bot_api.snapshot()
    status, body, headers = await _raw(bot_api, _body(), None)
    assert (status, body) == (
        401,
        {"error": {"code": "unauthorized", "message": "missing `Authorization: Bearer <token>` header"}},
    )
    assert headers["WWW-Authenticate"] == 'Bearer realm="colony"'
    refused = {"error": {"code": "unauthorized", "message": "token is unknown or has been revoked"}}
    assert (await _raw(bot_api, _body(), "cbt_" + "x" * 43))[:2] == (401, refused)
    assert (await _raw(bot_api, _body(), token[:-1]))[:2] == (401, refused)

    await bot_api.services.tokens.revoke(token[:12])
    assert (await _raw(bot_api, _body(), token))[:2] == (401, refused)
    status, body = await bot_api.get(token, "/api/v1/sites")
    assert (status, body) == (401, refused)
    assert await bot_api.snapshot() == before


async def test_another_guilds_site_is_404_exactly_like_a_missing_one(bot_api: Bot) -> None:
    ours = await _seeded(bot_api)  # guild 111 owns SITE
    theirs = await bot_api.token(guild=999, user=5)
    status, body = await bot_api.get(theirs, f"/api/v1/sites/{SITE}")
    assert (status, body) == (404, {"error": {"code": "not_found", "message": f"no site {SITE}"}})
    status, body = await bot_api.get(ours, "/api/v1/sites/12345")
    assert (status, body) == (404, {"error": {"code": "not_found", "message": "no site 12345"}})
    assert (await bot_api.get(theirs, "/api/v1/sites"))[1] == {"sites": []}
    assert (await bot_api.get(theirs, "/api/v1/systems/Col 285 Sector GF-F b12-5"))[0] == 404
    assert (await bot_api.get(theirs, "/api/v1/leaderboard"))[1]["entries"] == []
    assert (await bot_api.get(theirs, "/api/v1/stats"))[1]["sites"] == 0
    # Their uploads land in their guild only.
    bob = Journal("Bob")
    await bot_api.post(theirs, batch([bob.contribution(1, SITE, {"steel": 99})]))
    _, site = await bot_api.get(ours, f"/api/v1/sites/{SITE}")
    assert site["contributions"] == []


async def test_a_flood_is_429_with_retry_after(tmp_path: Path) -> None:
    now = [1000.0]
    limiter = RateLimiter(per_minute=60, burst=3, clock=lambda: now[0])
    async with running_bot(make_settings(tmp_path), limiter=limiter) as bot:
        token = await bot.token()
        for _ in range(3):
            assert (await bot.get(token, "/api/v1/stats"))[0] == 200
        before = await bot.snapshot()
        status, body, headers = await _raw(bot, _body(), token)
        assert status == 429
        assert body == {
            "error": {"code": "rate_limited", "message": "too many requests for this token; retry in 1 s"}
        }
        assert headers["Retry-After"] == "1"
        assert await bot.snapshot() == before
        # Another token is not slowed down by this one's flood.
        other = await bot.token(user=333)
        assert (await bot.get(other, "/api/v1/stats"))[0] == 200
        now[0] += 1.0
        assert (await _raw(bot, _body(), token))[0] == 200


async def test_unknown_routes_and_methods_answer_json(bot_api: Bot) -> None:
    token = await bot_api.token()
    status, body = await bot_api.get(token, "/api/v1/nothing")
    assert (status, body) == (
        404,
        {"error": {"code": "not_found", "message": "no route GET /api/v1/nothing"}},
    )
    resp = await bot_api.client.delete("/api/v1/events", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 405
    assert (await resp.json())["error"]["code"] == "method_not_allowed"


HOSTILE = "**@everyone** <@&123> `code` ||spoiler|| " + "x" * 450 + "\x1b[31m\n"


async def test_hostile_names_are_stored_as_they_are_and_printed_safely(bot_api: Bot) -> None:
    token = await bot_api.token()
    cmdr = Journal(HOSTILE[:500])
    events = [
        cmdr.docked(0, SITE, HOSTILE[:510], system="@everyone *Sys*"),
        cmdr.depot(0, SITE, {"steel": (100, 10)}),
        cmdr.contribution(1, SITE, {"steel": 5}),
    ]
    assert (await bot_api.post(token, batch(events)))[0] == 200
    _, site = await bot_api.get(token, f"/api/v1/sites/{SITE}")
    assert site["station_name"] == HOSTILE[:510]
    assert site["system_name"] == "@everyone *Sys*"
    assert site["contributions"][0]["commander"] == HOSTILE[:500]

    out = io.StringIO()
    view = await bot_api.services.queries.site(111, SITE)
    assert view is not None
    await ConsoleNotifier(out).sites_changed([SiteChange(111, view, None)])
    line = out.getvalue()
    assert line.count("\n") == 1  # one line
    assert "\x1b" not in line  # no terminal escapes
    assert len(line) < 400  # names are cut short on the console


async def test_terminal_escapes_in_names_never_reach_the_console(bot_api: Bot) -> None:
    """Any token holder names stations: `colony-bot console` replies and the offline channel posts
    print them on the operator's terminal, where ESC and BEL sequences would clear the screen,
    retitle the window or fake output. Names lose them (`safe`); what else is printed shows them as
    replacement characters (`plain`)."""
    evil = "Vela\x1b]0;owned\x07\x1b[2J Hub\u202e"
    token = await bot_api.token()
    cmdr = Journal("Evil\x1b[31m")
    events = [cmdr.docked(1, SITE, evil), cmdr.depot(2, SITE, {"steel": (1000, 10)})]
    assert (await bot_api.post(token, batch(events)))[0] == 200
    out = io.StringIO()
    channels = ChannelUpdates(ConsoleChannelPort(out), MemoryFollowStore())
    replies = ColonyReplies(bot_api.services.queries, bot_api.services.tokens, channels, public_url="x")
    text = await execute(replies, f"/colony site {SITE}", Caller(guild_id=111))
    await execute(replies, f"/colony follow {SITE}", Caller(guild_id=111))
    await channels.flush(final=True)
    printed = text + out.getvalue()
    assert "Vela]0;owned[2J Hub" in printed  # the name is there, made inert
    assert not [ch for ch in printed if ch != "\n" and not ch.isprintable()], repr(printed[:300])


async def test_every_content_encoding_gets_an_answer_and_the_connection_keeps_serving(
    tmp_path: Path,
) -> None:
    # One kept-alive client connection throughout: a refused body must neither hang its own answer
    # nor the next request on that connection (aiohttp's own decoder once left it stuck).
    async with running_bot(make_settings(tmp_path, max_body_bytes=64 * 1024)) as bot:
        token = await _seeded(bot)
        before = await bot.snapshot()
        zeros = gzip.compress(b" " * (256 * 1024))  # a small gzip that decodes past the limit
        cases: list[tuple[bytes, str, int, str]] = [
            (b"\xf2\x9e\xb5\x9d\xc3\xac\xc3\x8c\xc3\xbag", "deflate", 400, "body could not be decoded as"),
            (gzip.compress(_body())[:20], "gzip", 400, "body could not be decoded as gzip: the compressed"),
            (gzip.compress(_body()) + b"tail", "gzip", 400, "body could not be decoded as gzip: data after"),
            (zeros, "gzip", 413, "body larger than 65536 bytes"),
            (_body(), "br", 415, "Content-Encoding 'br' is not supported"),
        ]
        for data, encoding, status, message in cases:
            got, body, _ = await asyncio.wait_for(
                _raw(bot, data, token, **{"Content-Encoding": encoding}), timeout=10
            )
            assert isinstance(body, dict)
            assert (got, body["error"]["message"][: len(message)]) == (status, message), encoding
            ok, _ = await asyncio.wait_for(bot.get(token, "/api/v1/whoami"), timeout=10)
            assert ok == 200
        assert await bot.snapshot() == before
        # Both spellings of "deflate" in the wild are accepted: zlib-wrapped and raw.
        raw = zlib.compressobj(wbits=-15)
        for data in (zlib.compress(_body()), raw.compress(_body()) + raw.flush()):
            got, body, _ = await _raw(bot, data, token, **{"Content-Encoding": "deflate"})
            assert got == 200, body


async def test_an_event_of_an_unknown_kind_cannot_store_megabytes(bot_api: Bot) -> None:
    """Events of kinds this bot does not know are kept unread for good (the table is append-only):
    their extra fields are bounded, or one small gzip request would store megabytes."""
    token = await _seeded(bot_api)
    before = await bot_api.snapshot()
    good = Journal("Bob").contribution(5, SITE, {"steel": 7})
    stranger = {"id": "a" * 32, "kind": "from_the_future", "timestamp": good["timestamp"]}
    huge = {**stranger, "chat": "x" * (8 << 20)}
    body = gzip.compress(orjson.dumps(batch([good, huge])))
    status, answer, _ = await _raw(bot_api, body, token, **{"Content-Encoding": "gzip"})
    assert status == 422
    assert answer == {
        "error": {
            "code": "invalid",
            "message": f"events[1]: Value error, an event of an unknown kind is at most {1 << 20} bytes",
            "invalid_events": [1],
        }
    }
    assert await bot_api.snapshot() == before
    # A newer uploader's event of a sane size is still kept (and counted as ignored).
    small = {**huge, "chat": "hello"}
    status, answer, _ = await _raw(bot_api, orjson.dumps(batch([small])), token)
    assert (status, answer) == (200, {"accepted": 0, "duplicates": 0, "ignored": 1})
