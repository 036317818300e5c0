"""Each /colony callback with a fake interaction, against a real store filled from the real
journals; the assertions are numbers those journals imply."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.discord_client import ColonyBot
from bot.render import limits
from tests.discord._bot import unconnected_bot
from tests.discord._filled import APRIL, GUILD, USER, Journal, fill
from tests.discord._interaction import FakeInteraction, FakeUser, run_command

pytestmark = pytest.mark.samples


@pytest.fixture
async def filled(tmp_path: Path, samples: Path) -> AsyncIterator[tuple[ColonyBot, Journal]]:
    journal = Journal.read(samples / APRIL)
    async with unconnected_bot(tmp_path) as bot:
        await fill(bot.core.services, samples / APRIL)
        cog: Any = bot.get_cog("ColonyCog")
        assert journal.last is not None
        cog.replies.now = lambda: journal.last + timedelta(minutes=5)  # "now" is just after the session
        yield bot, journal


def interaction(*, manage: bool = False, guild: int | None = GUILD) -> FakeInteraction:
    perms = discord.Permissions(manage_guild=manage)
    return FakeInteraction(guild_id=guild, user=FakeUser(USER, "TEST"), permissions=perms)


async def invoke(bot: ColonyBot, name: str, fake: FakeInteraction, **options: Any) -> discord.Embed:
    """Runs the callback the way discord.py does: an exception goes to the tree's error handler."""
    await run_command(bot, "colony", name, fake, **options)
    (message,) = fake.sent
    mentions = message.allowed_mentions
    assert mentions is not None
    assert (mentions.everyone, mentions.users, mentions.roles, mentions.replied_user) == (False,) * 4
    assert limits.violations(message.embeds, message.content) == []
    (embed,) = message.embeds
    return embed


def the_site(journal: Journal) -> tuple[int, dict[str, Any]]:
    ((market_id, depot),) = journal.depot.items()
    return market_id, depot


async def test_status_shows_the_site_with_the_journals_numbers(filled: tuple[ColonyBot, Journal]) -> None:
    bot, journal = filled
    market_id, depot = the_site(journal)
    fake = interaction()
    embed = await invoke(bot, "status", fake)
    assert fake.sent[0].via == "response"
    assert not fake.sent[0].ephemeral
    (field,) = embed.fields
    assert (field.name or "").startswith("System Colonisation Ship")
    left = sum(r["RequiredAmount"] - r["ProvidedAmount"] for r in depot["ResourcesRequired"])
    assert f"{depot['ConstructionProgress'] * 100:.1f}% · {left:,} t left" in (field.value or "")
    ranked = sorted(depot["ResourcesRequired"], key=lambda r: r["ProvidedAmount"] - r["RequiredAmount"])
    first = ranked[0]
    assert f"Needs: {first['Name_Localised']} {first['RequiredAmount'] - first['ProvidedAmount']:,} t" in (
        field.value or ""
    )
    recent = sum(journal.delivered[market_id].values())  # one evening: all within 24 hours of "now"
    assert f"Top 24 h: CMDR {journal.commander} ({recent:,} t)" in (field.value or "")
    assert f"({recent / 24:,.0f} t/h)" in (field.value or "")


async def test_status_of_an_unknown_system_is_an_ephemeral_sentence(
    filled: tuple[ColonyBot, Journal],
) -> None:
    bot, _ = filled
    fake = interaction()
    embed = await invoke(bot, "status", fake, system="Nowhere @everyone")
    assert fake.sent[0].ephemeral
    assert embed.description == (
        "No construction site known in Nowhere @\u200beveryone: check the spelling, or use `/colony status` "
        "alone for every active site."
    )


