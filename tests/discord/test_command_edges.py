"""Slash commands and console lines at their edges: unfollow takes what follow took, carriers by
callsign, console flags and quotes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.console import Caller, _unquoted, execute
from bot.discord_client import ColonyBot
from tests.discord._bot import unconnected_bot
from tests.discord._filled import APRIL, GUILD, USER, Journal, fill
from tests.discord._interaction import FakeInteraction, FakeUser, run_command
from wire import Batch
from wire.events import CarrierLocationEvent, MarketEvent, MarketItem

pytestmark = pytest.mark.samples
SYSTEM = "Col 285 Sector GF-F b12-5"
SITE = 3958981890
CARRIER = 3710508288


async def _bot(tmp_path: Path, journal_path: Path) -> AsyncIterator[ColonyBot]:
    journal = Journal.read(journal_path)
    assert journal.last is not None
    later = journal.last + timedelta(minutes=5)
    async with unconnected_bot(tmp_path) as bot:
        await fill(bot.core.services, journal_path)
        bot.core.services.hauling.clock = lambda: later
        cog: Any = bot.get_cog("ColonyCog")
        cog.replies.now = lambda: later
        yield bot


@pytest.fixture
async def april(tmp_path: Path, samples: Path) -> AsyncIterator[ColonyBot]:
    async for bot in _bot(tmp_path, samples / APRIL):
        yield bot


def interaction(*, manage: bool = False) -> FakeInteraction:
    perms = discord.Permissions(manage_guild=manage)
    return FakeInteraction(guild_id=GUILD, user=FakeUser(USER, "TEST"), permissions=perms)


async def invoke(bot: ColonyBot, group: str, name: str, fake: FakeInteraction, **options: Any) -> str:
    await run_command(bot, group, name, fake, **options)
    (message,) = fake.sent
    (embed,) = message.embeds
    return embed.description or ""


# -- 1. /colony unfollow does not resolve what /colony follow resolves ---------------------------


@pytest.fixture
async def long_named(tmp_path: Path, samples: Path) -> AsyncIterator[ColonyBot]:
    """The April journal with its system renamed to 130 characters."""
    long_name = "Col 285 Sector " + "Very Long Name " * 7 + "GF-F b12-5"
    journal = tmp_path / "Journal.2025-04-08T215854.01.log"
    journal.write_bytes((samples / APRIL).read_bytes().replace(SYSTEM.encode(), long_name.encode()))
    async for bot in _bot(tmp_path, journal):
        yield bot


async def test_unfollow_a_system_with_a_long_name_picked_from_autocomplete(long_named: ColonyBot) -> None:
    cog: Any = long_named.get_cog("ColonyCog")
    (picked,) = [c for c in await cog._targets(interaction(), "very long") if c.value.startswith("system:")]
    followed = await invoke(long_named, "colony", "follow", interaction(manage=True), target=picked.value)
    assert "now follows system" in followed
    stopped = await invoke(long_named, "colony", "unfollow", interaction(manage=True), target=picked.value)
    assert stopped == "Stopped 1 follow in <#555>."


async def test_unfollow_takes_the_site_name_follow_took(april: ColonyBot) -> None:
    followed = await invoke(april, "colony", "follow", interaction(manage=True), target="Colonisation Ship")
    assert "now follows site System Colonisation Ship" in followed
    stopped = await invoke(april, "colony", "unfollow", interaction(manage=True), target="Colonisation Ship")
    assert stopped == "Stopped 1 follow in <#555>."


# -- 2. a carrier known from a member's Market.json cannot be found by its callsign ---------------


async def test_a_carrier_known_from_its_market_is_found_by_its_callsign(april: ColonyBot) -> None:
    other = 3700000123  # the squadron's hauling carrier; its owner runs no uploader
    market = MarketEvent(
        id="f" * 32, timestamp=datetime(2025, 4, 8, 21, 0, tzinfo=UTC), source="Market.json", offset=1,
        commander="TEST", at_market_id=other, market_id=other, station_name="Q2K-B7Z",
        station_type="FleetCarrier", system_name=SYSTEM,
        items=[MarketItem(name="steel", name_localised="Steel", stock=5000, demand=0)],
    )  # fmt: skip
    services = april.core.services
    (token,) = [r for r in await services.tokens.list(GUILD) if not r.revoked]
    upload = Batch(batch_id="m", uploader_version="t", platform="t", events=[market])
    await services.intake.submit(token, upload)
    haul: Any = april.get_cog("HaulCog")
    assert [c.value for c in await haul._carriers(interaction(), "Q2K")] == [str(other)]
    manager = interaction(manage=True)
    linked = await invoke(april, "haul", "carrier", manager, carrier="Q2K-B7Z", site=str(SITE))
    assert linked.startswith("Carrier Q2K-B7Z now serves System Colonisation Ship")
    # Every view of it names it so: the stock (`/haul carrier Q2K-B7Z`, /api/v1/haul/carriers) too.
    (stock,) = [c for c in await services.hauling.carrier_stock(GUILD) if c.carrier_id == other]
    assert stock.callsign == "Q2K-B7Z"
    viewer = interaction()
    shown = await invoke(april, "haul", "carrier", viewer, carrier="Q2K-B7Z")
    (message,) = viewer.sent
    assert "Q2K-B7Z" in (message.embeds[0].title or "")
    assert shown.startswith(f"In {SYSTEM}\n")  # where a member saw it, not "unknown"
    # The owner's word and a member's sighting: the newer one says where it is.
    def located(minute: int, system: str) -> CarrierLocationEvent:
        return CarrierLocationEvent(
            id=f"{minute:032x}", timestamp=datetime(2025, 4, 8, 20, minute, tzinfo=UTC), source="J.log",
            offset=minute, carrier_id=other, system_name=system, system_address=1000 + minute,
        )  # fmt: skip

    older = Batch(batch_id="o", uploader_version="t", platform="t", events=[located(30, "Old Place")])
    await services.intake.submit(token, older)  # before the market snapshot (21:00)
    (view,) = [c for c in await services.queries.carriers(GUILD) if c.carrier_id == other]
    assert view.system_name == SYSTEM
    newer = CarrierLocationEvent(**{**located(0, "New Place").model_dump(), "id": "e" * 32,
                                    "timestamp": datetime(2025, 4, 8, 22, 0, tzinfo=UTC)})  # fmt: skip
    latest = Batch(batch_id="n", uploader_version="t", platform="t", events=[newer])
    await services.intake.submit(token, latest)
    (view,) = [c for c in await services.queries.carriers(GUILD) if c.carrier_id == other]
    assert (view.system_name, view.system_address) == ("New Place", 1000)


# -- 3-5. the console ------------------------------------------------------------------------------


async def _console(bot: ColonyBot, line: str) -> str:
    colony: Any = bot.get_cog("ColonyCog")
    haul: Any = bot.get_cog("HaulCog")
    return await execute(colony.replies, line, Caller(guild_id=GUILD, user_id=USER), haul=haul.replies)


async def test_console_remove_that_is_not_a_boolean_is_refused_not_taken_as_false(april: ColonyBot) -> None:
    out = await _console(april, f"/haul carrier H5L-69X site:{SITE} remove:y")  # the operator means unlink
    assert await april.core.services.hauling.links(GUILD) == {}, out


async def test_console_a_bare_haul_line_names_haul(april: ColonyBot) -> None:
    out = await _console(april, "/haul")
    assert "/colony" not in out, out


async def test_console_a_quoted_value_is_the_value(april: ColonyBot) -> None:
    plain = await _console(april, "/colony site System Colonisation Ship")
    assert plain.startswith("System Colonisation Ship")
    assert await _console(april, '/colony site "System Colonisation Ship"') == plain

    # Quotes inside are part of the value: only one pair around all of it is taken off.
    assert _unquoted('"Alpha" and "Beta"') == '"Alpha" and "Beta"'
    assert _unquoted("'Vela'") == "Vela"


# -- 6. /haul carrier remove:True without a site ------------------------------------------------


async def test_carrier_remove_without_a_site_says_which_site_is_missing(april: ColonyBot) -> None:
    text = await invoke(april, "haul", "carrier", interaction(manage=True), carrier="H5L-69X", remove=True)
    assert "remove" in text, text  # instead: the stock, the unlink silently dropped
