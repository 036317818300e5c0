"""What the extensions need from the bot they are loaded into: the started core and the settings."""

from __future__ import annotations

from discord.ext import commands

from bot.discord_client import ColonyBot


def colony_host(bot: commands.Bot) -> ColonyBot:
    if not isinstance(bot, ColonyBot):
        raise TypeError(f"the colony extensions need a ColonyBot, not {type(bot).__name__}")
    return bot
