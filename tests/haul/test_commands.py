"""Every /haul callback (and the plan's button) with a fake interaction, against a real bot core whose
store is filled from the real April 2025 journal; the refusals are checked word for word."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.discord.haul import press_claim_line
from bot.discord.tree import GENERIC
from bot.discord_client import ColonyBot
from bot.render import limits
from bot.store.db import StoreError
from tests.discord._bot import unconnected_bot
from tests.discord._filled import APRIL, GUILD, USER, Journal, fill
from tests.discord._interaction import (
    FakeFollowup,
    FakeInteraction,
    FakeResponse,
    FakeUser,
    Message,
    run_command,
)

pytestmark = pytest.mark.samples

SITE = 3958981890
CARRIER = 3710508288
SHIP = "System Colonisation Ship"


@dataclass(slots=True)
class ViewResponse(FakeResponse):
    """The response of `/haul plan`, which carries a view (the "Claim my line" button)."""

    views: list[discord.ui.View] = field(default_factory=list)

    async def send_message(
        self,
        content: str | None = None,
        *,
        embeds: list[discord.Embed],
        ephemeral: bool = False,
        allowed_mentions: discord.AllowedMentions | None = None,
        view: discord.ui.View | None = None,
    ) -> None:
        await FakeResponse.send_message(
            self, content, embeds=embeds, ephemeral=ephemeral, allowed_mentions=allowed_mentions
        )
        if view is not None:
            self.views.append(view)


@pytest.fixture
async def filled(tmp_path: Path, samples: Path) -> AsyncIterator[tuple[ColonyBot, Journal]]:
    journal = Journal.read(samples / APRIL)
    async with unconnected_bot(tmp_path) as bot:
        await fill(bot.core.services, samples / APRIL)
        assert journal.last is not None
        later = journal.last + timedelta(minutes=5)  # "now" is just after the session: TEST is active
        bot.core.services.hauling.clock = lambda: later
        cog: Any = bot.get_cog("HaulCog")
        cog.replies.now = lambda: later
        yield bot, journal


def interaction(*, user: int = USER, manage: bool = False, guild: int | None = GUILD) -> FakeInteraction:
    fake = FakeInteraction(
        guild_id=guild, user=FakeUser(user, "TEST"), permissions=discord.Permissions(manage_guild=manage)
    )
    fake.response = ViewResponse(fake.sent)
    fake.followup = FakeFollowup(fake.sent, fake.response)
    return fake


def the_message(fake: FakeInteraction) -> Message:
    (message,) = fake.sent
    mentions = message.allowed_mentions
    assert mentions is not None
    assert (mentions.everyone, mentions.users, mentions.roles, mentions.replied_user) == (False,) * 4
    assert limits.violations(message.embeds, message.content) == []
    return message


async def invoke(bot: ColonyBot, name: str, fake: FakeInteraction, **options: Any) -> discord.Embed:
    """Runs the callback the way discord.py does: an exception goes to the tree's error handler."""
    await run_command(bot, "haul", name, fake, **options)
    message = the_message(fake)
    (embed,) = message.embeds
    return embed


def refusal(fake: FakeInteraction, embed: discord.Embed) -> str:
    assert fake.sent[0].ephemeral
    return embed.description or ""


def left(journal: Journal, commodity: str | None = None) -> int:
    depot = journal.depot[SITE]
    return sum(
        r["RequiredAmount"] - r["ProvidedAmount"]
        for r in depot["ResourcesRequired"]
        if commodity is None or r["Name"] == f"${commodity}_name;"
    )


