"""Every embed built from a hostile state fits Discord's limits, and names stay inert."""

from __future__ import annotations

import itertools
import re

import discord
import pytest

from bot.domain.aggregates import commodity_totals
from bot.render import embeds, limits
from bot.render.reply import Reply
from bot.render.text import safe
from tests.discord._states import EVIL, LONG_EVIL, NOW, hostile_carrier, hostile_leaderboard, hostile_site

SITES = [hostile_site(i) for i in range(200)]
BOARD = hostile_leaderboard()
RECENT = {s.market_id: BOARD for s in SITES}
# An unescaped mention or markdown marker: the character not preceded by a backslash.
_RAW_MENTION = re.compile(r"@(everyone|here)|<@\d|<#\d")


def all_hostile_embeds() -> list[discord.Embed]:
    return [
        embeds.status_embed(SITES, RECENT, now=NOW),
        embeds.status_embed(SITES, RECENT, now=NOW, system=LONG_EVIL),
        embeds.site_embed(SITES[1], BOARD, now=NOW),
        embeds.needs_embed(commodity_totals(SITES), scope=LONG_EVIL, now=NOW),
        embeds.contributors_embed(BOARD, scope=LONG_EVIL, period="all time", now=NOW),
        embeds.carrier_embed(hostile_carrier(), now=NOW),
        embeds.carriers_embed([hostile_carrier()] * 50, now=NOW),
        embeds.error_embed(safe(LONG_EVIL) * 20),
    ]


@pytest.mark.parametrize("index", range(8))
def test_every_hostile_embed_fits_alone(index: int) -> None:
    embed = all_hostile_embeds()[index]
    assert limits.violations([embed]) == []
    assert len(embed) <= limits.TOTAL


@pytest.mark.parametrize("index", range(8))
def test_no_hostile_name_can_mention_anyone(index: int) -> None:
    embed = all_hostile_embeds()[index]
    text = "\n".join(
        [
            embed.title or "",
            embed.description or "",
            embed.footer.text or "",
            *[f"{f.name}\n{f.value}" for f in embed.fields],
        ]
    )
    assert not _RAW_MENTION.search(text)


def test_many_embeds_in_one_reply_are_cut_to_the_message_limits() -> None:
    reply = Reply.of(*all_hostile_embeds(), *all_hostile_embeds(), content="x" * 5000)
    assert limits.violations(list(reply.embeds), reply.content) == []
    assert len(reply.embeds) <= limits.EMBEDS_PER_MESSAGE
    assert "more pages" in (reply.embeds[-1].footer.text or "")


def test_the_more_pages_note_fits_when_the_last_page_kept_has_no_fields() -> None:
    """The note "... and N more pages" made room only by removing fields: pages without any (a haul
    board of a site with no claims or cargo) went over the 6,000 characters, and Discord refused
    the whole reply. The last page then goes too, and the note counts it."""
    pages = [
        discord.Embed(title="a", description="x" * 2999),
        discord.Embed(title="b", description="y" * 2990),
        discord.Embed(title="c", description="z" * 100),
    ]
    kept = limits.fit_message(pages)
    assert limits.violations(kept) == []
    assert [e.title for e in kept] == ["a"]
    assert kept[-1].footer.text == limits.more(2, "more pages")
    # One page alone, near the limit with a long footer of its own: that footer yields to the note.
    alone = discord.Embed(title="a", description="x" * 4000).set_footer(text="f" * 1995)
    kept = limits.fit_message([alone, discord.Embed(title="b", description="y" * 10)])
    assert limits.violations(kept) == []
    assert kept[0].footer.text == limits.more(1, "more pages")
    assert kept[0].description == "x" * 4000


def test_status_of_200_sites_says_how_many_were_left_out() -> None:
    embed = embeds.status_embed(SITES, RECENT, now=NOW)
    shown = [f for f in embed.fields if f.name != limits.ELLIPSIS]
    note = embed.fields[-1]
    active = sum(1 for s in SITES if not (s.complete or s.failed))  # the finished are not listed
    assert 25 < active < 200
    assert note.name == limits.ELLIPSIS
    assert note.value == limits.more(active - len(shown), "more sites")


def test_site_with_40_commodities_lists_them_all_or_counts_the_rest() -> None:
    embed = embeds.site_embed(SITES[1], BOARD, now=NOW)
    description = embed.description or ""
    listed = description.count("Commodity ")
    if listed < 40:
        assert limits.more(40 - listed, "more commodities") in description
    assert len(description) <= limits.DESCRIPTION


