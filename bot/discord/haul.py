"""The `/haul` command group: thin callbacks over `HaulReplies`, the plan's button, the live boards.

`/haul board` and `plan` read the in-memory state and answer directly (a refusal then stays an
ephemeral sentence); `mine`, `claim`, `release`, `carrier` and `expiry` defer first, ephemerally.
The plan's "Claim my line" button is a dynamic item (its custom id carries the site), so it keeps
working after a restart. The boards of followed sites are the second live message per site
(`bot.notify.boards`), started with this extension.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord._host import colony_host
from bot.discord.colony import ColonyCog
from bot.discord.haul_replies import HaulReplies
from bot.discord.port import DiscordChannelPort
from bot.discord.replies import CommandError, carrier_choices, site_choices, target_choices
from bot.discord.tree import GENERIC, NONE, send_error, send_reply
from bot.discord.updates import ChannelUpdatesCog
from bot.ids import typed_id
from bot.notify.boards import BoardUpdates, SettingsBoardStore
from bot.render import limits

logger = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]


def _guild(interaction: Interaction) -> int:
    if interaction.guild_id is None:
        raise CommandError("This command works in a server, not in direct messages.")
    return interaction.guild_id


def _choices(found: list[Any]) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=c.name, value=c.value) for c in found]


class ClaimLineButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"haul:plan:(?P<market>\d+)"):
    """ "Claim my line" under a plan: claims the presser's own line of that site's plan."""

    def __init__(self, market_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Claim my line", style=discord.ButtonStyle.primary, custom_id=f"haul:plan:{market_id}"
            )
        )
        self.market_id = market_id

    @classmethod
    async def from_custom_id(
        cls, interaction: Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ClaimLineButton:
        return cls(int(match["market"]))

    async def callback(self, interaction: Interaction) -> None:
        cog = interaction.client.get_cog("HaulCog")
        await press_claim_line(cog.replies if isinstance(cog, HaulCog) else None, interaction, self.market_id)


async def press_claim_line(replies: HaulReplies | None, interaction: Interaction, market_id: int) -> None:
    """The button's work, kept apart so tests can press it with a fake interaction."""
    if replies is None:
        await send_error(interaction, "Hauling is not running on this bot.")
        return
    # Two write transactions follow (the plan, then the claim): acknowledged first, as the slash
    # commands that write are, so a wait for the database never outlasts Discord's 3 seconds.
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        reply = await replies.claim_planned(_guild(interaction), interaction.user.id, market_id)
    except CommandError as exc:
        await send_error(interaction, str(exc))
        return
    except Exception:
        # A button's error never reaches the command tree's handler: without this the presser
        # sees only "This interaction failed".
        logger.exception("Claim my line failed (guild %s, site %d)", interaction.guild_id, market_id)
        await send_error(interaction, GENERIC)
        return
    await send_reply(interaction, reply)


def plan_view(market_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ClaimLineButton(market_id))
    return view


