"""The command tree: one error handler for every app command, and the helpers that answer."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from bot.discord.replies import CommandError
from bot.render import embeds
from bot.render.reply import Reply

logger = logging.getLogger(__name__)

NONE = discord.AllowedMentions.none()
GENERIC = "Something went wrong on our side; it has been logged. Try again in a moment."


async def send_reply(interaction: discord.Interaction[Any], reply: Reply) -> None:
    """Answers, whether or not the interaction was deferred; never mentions anyone."""
    if interaction.response.is_done():
        await interaction.followup.send(
            content=reply.content or discord.utils.MISSING,
            embeds=list(reply.embeds),
            ephemeral=reply.ephemeral,
            allowed_mentions=NONE,
        )
    else:
        await interaction.response.send_message(
            content=reply.content, embeds=list(reply.embeds), ephemeral=reply.ephemeral, allowed_mentions=NONE
        )


async def send_error(interaction: discord.Interaction[Any], text: str) -> None:
    """One ephemeral sentence, as an embed, wherever the interaction stands."""
    await send_reply(interaction, Reply.of(embeds.error_embed(text), ephemeral=True))


def _known(error: app_commands.AppCommandError) -> str | None:
    """Friendly text for the errors a user can fix; None for bugs."""
    cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    if isinstance(cause, CommandError):
        return str(cause)
    if isinstance(error, app_commands.MissingPermissions):
        return "Only members with the Manage Server permission can do that."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works in a server, not in direct messages."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.TransformerError):
        value = discord.utils.escape_markdown(str(error.value))[:100]
        return f"\u201c{value}\u201d is not a valid value here."
    if isinstance(error, app_commands.CheckFailure):
        return "You cannot use this command here."
    return None


class ColonyTree(app_commands.CommandTree[Any]):
    async def on_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        text = _known(error)
        if text is None:
            command = interaction.command.qualified_name if interaction.command else "?"
            logger.exception(
                "command /%s failed (guild %s, user %s, options %s)",
                command,
                interaction.guild_id,
                interaction.user.id if interaction.user else "?",
                dict(iter(interaction.namespace)),
                exc_info=error,
            )
            text = GENERIC
        try:
            await send_error(interaction, text)
        except discord.HTTPException:
            # The interaction expired (3 s without an answer) or Discord is down: nothing to tell.
            logger.warning("could not send the error reply of an interaction %s", interaction.id)
