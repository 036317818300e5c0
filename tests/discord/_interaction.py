"""A fake `discord.Interaction` with exactly the attributes the /colony callbacks, `send_reply`
and the tree's error handler use (slots: a typo is an AttributeError, not a silent Mock)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import discord
from discord import app_commands


@dataclass(slots=True)
class Message:
    via: str  # "response" or "followup"
    content: str | None
    embeds: list[discord.Embed]
    ephemeral: bool
    allowed_mentions: discord.AllowedMentions | None


@dataclass(slots=True)
class FakeUser:
    id: int
    name: str


@dataclass(slots=True)
class FakeResponse:
    sent: list[Message]
    deferred: dict[str, bool] | None = None
    _done: bool = False

    def is_done(self) -> bool:
        return self._done

    async def defer(self, *, ephemeral: bool = False, thinking: bool = False) -> None:
        assert not self._done, "an interaction can be answered once"
        self.deferred = {"ephemeral": ephemeral, "thinking": thinking}
        self._done = True

    async def send_message(
        self,
        content: str | None = None,
        *,
        embeds: list[discord.Embed],
        ephemeral: bool = False,
        allowed_mentions: discord.AllowedMentions | None = None,
    ) -> None:
        assert not self._done, "an interaction can be answered once"
        self.sent.append(Message("response", content, embeds, ephemeral, allowed_mentions))
        self._done = True


@dataclass(slots=True)
class FakeFollowup:
    sent: list[Message]
    response: FakeResponse

    async def send(
        self,
        content: Any = discord.utils.MISSING,
        *,
        embeds: list[discord.Embed],
        ephemeral: bool = False,
        allowed_mentions: discord.AllowedMentions | None = None,
    ) -> None:
        assert self.response.is_done(), "a followup needs a deferred or answered interaction"
        text = None if content is discord.utils.MISSING else content
        self.sent.append(Message("followup", text, embeds, ephemeral, allowed_mentions))


@dataclass(slots=True)
class FakeCommand:
    qualified_name: str


@dataclass(slots=True)
class FakeInteraction:
    guild_id: int | None
    user: FakeUser
    channel_id: int | None = 555
    permissions: discord.Permissions = field(default_factory=discord.Permissions.none)
    # The bot's own permissions in the channel (Discord's `app_permissions`), and that channel.
    app_permissions: discord.Permissions = field(default_factory=discord.Permissions.all)
    channel: Any = None
    command: FakeCommand | None = None
    options: dict[str, Any] = field(default_factory=dict)
    id: int = 999
    sent: list[Message] = field(default_factory=list)
    response: FakeResponse = field(init=False)
    followup: FakeFollowup = field(init=False)

    def __post_init__(self) -> None:
        self.response = FakeResponse(self.sent)
        self.followup = FakeFollowup(self.sent, self.response)

    @property
    def namespace(self) -> Iterator[tuple[str, Any]]:
        return iter(self.options.items())


async def run_command(bot: Any, group: str, name: str, fake: FakeInteraction, **options: Any) -> None:
    """Runs `/group name` the way discord.py does: an exception goes to the tree's error handler."""
    cog: Any = bot.get_cog("ColonyCog" if group == "colony" else "HaulCog")
    command = cog.app_command.get_command(name)
    assert isinstance(command, app_commands.Command)
    fake.command, fake.options = FakeCommand(f"{group} {name}"), options
    as_discord: Any = fake  # the fake has exactly the attributes our code uses, no more
    try:
        await command.callback(cog, as_discord, **options)
    except Exception as exc:
        await bot.tree.on_error(as_discord, app_commands.CommandInvokeError(command, exc))
