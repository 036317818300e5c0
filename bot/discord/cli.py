"""`colony-bot commands`, `colony-bot sync [--guild ID]` and `colony-bot console`."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.settings import Settings
from bot.store.lock import DatabaseInUseError, DatabaseLock

if TYPE_CHECKING:
    from bot.cli import Subparsers
    from bot.discord_client import ColonyBot

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


@asynccontextmanager
async def offline_bot(settings: Settings) -> AsyncIterator[ColonyBot]:
    """A ColonyBot with every extension loaded, never connected, over a throwaway database: what
    the command tree looks like needs no data and must not touch the real bot's files or port."""
    from bot.app import ColonyCore
    from bot.discord_client import EXTENSIONS, ColonyBot

    with tempfile.TemporaryDirectory(prefix="colony-tree-") as folder:
        scratch = settings.model_copy(
            update={"db_path": Path(folder) / "tree.db", "http_host": "127.0.0.1", "http_port": 0}
        )
        core = ColonyCore(scratch, mode="discord")
        bot = ColonyBot(scratch, core)
        await core.start()
        try:
            for extension in EXTENSIONS:
                await bot.load_extension(extension)
            yield bot
        finally:
            for extension in list(bot.extensions):
                await bot.unload_extension(extension)
            await bot.close()


async def command_payload(settings: Settings) -> list[dict[str, Any]]:
    async with offline_bot(settings) as bot:
        return [command.to_dict(bot.tree) for command in bot.tree.get_commands()]


def _commands(args: argparse.Namespace, settings: Settings) -> int:
    print(json.dumps(asyncio.run(command_payload(settings)), indent=2, ensure_ascii=False))
    return EXIT_OK


async def _push(settings: Settings, token: str, guild_id: int | None) -> int:
    import discord

    async with offline_bot(settings) as bot:
        try:
            await bot.login(token)
        except discord.LoginFailure:
            print(
                "colony-bot sync: Discord refused COLONY_DISCORD_TOKEN; copy the bot token again "
                "from the Developer Portal",
                file=sys.stderr,
            )
            return EXIT_FAILED
        guild = discord.Object(id=guild_id) if guild_id is not None else None
        if guild is not None:
            bot.tree.copy_global_to(guild=guild)
        try:
            synced = await bot.tree.sync(guild=guild)
        except discord.HTTPException as exc:
            print(
                f"colony-bot sync: Discord refused the commands ({exc.status}): {exc.text}", file=sys.stderr
            )
            return EXIT_FAILED
    where = f"guild {guild_id} (at once)" if guild_id is not None else "every guild (may take up to an hour)"
    print(f"synced {len(synced)} command(s) to {where}: {', '.join('/' + c.name for c in synced)}")
    return EXIT_OK