async def test_site_lists_every_commodity_with_required_provided_and_left(
    filled: tuple[ColonyBot, Journal],
) -> None:
    bot, journal = filled
    market_id, depot = the_site(journal)
    embed = await invoke(bot, "site", interaction(), site=str(market_id))
    text = embed.description or ""
    for r in depot["ResourcesRequired"]:
        left = r["RequiredAmount"] - r["ProvidedAmount"]
        name = r["Name_Localised"]
        if left:
            assert f"**{name}** {r['ProvidedAmount']:,}/{r['RequiredAmount']:,} · {left:,} left" in text
        else:
            assert f"~~{name}~~ {r['ProvidedAmount']:,}/{r['RequiredAmount']:,} \u2713" in text
    fields = {f.name: f.value for f in embed.fields}
    total = sum(journal.delivered[market_id].values())
    assert fields["Contributors"] == f"CMDR {journal.commander} · {total:,} t"
    unattributed = next(name for name in fields if (name or "").startswith("Unattributed"))
    assert unattributed != "Unattributed · 0 t"


async def test_site_by_a_name_nobody_has_is_an_error_that_says_what_to_do(
    filled: tuple[ColonyBot, Journal],
) -> None:
    bot, _ = filled
    fake = interaction()
    embed = await invoke(bot, "site", fake, site="**nothing**")
    assert fake.sent[0].ephemeral
    assert embed.description == (
        "No construction site matches \u201c\\*\\*nothing\\*\\*\u201d: pick one from the list while typing, "
        "or see `/colony status`."
    )


async def test_needs_puts_the_biggest_shortfall_first(filled: tuple[ColonyBot, Journal]) -> None:
    bot, journal = filled
    _, depot = the_site(journal)
    embed = await invoke(bot, "needs", interaction())
    rows = sorted(
        (r for r in depot["ResourcesRequired"] if r["RequiredAmount"] > r["ProvidedAmount"]),
        key=lambda r: r["ProvidedAmount"] - r["RequiredAmount"],
    )
    lines = (embed.description or "").split("\n")
    total = sum(r["RequiredAmount"] - r["ProvidedAmount"] for r in rows)
    assert lines[0] == f"{total:,} t still to deliver"
    assert lines[2].startswith(
        f"**{rows[0]['Name_Localised']}** {rows[0]['RequiredAmount'] - rows[0]['ProvidedAmount']:,} t"
    )


async def test_contributors_counts_tonnes_and_deliveries(filled: tuple[ColonyBot, Journal]) -> None:
    bot, journal = filled
    market_id, _ = the_site(journal)
    embed = await invoke(bot, "contributors", interaction(), period="all")
    total = sum(journal.delivered[market_id].values())
    assert (embed.description or "").endswith(
        f"\U0001f947 CMDR {journal.commander} · {total:,} t in {journal.items[market_id]} deliveries"
    )
    later = interaction()
    cog: Any = bot.get_cog("ColonyCog")
    cog.replies.now = lambda: datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    embed = await invoke(bot, "contributors", later, period="24h")
    assert embed.description == "No deliveries recorded in this period."


async def test_link_defers_ephemerally_and_issues_a_working_token(filled: tuple[ColonyBot, Journal]) -> None:
    bot, _ = filled
    fake = interaction()
    embed = await invoke(bot, "link", fake)
    assert fake.response.deferred == {"ephemeral": True, "thinking": True}
    assert fake.sent[0].via == "followup"
    assert fake.sent[0].ephemeral
    text = embed.description or ""
    assert "COLONY_UPLOADER_URL=https://colony.example.org\n" in text
    token = text.split("COLONY_UPLOADER_TOKEN=")[1].split("\n")[0]
    record = await bot.core.services.tokens.authenticate(token)
    assert record is not None
    assert (record.guild_id, record.user_id) == (GUILD, USER)

    gone = interaction()
    embed = await invoke(bot, "unlink", gone)
    assert gone.sent[0].ephemeral
    assert embed.description is not None
    assert embed.description.startswith("Revoked 2 tokens.")  # the fixture's and this one
    assert await bot.core.services.tokens.authenticate(token) is None
    again = interaction()
    embed = await invoke(bot, "unlink", again)
    assert embed.description == "You have no active uploader token on this server: `/colony link` issues one."


