"""The Discord face: the `/colony` commands, the command tree, and channel updates over Discord.

Each extension below has `async def setup(bot)`; `bot.discord_client.ColonyBot` loads them in this
order (channel updates first: the `/colony follow` command uses them).
"""

EXTENSIONS: tuple[str, ...] = ("bot.discord.updates", "bot.discord.colony", "bot.discord.haul")