def test_safe_escapes_markdown_and_breaks_mentions() -> None:
    assert safe("CMDR_*x*") == "CMDR\\_\\*x\\*"
    assert safe("@everyone hi") == "@\u200beveryone hi"
    assert safe("<#123456789012345678>") == "<\u200b#123456789012345678>"
    assert safe("two\nlines") == "two lines"
    assert safe("   ") == "unknown"
    assert "\n" not in safe(EVIL)


@pytest.mark.parametrize(("text", "limit"), [("a" * 300, 256), ("ab\\_" * 100, 255), ("x", 1)])
def test_clip_stays_within_the_limit_and_never_leaves_a_dangling_escape(text: str, limit: int) -> None:
    out = limits.clip(text, limit)
    assert len(out) <= limit
    body = out.removesuffix(limits.ELLIPSIS)
    assert (len(body) - len(body.rstrip("\\"))) % 2 == 0


def test_join_lines_keeps_whole_lines_and_counts_the_rest() -> None:
    lines = [f"line {i:03}" for i in range(100)]
    out = limits.join_lines(lines, 100)
    assert len(out) <= 100
    kept = out.split("\n")[:-1]
    assert kept == lines[: len(kept)]
    assert out.split("\n")[-1] == limits.more(100 - len(kept))
    assert limits.join_lines(lines[:3], 100) == "line 000\nline 001\nline 002"


def test_fit_embed_caps_fields_at_25_with_a_count() -> None:
    embed = discord.Embed(title="t")
    for i in range(40):
        embed.add_field(name=f"n{i}", value="v")
    limits.fit_embed(embed, noun="more sites")
    assert len(embed.fields) == limits.FIELDS
    assert embed.fields[-1].value == limits.more(16, "more sites")


def test_violations_reports_what_discord_would_refuse() -> None:
    embed = discord.Embed(title="t" * 257, description="d" * 4097)
    embed.add_field(name="", value="v")
    found = limits.violations([embed] * 11, "c" * 2001)
    assert "content 2001 > 2000" in found
    assert "11 embeds > 10" in found
    assert "embed 0 title 257 > 256" in found
    assert "embed 0 description 4097 > 4096" in found
    assert "embed 0 field 0 is empty" in found
    assert any(v.startswith("total ") for v in found)


def test_pack_lines_keeps_every_line_in_order_in_messages_within_the_limit() -> None:
    lines = [f"line {i:03d} " + "x" * (i % 37) for i in range(400)]
    packed = limits.pack_lines(lines, 500)
    assert all(len(text) <= 500 for text, _ in packed)
    assert "\n".join(text for text, _ in packed).split("\n") == lines
    assert [n for _, n in packed] == [len(text.split("\n")) for text, _ in packed]
    # As few messages as whole lines allow: the next message's first line did not fit.
    for (text, _), (following, _) in itertools.pairwise(packed):
        assert len(text) + 1 + len(following.split("\n")[0]) > 500


def test_pack_lines_clips_only_a_line_longer_than_a_message() -> None:
    packed = limits.pack_lines(["short", "y" * 3000, "after"], 2000)
    assert [n for _, n in packed] == [1, 1, 1]
    assert len(packed[1][0]) == 2000
    assert packed[1][0].endswith(limits.ELLIPSIS)
    assert limits.pack_lines([]) == []


def test_a_site_seen_docked_before_its_first_depot_reading_says_so() -> None:
    """Not "0.0% · 0 t of 0 t left · 0 trips": what a system follow posted for a new site."""
    from bot.views import SiteView

    site = SiteView(
        market_id=1, station_name="Orbital Construction Site: Vela", station_type="SpaceConstructionDepot",
        system_name="Col 285", system_address=1, progress=0.0, complete=False, failed=False,
        updated_at=NOW, contributions=[], commodities=[],
    )  # fmt: skip
    embed = embeds.site_embed(site, (), now=NOW)
    assert embeds.NOT_READ_YET in (embed.description or "")
    assert "0 t of 0 t" not in (embed.description or "")
    assert "0.0%" not in (embed.description or "")
    (field,) = embeds.status_embed([site], {}, now=NOW).fields
    assert field.value == embeds.NOT_READ_YET
