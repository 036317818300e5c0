"""Discord output built from names anyone can choose (commanders, stations, carriers) stays inert:
no mention that pings, no markdown that escapes its place, whatever the name."""

from __future__ import annotations

import io
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.notify.channels import ConsoleChannelPort
from bot.render import embeds
from bot.render.plain import plain
from bot.render.text import safe
from tests.bot._helpers import Bot, Journal, batch, make_settings

SITE = 3958981890
NOW = datetime(2025, 4, 9, tzinfo=UTC)
# Mentions Discord would resolve: @everyone/@here, users, roles, channels (ids are 17-20 digits).
_PING = re.compile(r"@(everyone|here)|<@[!&]?\d{17,20}>|<#\d{17,20}>")
_MARKDOWN = set("*_`~|\\")
HOSTILE_PARTS = [
    "@everyone", "@here", "<@123456789012345678>", "<@&423456789012345678>", "<#773456789012345678>",
    "<@!123456789012345678>", "**", "__", "`", "```", "||", "~~", "\\", "> ", "# ", "[x](https://e.com)",
    "\n", "\u200b", "@\u200beveryone", " ",
]  # fmt: skip
names = st.lists(st.sampled_from(HOSTILE_PARTS) | st.text(max_size=8), max_size=12).map("".join)


def _unescaped_markdown(text: str) -> list[int]:
    """Positions of markdown characters not escaped by an odd run of backslashes before them."""
    bad = []
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2  # an escape and what it escapes
            continue
        if text[i] in _MARKDOWN:
            bad.append(i)
        i += 1
    return bad


@settings(max_examples=300, deadline=None)
@given(names)
@example("[x](https://e.com)**[x](https://e.com)")  # discord.utils.escape_markdown kept this bold
def test_safe_names_never_ping_nor_break_out(name: str) -> None:
    text = safe(name)
    assert "\n" not in text
    assert not _PING.search(text), text
    assert _unescaped_markdown(text) == [], text


def _embed_text(embed: discord.Embed) -> str:
    parts = [embed.title or "", embed.description or "", embed.footer.text or ""]
    parts += [f"{f.name}\n{f.value}" for f in embed.fields]
    return "\n".join(parts)


async def test_hostile_names_uploaded_end_to_end_render_inert(bot_api: Bot) -> None:
    """From the intake (as an uploader sends them) through the state to the embeds."""
    token = await bot_api.token()
    name = "".join(HOSTILE_PARTS)
    cmdr = Journal(name[:500])
    events = [
        cmdr.docked(0, SITE, ("Site " + name)[:500], system=name[:500]),
        cmdr.depot(0, SITE, {"steel": (1000, 10)}),
        cmdr.contribution(1, SITE, {"steel": 5}),
    ]
    assert (await bot_api.post(token, batch(events)))[0] == 200
    view = await bot_api.services.queries.site(111, SITE)
    assert view is not None
    assert view.contributions[0].commander == name[:500]  # stored as written
    board = await bot_api.services.queries.leaderboard(111, SITE, None)
    built: list[Any] = [
        embeds.site_embed(view, board, now=NOW),
        embeds.status_embed([view], {}, now=NOW),
    ]
    for embed in built:
        text = _embed_text(embed)
        assert "Site" in text
        assert not _PING.search(text), text


async def test_the_client_pings_no_one_by_default(tmp_path: Path) -> None:
    from bot.app import ColonyCore
    from bot.discord_client import ColonyBot

    settings = make_settings(tmp_path)
    client = ColonyBot(settings, ColonyCore(settings))  # constructed only: no network, no start
    try:
        mentions = client.allowed_mentions
        assert mentions is not None
        assert mentions.to_dict()["parse"] == []
        assert not mentions.everyone
        assert not mentions.roles
        assert not mentions.users
    finally:
        await client.close()


# --- markup Discord renders that is not a mention nor markdown ------------------------------------

_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f]")
TIMESTAMP_NAME = "<t:99999999999999999:R>"  # a "date" past any clock: Discord shows it, Python raises