@app_commands.guild_only()
class HaulCog(commands.GroupCog, group_name="haul", group_description="Coordinate the squadron's hauling"):
    def __init__(self, replies: HaulReplies, sites: ColonyCog | None = None) -> None:
        self.replies = replies
        self.sites = sites  # its cached site and carrier lists serve autocomplete
        super().__init__()

    async def _site_list(self, guild_id: int) -> list[Any]:
        if self.sites is not None:
            return await self.sites.cached_sites(guild_id)
        return await self.replies.queries.sites(guild_id)

    # -- reads -----------------------------------------------------------------------------------

    @app_commands.command(
        name="board", description="Per commodity: remaining, on carriers, in ships, claimed, open"
    )
    @app_commands.describe(
        target="A site or a system; leave empty for the site you are docked at or hauling for"
    )
    async def board(self, interaction: Interaction, target: str | None = None) -> None:
        # Answered directly (the state is in memory): a refusal then stays an ephemeral sentence
        # instead of replacing a public "thinking..." message.
        await send_reply(
            interaction, await self.replies.board(_guild(interaction), interaction.user.id, target)
        )

    @app_commands.command(name="mine", description="Your claims and what your holds carry")
    async def mine(self, interaction: Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await send_reply(interaction, await self.replies.mine(_guild(interaction), interaction.user.id))

    @app_commands.command(name="plan", description="Who could bring what, from the open need and each hold")
    @app_commands.describe(site="The site; leave empty for the one you are docked at or hauling for")
    async def plan(self, interaction: Interaction, site: str | None = None) -> None:
        reply, market_id = await self.replies.plan(_guild(interaction), interaction.user.id, site)
        await interaction.response.send_message(
            embeds=list(reply.embeds), view=plan_view(market_id), allowed_mentions=NONE
        )

    # -- writes ----------------------------------------------------------------------------------

    @app_commands.command(name="claim", description="Reserve a haul: you bring this many tonnes")
    @app_commands.describe(
        commodity="What you bring (e.g. steel)",
        tonnes="How many tonnes",
        site="The site; leave empty for the one you are docked at or hauling for",
    )
    async def claim(
        self,
        interaction: Interaction,
        commodity: str,
        tonnes: app_commands.Range[int, 1, 1_000_000],
        site: str | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        reply = await self.replies.claim(_guild(interaction), interaction.user.id, commodity, tonnes, site)
        await send_reply(interaction, reply)

    @app_commands.command(name="release", description="Give back one of your claims, or all of them")
    @app_commands.describe(claim="The claim's number (see /haul mine); leave empty for all of yours")
    async def release(self, interaction: Interaction, claim: str | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await send_reply(
            interaction, await self.replies.release(_guild(interaction), interaction.user.id, claim)
        )

    @app_commands.command(
        name="carrier", description="A carrier's tracked stock; with a site, link it to that site (or unlink)"
    )
    @app_commands.describe(
        carrier="The carrier (type to search)",
        site="The site it serves (Manage Server); leave empty to see its stock",
        remove="Unlink it from the site instead",
    )
    async def carrier(
        self, interaction: Interaction, carrier: str, site: str | None = None, remove: bool = False
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        reply = await self.replies.carrier(
            _guild(interaction), carrier, site, remove=remove, can_manage=interaction.permissions.manage_guild
        )
        await send_reply(interaction, reply)

    @app_commands.command(name="expiry", description="How long claims last (Manage Server to change it)")
    @app_commands.describe(hours="New lifetime of claims in hours; leave empty to see it")
    async def expiry(self, interaction: Interaction, hours: float | None = None) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        reply = await self.replies.expiry(
            _guild(interaction), hours, can_manage=interaction.permissions.manage_guild
        )
        await send_reply(interaction, reply)

    # -- autocomplete (re-validated by the commands) -----------------------------------------------

    @board.autocomplete("target")
    async def _targets(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return _choices(target_choices(await self._site_list(_guild(interaction)), current))

    @claim.autocomplete("site")
    @plan.autocomplete("site")
    @carrier.autocomplete("site")
    async def _site_names(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return _choices(site_choices(await self._site_list(_guild(interaction)), current))

    @claim.autocomplete("commodity")
    async def _commodities(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        """What the chosen site (or any active site) still needs, biggest need first."""
        sites = await self._site_list(_guild(interaction))
        chosen = str(getattr(interaction.namespace, "site", "") or "")
        market_id = typed_id(chosen)
        if market_id is not None:
            sites = [s for s in sites if s.market_id == market_id] or sites
        need: dict[str, tuple[int, str]] = {}
        for site in sites:
            if site.complete or site.failed:
                continue
            for c in site.commodities:
                if c.remaining > 0:
                    shown = c.name_localised or c.name
                    need[c.name] = (need.get(c.name, (0, shown))[0] + c.remaining, shown)
        wanted = current.casefold().strip()
        ranked = sorted(need.items(), key=lambda kv: (-kv[1][0], kv[0]))
        return [
            app_commands.Choice(name=limits.clip(f"{shown} ({left:,} t left)", 100), value=name[:100])
            for name, (left, shown) in ranked
            if not wanted or wanted in name or wanted in shown.casefold()
        ][:25]

    @carrier.autocomplete("carrier")
    async def _carriers(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        carriers = await self.replies.queries.carriers(_guild(interaction))
        return _choices(carrier_choices(carriers, current))


class BoardUpdatesCog(commands.Cog):
    def __init__(self, boards: BoardUpdates) -> None:
        self.boards = boards

    async def cog_load(self) -> None:
        await self.boards.load()
        self.boards.start()

    async def cog_unload(self) -> None:
        await self.boards.close()


async def teardown(bot: commands.Bot) -> None:
    bot.remove_dynamic_items(ClaimLineButton)


async def setup(bot: commands.Bot) -> None:
    host = colony_host(bot)
    services = host.core.services
    replies = HaulReplies(services.hauling, services.queries)
    bot.add_dynamic_items(ClaimLineButton)
    colony = bot.get_cog("ColonyCog")
    await bot.add_cog(HaulCog(replies, colony if isinstance(colony, ColonyCog) else None))
    updates = bot.get_cog(ChannelUpdatesCog.__cog_name__)
    if isinstance(updates, ChannelUpdatesCog):
        boards = BoardUpdates(
            DiscordChannelPort(bot),
            SettingsBoardStore(services.db),
            services.hauling,
            updates.updates,
            services.feed,
        )
        await bot.add_cog(BoardUpdatesCog(boards))