async def test_follow_needs_manage_server_and_then_posts_a_live_message(
    filled: tuple[ColonyBot, Journal],
) -> None:
    bot, journal = filled
    market_id, _ = the_site(journal)
    fake = interaction(manage=False)
    embed = await invoke(bot, "follow", fake, target=str(market_id))
    assert fake.sent[0].ephemeral
    assert embed.description == "Only members with the Manage Server permission can set up channel updates."
    updates: Any = bot.get_cog("ChannelUpdatesCog")
    assert updates.updates.follows(GUILD) == []

    admin = interaction(manage=True)
    embed = await invoke(bot, "follow", admin, target=str(market_id))
    assert admin.response.deferred == {"ephemeral": True, "thinking": True}
    assert "<#555> now follows site System Colonisation Ship" in (embed.description or "")
    (follow,) = updates.updates.follows(GUILD)
    assert (follow.channel_id, follow.market_id) == (555, market_id)
    saved = await bot.core.services.db.conn.execute_fetchall(
        "SELECT value FROM guild_settings WHERE guild_id = ? AND name = 'channel_updates'", (GUILD,)
    )
    assert f'"market_id":{market_id}' in next(iter(saved))[0]


async def test_an_unexpected_failure_gets_a_short_reply_and_a_full_log(
    filled: tuple[ColonyBot, Journal], caplog: pytest.LogCaptureFixture
) -> None:
    bot, _ = filled
    cog: Any = bot.get_cog("ColonyCog")

    async def broken(guild_id: int) -> list[Any]:
        raise RuntimeError("disk on fire")

    cog.replies.queries.sites = broken
    fake = interaction()
    with caplog.at_level(logging.ERROR, logger="bot.discord.tree"):
        embed = await invoke(bot, "status", fake)
    assert fake.sent[0].ephemeral
    assert embed.description == "Something went wrong on our side; it has been logged. Try again in a moment."
    (record,) = caplog.records
    assert record.getMessage() == f"command /colony status failed (guild {GUILD}, user {USER}, options {{}})"
    assert record.exc_info is not None
    assert "disk on fire" in str(record.exc_info[1])


async def test_autocomplete_offers_at_most_25_short_choices_and_the_command_revalidates(
    filled: tuple[ColonyBot, Journal],
) -> None:
    bot, journal = filled
    market_id, _ = the_site(journal)
    cog: Any = bot.get_cog("ColonyCog")
    choices = await cog._site_names(interaction(), "colonisation")
    assert [c.value for c in choices] == [str(market_id)]
    assert all(len(c.name) <= 100 for c in choices)
    assert await cog._site_names(interaction(), "zzz") == []
    targets = await cog._targets(interaction(), "")
    assert targets[0].value.startswith("system:")
    assert len(targets) <= 25


async def test_carrier_shows_where_the_carrier_is_and_its_orders(
    filled: tuple[ColonyBot, Journal], samples: Path
) -> None:
    bot, _ = filled
    lines = [json.loads(raw) for raw in (samples / APRIL).read_bytes().splitlines() if raw.strip()]
    stats = [line for line in lines if line["event"] == "CarrierStats"][-1]
    located = [line for line in lines if line["event"] == "CarrierLocation"][-1]
    (order,) = [line for line in lines if line["event"] == "CarrierTradeOrder"]

    listing = await invoke(bot, "carrier", interaction())
    assert listing.description == f"**{stats['Name']}** ({stats['Callsign']}) in {located['StarSystem']}"

    embed = await invoke(bot, "carrier", interaction(), carrier=stats["Callsign"])
    assert embed.title == f"{stats['Name']} ({stats['Callsign']})"
    description = (embed.description or "").split("\n")
    assert description[0] == f"In **{located['StarSystem']}**"
    usage = stats["SpaceUsage"]
    assert f"Cargo {usage['Cargo']:,} t of {usage['TotalCapacity']:,} t" in description
    orders = {f.name: f.value for f in embed.fields}["Orders"]
    assert orders == f"Selling Titanium {order['SaleOrder']:,} t at {order['Price']:,} cr"
    assert embed.footer.text == f"Carrier ID {stats['CarrierID']}"

    missing = interaction()
    embed = await invoke(bot, "carrier", missing, carrier="XXX-000")
    assert missing.sent[0].ephemeral
    assert (embed.description or "").startswith("No squadron carrier matches \u201cXXX-000\u201d")