def test_safe_breaks_timestamps_emoji_and_command_mentions() -> None:
    for markup in ("<t:1:R>", "<:pog:123456789012345678>", "</colony status:123456789012345678>"):
        assert markup not in safe(markup)
        assert safe(markup).replace("\u200b", "") == markup.replace("\\", "")


@pytest.mark.parametrize("name", ["Alice\u202e", "\u2067Bob", "Carol\u202d", "Dave\u2066", "Eve\u200f"])
def test_safe_drops_bidi_controls(name: str) -> None:
    """`CMDR Alice\u202e · 12 t` shows on Discord as `t 21 · ...`: a leaderboard spoofed."""
    assert not _BIDI.search(safe(name)), repr(safe(name))
    assert safe("\u202e\u202e") == "unknown"
    assert safe("CMDR \u202e Alice") == "CMDR Alice"  # one space left where one was removed
    assert safe("A\x1fB\x85C") == "A B C"  # separators `\s` knows stay spaces


@pytest.mark.parametrize(
    ("name", "escaped"), [("- x", "\\- x"), ("1. x", "1\\. x"), ("2025. y", "2025\\. y")]
)
def test_safe_breaks_list_markers_at_the_start(name: str, escaped: str) -> None:
    assert safe(name) == escaped
    assert safe("x - y") == "x - y"
    assert plain(safe(name), now=NOW) == name  # the console shows the name as written


async def test_a_bidi_override_in_a_commander_name_stays_out_of_the_contributors_line(bot_api: Bot) -> None:
    token = await bot_api.token()
    cmdr = Journal("Alice\u202e")
    events = [cmdr.docked(0, SITE, "Site"), cmdr.depot(0, SITE, {"steel": (1000, 10)}),
              cmdr.contribution(1, SITE, {"steel": 12})]  # fmt: skip
    assert (await bot_api.post(token, batch(events)))[0] == 200
    view = await bot_api.services.queries.site(111, SITE)
    assert view is not None
    (contributors,) = [f for f in embeds.site_embed(view, [], now=NOW).fields if f.name == "Contributors"]
    assert contributors.value == "CMDR Alice · 12 t"


async def test_a_timestamp_in_a_name_prints_as_written_offline(bot_api: Bot) -> None:
    """Offline, embeds are printed: a name's `<t:N:R>` was read as a time, and a time past any
    clock raised, so the channel's updates never printed and the console crashed."""
    token = await bot_api.token()
    cmdr = Journal(TIMESTAMP_NAME)
    events = [cmdr.docked(0, SITE, "Site " + TIMESTAMP_NAME), cmdr.depot(0, SITE, {"steel": (1000, 10)}),
              cmdr.contribution(1, SITE, {"steel": 5})]  # fmt: skip
    assert (await bot_api.post(token, batch(events)))[0] == 200
    view = await bot_api.services.queries.site(111, SITE)
    assert view is not None
    out = io.StringIO()
    embed = embeds.site_embed(view, (), now=NOW)
    await ConsoleChannelPort(out, now=lambda: NOW).post(77, content=None, embeds=[embed])
    assert f"Site {TIMESTAMP_NAME}" in out.getvalue()
    # And Discord markup the bot writes itself, past any clock, is shown as written, not a crash.
    assert plain("updated <t:99999999999999999:R>", now=NOW) == "updated <t:99999999999999999:R>"


def test_the_log_filter_hides_a_refused_requests_bytes_and_never_raises_a_level() -> None:
    """aiohttp logs a request its parser refused with the raw line (maybe a token): one warning
    without it. Its DEBUG records (a port scanner's bad method) stay DEBUG."""
    from aiohttp.http_exceptions import BadHttpMessage

    from bot.logs import _without_raw_request

    for level, expected in ((logging.ERROR, logging.WARNING), (logging.DEBUG, logging.DEBUG)):
        error = BadHttpMessage("Missing LF", headers=None)
        error.message = "b'Authorization: Bearer cbt_secret\\r'"
        record = logging.getLogger("aiohttp.server").makeRecord(
            "aiohttp.server", level, __file__, 1, "Error handling request", (), (BadHttpMessage, error, None)
        )
        assert _without_raw_request(record)
        assert record.levelno == expected
        assert "cbt_secret" not in record.getMessage()
        assert record.exc_info is None
