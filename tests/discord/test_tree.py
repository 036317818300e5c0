"""The command tree as Discord receives it: it serialises and obeys Discord's rules.
Also the extension smoke test: every extension loads on an unconnected bot."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bot.discord.colony import ColonyCog
from bot.discord.tree import ColonyTree
from bot.discord.updates import ChannelUpdatesCog
from bot.discord_client import EXTENSIONS
from tests.discord._bot import unconnected_bot

NAME = re.compile(r"^[-_a-z0-9]{1,32}$")  # lower case: Discord refuses upper case in chat-input names
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2


def check_options(where: str, options: list[dict[str, Any]], problems: list[str]) -> None:
    if len(options) > 25:
        problems.append(f"{where}: {len(options)} options > 25")
    seen_optional = False
    for option in options:
        name = f"{where} {option['name']}"
        if not NAME.match(option["name"]):
            problems.append(f"{name}: bad name")
        if not 1 <= len(option["description"]) <= 100:
            problems.append(f"{name}: description length {len(option['description'])}")
        if option["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP):
            check_options(name, option.get("options", []), problems)
            continue
        if option.get("required"):
            if seen_optional:
                problems.append(f"{name}: required after an optional option")
        else:
            seen_optional = True
        choices = option.get("choices") or []
        if len(choices) > 25:
            problems.append(f"{name}: {len(choices)} choices > 25")
        for choice in choices:
            if not 1 <= len(choice["name"]) <= 100:
                problems.append(f"{name}: choice name {choice['name']!r}")
        if choices and option.get("autocomplete"):
            problems.append(f"{name}: choices and autocomplete together")


async def test_every_extension_loads_on_an_unconnected_bot(tmp_path: Path) -> None:
    async with unconnected_bot(tmp_path) as bot:
        assert set(bot.extensions) == set(EXTENSIONS)
        # load_extension executes a fresh copy of each module: compare the loaded classes by name.
        updates = bot.get_cog("ChannelUpdatesCog")
        colony = bot.get_cog("ColonyCog")
        assert type(updates).__qualname__ == ChannelUpdatesCog.__qualname__
        assert type(colony).__qualname__ == ColonyCog.__qualname__
        assert colony.replies.channels is updates.updates  # type: ignore[union-attr]
        assert isinstance(bot.tree, ColonyTree)


async def test_the_command_tree_serialises_within_discords_rules(tmp_path: Path) -> None:
    async with unconnected_bot(tmp_path) as bot:
        payload = [command.to_dict(bot.tree) for command in bot.tree.get_commands()]
    assert [c["name"] for c in payload] == ["colony", "haul"]  # /haul: tests/haul/test_commands.py
    colony = payload[0]
    assert colony["contexts"] == [0]  # guild only
    subcommands = {o["name"]: o for o in colony["options"]}
    assert set(subcommands) == {
        "status",
        "site",
        "needs",
        "contributors",
        "carrier",
        "help",
        "link",
        "unlink",
        "follow",
        "unfollow",
    }
    problems: list[str] = []
    if not 1 <= len(colony["description"]) <= 100:
        problems.append("colony: description")
    check_options("colony", colony["options"], problems)
    assert problems == []
    # Every parameter is described (not the library's "…" placeholder).
    for sub in subcommands.values():
        for option in sub.get("options", []):
            assert option["description"] != "\u2026", f"{sub['name']} {option['name']}"
    assert subcommands["site"]["options"][0]["autocomplete"] is True
    assert [c["value"] for c in subcommands["contributors"]["options"][1]["choices"]] == [
        "24h",
        "7d",
        "30d",
        "all",
    ]
    follow = {o["name"]: o for o in subcommands["follow"]["options"]}
    assert follow["target"]["required"] is True
    assert follow["channel"]["channel_types"] == [0, 5]  # text and announcement channels