async def test_board_defaults_to_the_site_last_delivered_to_and_adds_up(
    filled: tuple[ColonyBot, Journal],
) -> None:
    bot, journal = filled
    fake = interaction()
    embed = await invoke(bot, "board", fake)
    assert fake.response.deferred is None  # answered directly: the state is in memory
    assert (fake.sent[0].via, fake.sent[0].ephemeral) == ("response", False)
    assert embed.title == f"Haul board: {SHIP}"
    total = left(journal)
    # TEST ends the session with 740 t of titanium bought from the carrier, hauling for the site.
    assert f"{total:,} t remaining = 740 in ships + 0 claimed + 0 on carriers + **{total - 740:,} open**" in (
        embed.description or ""
    )
    assert f"{-(-(total - 740) // 776):,} trips left at 776 t (mean hold of 1 active hauler)" in (
        embed.description or ""
    )
    titanium = left(journal, "titanium")
    assert f"**Titanium** {titanium:,} t left · in ships 740 · open **{titanium - 740:,}**" in (
        embed.description or ""
    )
    holds = {f.name: f.value for f in embed.fields}
    assert holds["In ships"] == "CMDR TEST · 740 t Titanium · docked at H5L-69X"  # where it was loaded
    board = await bot.core.services.hauling.board(GUILD, SITE)
    assert board is not None
    three, day = board.rates
    assert (three.window_hours, day.window_hours) == (3, 24)
    assert day.tonnes == 13 * 776  # every delivery of the session
    assert 0 < three.tonnes < day.tonnes
    for rate in (three, day):
        assert f"At this pace (last {rate.window_hours} h: {rate.per_hour:,.0f} t/h) done <t:" in (
            embed.description or ""
        )


async def test_board_of_a_system_and_of_an_unknown_site(filled: tuple[ColonyBot, Journal]) -> None:
    bot, _ = filled
    sites = await bot.core.services.queries.sites(GUILD)
    system = next(s.system_name for s in sites if s.market_id == SITE)
    embed = await invoke(bot, "board", interaction(), target=f"system:{system}")
    assert embed.title == f"Haul board: {SHIP}"
    fake = interaction()
    embed = await invoke(bot, "board", fake, target="Nowhere Vision")
    assert refusal(fake, embed) == (
        "No construction site matches \u201cNowhere Vision\u201d: pick one from the list while typing, "
        "or see `/colony status`."
    )


async def test_claim_release_and_mine(filled: tuple[ColonyBot, Journal]) -> None:
    bot, journal = filled
    fake = interaction()
    embed = await invoke(bot, "claim", fake, commodity="Titanium", tonnes=1000)
    assert fake.response.deferred == {"ephemeral": True, "thinking": True}
    assert fake.sent[0].ephemeral
    assert embed.title == "Claim #1"
    assert (embed.description or "").startswith(f"You bring 1,000 t of Titanium to {SHIP} (")

    fake = interaction()
    embed = await invoke(bot, "mine", fake)
    assert fake.sent[0].ephemeral
    fields = {f.name: f.value or "" for f in embed.fields}
    assert f"`#1` <@{USER}> 1,000 t Titanium to {SHIP} · 740 t loaded · expires <t:" in fields["Claims"]
    assert f"CMDR TEST · 740 t Titanium → {SHIP}" in fields["In your holds"]
    assert "Hauling for: " + SHIP in (embed.description or "")

    embed = await invoke(bot, "board", interaction())
    titanium = left(journal, "titanium")
    assert (
        f"**Titanium** {titanium:,} t left · in ships 740 · claimed 260 · open **{titanium - 1000:,}**"
        in (embed.description or "")
    )

    fake = interaction()
    embed = await invoke(bot, "release", fake, claim="#1")
    assert embed.title == "Released 1 claim"
    fake = interaction()
    embed = await invoke(bot, "release", fake)
    assert refusal(fake, embed) == "You have no open claim: `/haul claim` reserves a haul."
    fake = interaction()
    embed = await invoke(bot, "release", fake, claim="7")
    assert refusal(fake, embed) == "You have no open claim #7: `/haul mine` lists yours."
    fake = interaction()
    embed = await invoke(bot, "release", fake, claim="seven")
    assert refusal(fake, embed) == "A claim is its number, like 12 (see `/haul mine`), not \u201cseven\u201d."


