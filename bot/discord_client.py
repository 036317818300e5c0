"""The discord.py client: the only module of the core that imports discord.

`setup_hook` starts the core (store, services, web server) and loads the Discord extensions;
`close()` stops the core first (no new uploads; the notifier drains while the client can still
post), then the Discord connection.
"""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from bot.app import ColonyCore
from bot.discord import EXTENSIONS as DISCORD_EXTENSIONS
from bot.discord.tree import ColonyTree
from bot.settings import Settings

logger = logging.getLogger(__name__)

# The Discord layer's extensions (bot/discord/), each with `async def setup(bot)`; loaded in order.
EXTENSIONS: tuple[str, ...] = DISCORD_EXTENSIONS


class ColonyBot(commands.Bot):
    def __init__(
        self, settings: Settings, core: ColonyCore, extensions: tuple[str, ...] = EXTENSIONS
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # slash commands need no message content
        super().__init__(
            command_prefix=commands.when_mentioned,
            tree_cls=ColonyTree,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions(
                everyone=False, roles=False, users=False, replied_user=False
            ),
        )
        self.settings = settings
        self.core = core
        self.initial_extensions = extensions

    async def setup_hook(self) -> None:
        await self.core.start()
        for extension in self.initial_extensions:
            await self.load_extension(extension)

    async def close(self) -> None:
        try:
            await self.core.stop(before_store_closes=self._unload_extensions)
        finally:
            await super().close()

    async def _unload_extensions(self) -> None:
        # While the store is still open: the channel updates' last pass saves its message ids.
        for extension in list(self.extensions):
            await self.unload_extension(extension)