async def test_help_is_ephemeral_and_names_every_command(filled: tuple[ColonyBot, Journal]) -> None:
    bot, _ = filled
    fake = interaction()
    embed = await invoke(bot, "help", fake)
    assert fake.sent[0].ephemeral
    text = embed.description or ""
    cog: Any = bot.get_cog("ColonyCog")
    for command in cog.app_command.commands:
        if command.name != "help":
            assert f"`/colony {command.name}" in text
    # No package index has ED Colony: without COLONY_INSTALL_SOURCE the operator is asked.
    assert "Ask the server's operator how to install it (Python 3.11+ and pipx)." in text
    assert "pip install" not in text
    assert "Server: https://colony.example.org" in text
    cog.replies.uploader_source = "https://github.com/squadron/ed-colony/archive/refs/heads/main.zip"
    text = (await invoke(bot, "help", interaction())).description or ""
    assert (
        'pipx install "ed-colony[uploader] @ https://github.com/squadron/ed-colony/archive/refs/heads/main.zip"'
        in text
    )


async def test_follow_where_the_bot_cannot_post_says_so_and_stores_nothing(
    filled: tuple[ColonyBot, Journal],
) -> None:
    """Followed anyway, every post would be refused (403) and only the bot's log would say so."""
    bot, journal = filled
    market_id, _ = the_site(journal)
    updates: Any = bot.get_cog("ChannelUpdatesCog")
    admin = interaction(manage=True)
    admin.app_permissions = discord.Permissions(view_channel=True, send_messages=True)
    embed = await invoke(bot, "follow", admin, target=str(market_id))
    assert admin.sent[0].ephemeral
    assert embed.description == (
        "I cannot post in <#555>: I need Embed Links there. Give the bot's role those permissions in "
        "that channel, then follow again."
    )
    assert updates.updates.follows(GUILD) == []

    # In a thread, posting is Send Messages in Threads.
    threaded = interaction(manage=True)
    threaded.app_permissions = discord.Permissions(view_channel=True, send_messages=True, embed_links=True)
    threaded.channel = object.__new__(discord.Thread)
    embed = await invoke(bot, "follow", threaded, target=str(market_id))
    assert (embed.description or "").startswith("I cannot post in <#555>: I need Send Messages there.")
    assert updates.updates.follows(GUILD) == []


async def test_unfollow_stops_one_target_or_says_there_is_none(filled: tuple[ColonyBot, Journal]) -> None:
    bot, journal = filled
    market_id, _ = the_site(journal)
    updates: Any = bot.get_cog("ChannelUpdatesCog")
    await invoke(bot, "follow", interaction(manage=True), target=str(market_id))
    system = "system:Col 285 Sector GF-F b12-5"
    await invoke(bot, "follow", interaction(manage=True), target=system)
    assert len(updates.updates.follows(GUILD)) == 2

    embed = await invoke(bot, "unfollow", interaction(manage=True), target=system)
    assert embed.description == "Stopped 1 follow in <#555>."
    (left,) = updates.updates.follows(GUILD)
    assert left.market_id == market_id

    wrong = interaction(manage=True)
    embed = await invoke(bot, "unfollow", wrong, target="Sol")
    assert wrong.sent[0].ephemeral
    assert embed.description == (
        "This channel does not follow \u201cSol\u201d: `/colony unfollow` without a target stops them all."
    )
    embed = await invoke(bot, "unfollow", interaction(manage=True))
    assert embed.description == "Stopped 1 follow in <#555>."
    embed = await invoke(bot, "unfollow", interaction(manage=True))
    assert embed.description == "This channel follows nothing: `/colony follow` starts updates."
