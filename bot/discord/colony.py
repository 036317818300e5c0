"""The `/colony` command group: thin callbacks over `ColonyReplies`.

Reads (`status`, `site`, `needs`, `contributors`, `carrier`, `help`) are answered from the core's
in-memory state well inside Discord's 3-second window, so they answer directly: a failed lookup
then stays an ephemeral error instead of replacing a public "thinking…" message. Writes (`link`,
`unlink`, `follow`, `unfollow`) touch the database and defer first, ephemerally.
"""

from __future__ import annotations

import time
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord._host import colony_host
from bot.discord.replies import (
    PERIOD_NAMES,
    Choice,
    ColonyReplies,
    CommandError,
    carrier_choices,
    site_choices,
    system_choices,
    target_choices,
)
from bot.discord.tree import send_reply
from bot.discord.updates import ChannelUpdatesCog
from bot.views import CarrierView, SiteView

Interaction = discord.Interaction[Any]
CACHE_SECONDS = 30.0  # autocomplete runs on every keystroke; sites change far more slowly


def _guild(interaction: Interaction) -> int:
    if interaction.guild_id is None:  # guild_only makes this unreachable; keep the reason readable
        raise CommandError("This command works in a server, not in direct messages.")
    return interaction.guild_id


def _choices(found: list[Choice]) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=c.name, value=c.value) for c in found]


# No `default_permissions` on the group: Discord applies it to every subcommand of /colony, and
# members must be able to read status. `follow`/`unfollow` require Manage Server by a check and
# again in the reply code.
def _cannot_post(interaction: Interaction, channel: discord.TextChannel | None) -> list[str]:
    """The permissions the bot lacks to post live messages in the channel a follow names (its own
    in that channel: the interaction's, or the named channel's for the bot's member)."""
    if channel is not None:
        me: discord.Member | None = channel.guild.me  # typed as always there; None when not cached
        if me is None:  # Discord will refuse at the first post, and the log say so
            return []
        perms, in_thread = channel.permissions_for(me), False
    else:
        perms, in_thread = interaction.app_permissions, isinstance(interaction.channel, discord.Thread)
    needed = {
        "View Channel": perms.view_channel,
        "Send Messages": perms.send_messages_in_threads if in_thread else perms.send_messages,
        "Embed Links": perms.embed_links,
    }
    return [name for name, granted in needed.items() if not granted]