async def test_claim_refusals_word_for_word(filled: tuple[ColonyBot, Journal]) -> None:
    bot, journal = filled
    titanium = left(journal, "titanium")
    other = 88  # a member with no commander: nothing of theirs is in a hold
    fake = interaction(user=other)
    embed = await invoke(bot, "claim", fake, commodity="titanium", tonnes=titanium, site=str(SITE))
    assert refusal(fake, embed) == (
        f"Only {titanium - 740:,} t of Titanium is left unclaimed at {SHIP}: {titanium:,} t remaining, "
        f"740 t in ships, 0 t claimed. Claim at most {titanium - 740:,} t."
    )
    await invoke(
        bot, "claim", interaction(user=other), commodity="titanium", tonnes=titanium - 740, site=SHIP
    )
    fake = interaction(user=89)
    embed = await invoke(bot, "claim", fake, commodity="titanium", tonnes=1, site=SHIP)
    assert refusal(fake, embed) == (
        f"Nothing of Titanium is left unclaimed at {SHIP}: {titanium:,} t remaining, 740 t in ships, "
        f"{titanium - 740:,} t claimed."
    )
    fake = interaction()
    embed = await invoke(bot, "claim", fake, commodity="unobtainium", tonnes=5)
    assert refusal(fake, embed) == f"{SHIP} does not need unobtainium: `/haul board` shows what it needs."
    fake = interaction(user=90)
    embed = await invoke(bot, "claim", fake, commodity="steel", tonnes=5)
    assert refusal(fake, embed) == (
        "Name the site: you are not docked at a construction site and have no claim or recent delivery "
        "to go by."
    )
    fake = interaction(guild=None)
    embed = await invoke(bot, "claim", fake, commodity="steel", tonnes=5)
    assert refusal(fake, embed) == "This command works in a server, not in direct messages."
    assert [c.id for c in await bot.core.services.hauling.claims(GUILD)] == [1]  # the refused stored nothing


async def test_plan_offers_a_button_that_claims_ones_own_line(filled: tuple[ColonyBot, Journal]) -> None:
    bot, _ = filled
    fake = interaction()
    embed = await invoke(bot, "plan", fake)
    assert embed.title == f"Haul plan: {SHIP}"
    assert isinstance(fake.response, ViewResponse)
    assert (fake.sent[0].via, fake.sent[0].ephemeral) == ("response", False)
    (view,) = fake.response.views
    (button,) = view.children
    assert isinstance(button, discord.ui.DynamicItem)
    assert button.custom_id == f"haul:plan:{SITE}"
    board = await bot.core.services.hauling.board(GUILD, SITE)
    assert board is not None
    biggest = max(board.lines, key=lambda x: (x.open + x.on_carriers, x.name))
    assert (embed.description or "").startswith(f"<@{USER}> CMDR TEST: 776 t ")

    cog: Any = bot.get_cog("HaulCog")
    press = interaction()
    as_discord: Any = press
    await press_claim_line(cog.replies, as_discord, SITE)
    message = the_message(press)
    assert message.ephemeral
    (claimed,) = await bot.core.services.hauling.claims(GUILD)
    assert (claimed.commodity, claimed.tonnes) == (biggest.name, 776)

    assert press.response.deferred == {"ephemeral": True, "thinking": True}  # acknowledged first
    assert message.via == "followup"

    again = interaction()
    as_discord = again
    await press_claim_line(cog.replies, as_discord, SITE)
    (error,) = the_message(again).embeds
    assert error.description == (
        f"The plan for {SHIP} has no line for you: it needs a commander of yours seen in the last 24 h "
        "with a known ship, and no claim of yours there."
    )