def _sync(args: argparse.Namespace, settings: Settings) -> int:
    if settings.discord_token is None:
        print(
            "colony-bot sync: COLONY_DISCORD_TOKEN is not set; sync pushes the /colony commands to Discord "
            "and needs the bot's token (see `colony-bot commands` for what would be sent)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return asyncio.run(_push(settings, settings.discord_token.get_secret_value(), args.guild))


async def _console(args: argparse.Namespace, settings: Settings) -> int:
    from bot.console import Caller, execute
    from bot.discord.haul_replies import HaulReplies
    from bot.discord.replies import ColonyReplies
    from bot.notify.boards import BoardUpdates, SettingsBoardStore
    from bot.notify.channels import ChannelUpdates, ConsoleChannelPort, SettingsFollowStore
    from bot.services.bundle import build_services
    from bot.store.db import Database, StoreError

    if not settings.db_path.exists():
        print(
            f"colony-bot console: no database at {settings.db_path}; set COLONY_DB_PATH to the bot's "
            "database (or run `colony-bot demo --keep DIR` and point it at DIR/colony.db)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    # Beside a running bot (`docker compose exec bot colony-bot console`), a follow saved here
    # would be overwritten by the bot's own copy of the follows, and this console's posts would
    # write over its message ids: then the console only reads. Else it holds the lock, so a bot
    # started meanwhile waits for it to end rather than overwrite what it saves.
    lock = DatabaseLock(settings.db_path)
    try:
        lock.acquire("colony-bot console")
        beside: str | None = None
    except DatabaseInUseError as exc:
        beside = str(exc).removesuffix("; stop it first")
    except OSError:
        beside = None  # the lock file cannot be made: nothing else can hold it either
    db = Database(settings.db_path, synchronous=settings.db_synchronous)
    try:
        await db.open()
    except StoreError as exc:
        lock.release()
        print(f"colony-bot console: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        services = await build_services(db)
        guild_id = args.guild
        if guild_id is None:
            guilds = sorted(g for g, state in services.state.guilds.items() if state.sites)
            if len(guilds) > 1:
                print(
                    f"colony-bot console: {len(guilds)} guilds have data ({', '.join(map(str, guilds))}); "
                    "choose one with --guild",
                    file=sys.stderr,
                )
                return EXIT_USAGE
            guild_id = guilds[0] if guilds else 1
        updates = ChannelUpdates(
            ConsoleChannelPort(), SettingsFollowStore(db), capacity=services.queries.hold_capacity
        )
        await updates.load()
        replies = ColonyReplies(
            services.queries,
            services.tokens,
            updates,
            public_url=settings.public_url,
            uploader_source=settings.install_source,
        )
        haul = HaulReplies(services.hauling, services.queries)
        boards = BoardUpdates(
            updates.port, SettingsBoardStore(db), services.hauling, updates, only_guild=guild_id
        )
        await boards.load()
        caller = Caller(guild_id=guild_id, user_id=args.user, channel_id=args.channel)
        lines: list[str] | None = list(args.command) if args.command else None
        interactive = lines is None and sys.stdin.isatty()
        if interactive:
            print(
                f"colony-bot console on {settings.db_path}, guild {guild_id}. "
                "Type /colony help; an empty line or Ctrl-D ends."
            )
        while True:
            if lines is not None:
                if not lines:
                    break
                line = lines.pop(0)
            else:
                try:
                    line = await asyncio.to_thread(input, "colony> " if interactive else "")
                except EOFError:
                    break
                if not line.strip():
                    if interactive:
                        break
                    continue
            print(f"> {line}" if not interactive else "", flush=True)
            if beside is not None and _FOLLOWING.match(line):
                print(f"(only you can see this)\nCannot change follows here: {beside}, which keeps its own "
                      "copy of them and would overwrite this one. Use /colony follow in Discord, or "
                      "stop the bot and follow here.", flush=True)
                continue
            print(await execute(replies, line, caller, haul=haul), flush=True)
            if beside is None:
                await updates.flush()  # a /colony follow posts its live messages right away
                await boards.flush()  # and its haul boards
        if beside is None:
            await updates.close()
    finally:
        await db.close()
        lock.release()
    return EXIT_OK


_FOLLOWING = re.compile(r"^\s*/?colony\s+(follow|unfollow)\b", re.IGNORECASE)


def _console_sync(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_console(args, settings))


def add_commands(sub: Subparsers) -> None:
    commands = sub.add_parser("commands", help="print the command tree as the JSON Discord receives")
    commands.set_defaults(handler=_commands)

    sync = sub.add_parser("sync", help="push the slash commands to Discord (never done at start)")
    sync.add_argument("--guild", type=int, help="only this guild (instant); default: global")
    sync.set_defaults(handler=_sync)

    console = sub.add_parser("console", help="type /colony and /haul commands and read the replies as text")
    console.add_argument("--guild", type=int, help="the guild to answer for (default: the one with data)")
    console.add_argument("--user", type=int, default=1, help="the Discord user id you act as (for link)")
    console.add_argument("--channel", type=int, default=1, help="the channel id follow/unfollow act on")
    console.add_argument(
        "-c",
        "--command",
        action="append",
        metavar="LINE",
        help="run LINE instead of reading stdin (repeatable)",
    )
    console.set_defaults(handler=_console_sync)