@app_commands.guild_only()
class ColonyCog(commands.GroupCog, group_name="colony", group_description="Build colonies together"):
    def __init__(self, replies: ColonyReplies) -> None:
        self.replies = replies
        self._sites: dict[int, tuple[float, list[SiteView]]] = {}
        self._carriers: dict[int, tuple[float, list[CarrierView]]] = {}
        super().__init__()

    async def cached_sites(self, guild_id: int) -> list[SiteView]:
        hit = self._sites.get(guild_id)
        if hit is None or time.monotonic() - hit[0] > CACHE_SECONDS:
            hit = (time.monotonic(), await self.replies.queries.sites(guild_id))
            self._sites[guild_id] = hit
        return hit[1]

    async def cached_carriers(self, guild_id: int) -> list[CarrierView]:
        hit = self._carriers.get(guild_id)
        if hit is None or time.monotonic() - hit[0] > CACHE_SECONDS:
            hit = (time.monotonic(), await self.replies.queries.carriers(guild_id))
            self._carriers[guild_id] = hit
        return hit[1]

    # -- reads -----------------------------------------------------------------------------------

    @app_commands.command(
        name="status", description="Progress of every site of a system, or of every active site"
    )
    @app_commands.describe(system="A system with construction sites; leave empty for every active site")
    async def status(self, interaction: Interaction, system: str | None = None) -> None:
        await send_reply(interaction, await self.replies.status(_guild(interaction), system))

    @app_commands.command(name="site", description="One site: every commodity, trips left, contributors")
    @app_commands.describe(site="The construction site (type to search)")
    async def site(self, interaction: Interaction, site: str) -> None:
        await send_reply(interaction, await self.replies.site(_guild(interaction), site))

    @app_commands.command(name="needs", description="The shopping list across sites, biggest first")
    @app_commands.describe(target="A site or a system; leave empty for every active site")
    async def needs(self, interaction: Interaction, target: str | None = None) -> None:
        await send_reply(interaction, await self.replies.needs(_guild(interaction), target))

    @app_commands.command(name="contributors", description="Who delivered most, in tonnes and deliveries")
    @app_commands.describe(site="Only this site; leave empty for every site", period="How far back to count")
    @app_commands.choices(
        period=[app_commands.Choice(name=name, value=key) for key, name in PERIOD_NAMES.items()]
    )
    async def contributors(
        self, interaction: Interaction, site: str | None = None, period: str = "all"
    ) -> None:
        await send_reply(interaction, await self.replies.contributors(_guild(interaction), site, period))

    @app_commands.command(name="carrier", description="A squadron carrier's location, jump plans and stock")
    @app_commands.describe(carrier="The carrier (type to search); leave empty to list them")
    async def carrier(self, interaction: Interaction, carrier: str | None = None) -> None:
        await send_reply(interaction, await self.replies.carrier(_guild(interaction), carrier))

    @app_commands.command(name="help", description="What each command does and how to install the uploader")
    async def help(self, interaction: Interaction) -> None:
        await send_reply(interaction, self.replies.help())

    # -- writes ----------------------------------------------------------------------------------

    @app_commands.command(name="link", description="Get your uploader token (shown once, only to you)")
    async def link(self, interaction: Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        reply = await self.replies.link(_guild(interaction), interaction.user.id, interaction.user.name)
        await send_reply(interaction, reply)

    @app_commands.command(name="unlink", description="Revoke your uploader tokens on this server")
    async def unlink(self, interaction: Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await send_reply(interaction, await self.replies.unlink(_guild(interaction), interaction.user.id))

    @app_commands.command(
        name="follow", description="Live progress updates for a site or system in a channel"
    )
    @app_commands.describe(
        target="A site or a system (type to search)", channel="Where to post; leave empty for this channel"
    )
    @app_commands.checks.has_permissions(manage_guild=True)
    async def follow(
        self, interaction: Interaction, target: str, channel: discord.TextChannel | None = None
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        channel_id = channel.id if channel is not None else interaction.channel_id
        if channel_id is None:
            raise CommandError("Name the channel to post in.")
        missing = _cannot_post(interaction, channel)
        if missing:
            # Else every post is refused (403) and only the bot's log would ever say so.
            raise CommandError(
                f"I cannot post in <#{channel_id}>: I need {' and '.join(missing)} there. Give the bot's "
                "role those permissions in that channel, then follow again."
            )
        reply = await self.replies.follow(
            _guild(interaction), channel_id, target, can_manage=interaction.permissions.manage_guild
        )
        await send_reply(interaction, reply)

    @app_commands.command(name="unfollow", description="Stop live updates in a channel")
    @app_commands.describe(
        target="Only this site or system; leave empty to stop them all",
        channel="The channel; leave empty for this channel",
    )
    @app_commands.checks.has_permissions(manage_guild=True)
    async def unfollow(
        self, interaction: Interaction, target: str | None = None, channel: discord.TextChannel | None = None
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        channel_id = channel.id if channel is not None else interaction.channel_id
        if channel_id is None:
            raise CommandError("Name the channel to stop.")
        reply = await self.replies.unfollow(
            _guild(interaction), channel_id, target, can_manage=interaction.permissions.manage_guild
        )
        await send_reply(interaction, reply)

    # -- autocomplete (re-validated by the commands: Discord lets users send anything) -------------

    @status.autocomplete("system")
    async def _systems(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return _choices(system_choices(await self.cached_sites(_guild(interaction)), current))

    @site.autocomplete("site")
    @contributors.autocomplete("site")
    async def _site_names(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return _choices(site_choices(await self.cached_sites(_guild(interaction)), current))

    @needs.autocomplete("target")
    @follow.autocomplete("target")
    @unfollow.autocomplete("target")
    async def _targets(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return _choices(target_choices(await self.cached_sites(_guild(interaction)), current))

    @carrier.autocomplete("carrier")
    async def _carrier_names(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return _choices(carrier_choices(await self.cached_carriers(_guild(interaction)), current))


async def setup(bot: commands.Bot) -> None:
    host = colony_host(bot)
    services = host.core.services
    updates = bot.get_cog(ChannelUpdatesCog.__cog_name__)
    channels = updates.updates if isinstance(updates, ChannelUpdatesCog) else None
    replies = ColonyReplies(
        services.queries,
        services.tokens,
        channels,
        public_url=host.settings.public_url,
        uploader_source=host.settings.install_source,
    )
    await bot.add_cog(ColonyCog(replies))