async def test_a_claim_button_that_fails_unexpectedly_still_answers_the_presser(
    filled: tuple[ColonyBot, Journal], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A button's error never reaches the command tree's handler: the presser must still get the
    ephemeral "went wrong" sentence, not Discord's "This interaction failed"."""
    bot, _ = filled
    cog: Any = bot.get_cog("HaulCog")

    async def locked(*_: object) -> None:
        raise StoreError("database is locked")

    monkeypatch.setattr(cog.replies, "claim_planned", locked)
    press = interaction()
    as_discord: Any = press
    await press_claim_line(cog.replies, as_discord, SITE)
    message = the_message(press)
    assert message.ephemeral
    (embed,) = message.embeds
    assert embed.description == GENERIC
    assert "Claim my line failed" in caplog.text
    assert await bot.core.services.hauling.claims(GUILD) == []


async def test_carrier_link_needs_manage_server(filled: tuple[ColonyBot, Journal]) -> None:
    bot, _ = filled
    fake = interaction()
    embed = await invoke(bot, "carrier", fake, carrier="H5L-69X")  # anyone may look
    assert embed.title == "Carrier SPONSORED BY THARGOIDS (H5L-69X)"
    assert (embed.description or "").splitlines()[1:] == [
        "No Market snapshot yet: the owner opens the carrier's market with the uploader running",
        "Cargo in use (CarrierStats): 81 t",
        "Serves: no site yet (`/haul carrier <carrier> <site>`)",
    ]
    (orders,) = embed.fields  # the journal's one CarrierTradeOrder: SaleOrder 21872 titanium, Price 4447
    assert (orders.name, orders.value) == ("Orders", "Selling Titanium 21,872 t at 4,447 cr")
    fake = interaction()
    embed = await invoke(bot, "carrier", fake, carrier="H5L-69X", site=SHIP)
    assert (
        refusal(fake, embed) == "Only members with the Manage Server permission can link carriers to sites."
    )
    fake = interaction(manage=True)
    embed = await invoke(bot, "carrier", fake, carrier="Nope", site=SHIP)
    assert refusal(fake, embed) == (
        "No squadron carrier matches \u201cNope\u201d: pick one from the list while typing "
        "(`/colony carrier` alone lists them)."
    )
    embed = await invoke(bot, "carrier", interaction(manage=True), carrier="H5L-69X", site=SHIP)
    assert embed.description == (
        f"Carrier SPONSORED BY THARGOIDS now serves {SHIP}: its stock shows on the board as on carriers."
    )
    assert await bot.core.services.hauling.links(GUILD) == {CARRIER: (SITE,)}
    embed = await invoke(
        bot, "carrier", interaction(manage=True), carrier=str(CARRIER), site=SHIP, remove=True
    )
    assert embed.description == f"Carrier SPONSORED BY THARGOIDS no longer serves {SHIP}."
    assert await bot.core.services.hauling.links(GUILD) == {}


async def test_expiry_shows_and_changes_the_claim_lifetime(filled: tuple[ColonyBot, Journal]) -> None:
    bot, journal = filled
    embed = await invoke(bot, "expiry", interaction())
    assert embed.description == "Claims expire after 4 hours."
    fake = interaction()
    embed = await invoke(bot, "expiry", fake, hours=2.0)
    assert refusal(fake, embed) == "Only members with the Manage Server permission can change claim expiry."
    fake = interaction(manage=True)
    embed = await invoke(bot, "expiry", fake, hours=500.0)
    assert refusal(fake, embed) == "Claims can expire after 0.25 to 168 hours, not 500."
    embed = await invoke(bot, "expiry", interaction(manage=True), hours=2.0)
    assert embed.description == "New claims now expire after 2 hours."
    await invoke(bot, "claim", interaction(), commodity="titanium", tonnes=10)
    (claim,) = await bot.core.services.hauling.claims(GUILD)
    assert journal.last is not None
    assert claim.expires_at - claim.created_at == timedelta(hours=2)
    assert isinstance(claim.created_at, datetime)


async def test_the_haul_tree_is_within_discords_rules(filled: tuple[ColonyBot, Journal]) -> None:
    bot, _ = filled
    payload = {c.name: c.to_dict(bot.tree) for c in bot.tree.get_commands()}
    haul = payload["haul"]
    assert haul["contexts"] == [0]  # guild only
    subcommands = {o["name"]: o for o in haul["options"]}
    assert set(subcommands) == {"board", "mine", "plan", "claim", "release", "carrier", "expiry"}
    for sub in subcommands.values():
        assert 1 <= len(sub["description"]) <= 100, sub["name"]
        for option in sub.get("options", []):
            assert option["description"] != "\u2026", f"{sub['name']} {option['name']}"
            assert 1 <= len(option["description"]) <= 100, f"{sub['name']} {option['name']}"
    tonnes = {o["name"]: o for o in subcommands["claim"]["options"]}["tonnes"]
    assert (tonnes["min_value"], tonnes["required"]) == (1, True)


async def test_commodity_autocomplete_offers_what_is_still_needed(filled: tuple[ColonyBot, Journal]) -> None:
    bot, journal = filled
    cog: Any = bot.get_cog("HaulCog")
    as_discord: Any = interaction()
    choices = await cog._commodities(as_discord, "tit")
    assert [(c.name, c.value) for c in choices] == [
        (f"Titanium ({left(journal, 'titanium'):,} t left)", "titanium")
    ]
    everything = await cog._commodities(as_discord, "")
    needed = [
        r for r in journal.depot[SITE]["ResourcesRequired"] if r["RequiredAmount"] > r["ProvidedAmount"]
    ]
    assert len(everything) == min(25, len(needed))
    assert everything[0].value == max(needed, key=lambda r: r["RequiredAmount"] - r["ProvidedAmount"])[
        "Name"
    ].removeprefix("$").removesuffix("_name;")
