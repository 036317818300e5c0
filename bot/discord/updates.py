"""The channel-updates extension: `ChannelUpdates` over Discord, fed by the core's change feed."""

from __future__ import annotations

from discord.ext import commands

from bot.discord._host import colony_host
from bot.discord.port import DiscordChannelPort
from bot.notify.channels import ChannelUpdates, SettingsFollowStore
from bot.notify.feed import ChangeFeed


class ChannelUpdatesCog(commands.Cog):
    def __init__(self, updates: ChannelUpdates, feed: ChangeFeed) -> None:
        self.updates = updates
        self.feed = feed

    async def cog_load(self) -> None:
        await self.updates.load()
        self.updates.start(self.feed)

    async def cog_unload(self) -> None:
        await self.updates.close()


async def setup(bot: commands.Bot) -> None:
    services = colony_host(bot).core.services
    updates = ChannelUpdates(
        DiscordChannelPort(bot), SettingsFollowStore(services.db), capacity=services.queries.hold_capacity
    )
    await bot.add_cog(ChannelUpdatesCog(updates, services.feed))
