"""`colony-bot`: argparse subcommands, each a handler `(args, settings) -> exit code`.

Other parts of the bot add their own subcommands (`demo`, `console`, `sync`...): list the module in
`COMMAND_MODULES`; it defines `add_commands(subparsers)` and sets `handler=` on each parser it adds.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bot.logs import setup_logging
from bot.settings import Settings

logger = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace, Settings], int]
if TYPE_CHECKING:
    # argparse has no public name for the object `add_subparsers()` returns.
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

# Modules that add subcommands with `add_commands(subparsers)`; absent ones are skipped.
COMMAND_MODULES: tuple[str, ...] = ("bot.demo.cli", "bot.discord.cli")

EXIT_OK = 0
EXIT_FAILED = 1


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.app import StartupError, run

    try:
        asyncio.run(run(settings))
    except StartupError as exc:
        print(f"colony-bot: cannot start: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        pass
    return EXIT_OK


async def _with_services(settings: Settings, work: Callable[..., object]) -> int:
    from bot.services.tokens import TokenError, TokenService
    from bot.store.db import Database, StoreError
    from bot.store.tokens import TokenStore

    db = Database(settings.db_path, synchronous=settings.db_synchronous)
    try:
        await db.open()
    except StoreError as exc:
        print(f"colony-bot: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        result = work(db, TokenService(TokenStore(db)))
        assert asyncio.iscoroutine(result)
        return int(await result)
    except TokenError as exc:
        print(f"colony-bot: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        await db.close()


def _token_issue(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services.tokens import TokenService
    from bot.store.db import Database

    async def work(_db: Database, tokens: TokenService) -> int:
        token, record = await tokens.issue(args.guild, args.user, args.label)
        print(
            f"Token {record.prefix}… for user {record.user_id} in guild {record.guild_id}"
            f"{f' ({record.label})' if record.label else ''}. It is shown only this once:",
            file=sys.stderr,
        )
        print(token, flush=True)
        return EXIT_OK

    return asyncio.run(_with_services(settings, work))


def _token_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services.tokens import TokenService
    from bot.store.db import Database

    async def work(_db: Database, tokens: TokenService) -> int:
        records = await tokens.list(args.guild)
        if not records:
            print(f"no tokens for guild {args.guild}")
        for r in records:
            state = f"revoked {r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "active"
            created = f"{r.created_at:%Y-%m-%d %H:%M}"
            print(f"{r.prefix}  user {r.user_id}  created {created}  {state}  {r.label or ''}")
        return EXIT_OK

    return asyncio.run(_with_services(settings, work))


def _token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services.tokens import TokenService
    from bot.store.db import Database

    async def work(_db: Database, tokens: TokenService) -> int:
        record = await tokens.revoke(args.prefix)
        print(f"revoked {record.prefix} (user {record.user_id}, guild {record.guild_id})")
        return EXIT_OK

    return asyncio.run(_with_services(settings, work))


def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from bot.services.rebuild import RebuildError, rebuild
    from bot.services.tokens import TokenService
    from bot.store.db import Database
    from bot.store.lock import DatabaseInUseError, DatabaseLock

    async def work(db: Database, _tokens: TokenService) -> int:
        try:
            result = await rebuild(db)
        except RebuildError as exc:
            print(f"colony-bot: cannot rebuild: {exc}", file=sys.stderr)
            return EXIT_FAILED
        print(f"rebuilt the projections of {result.guilds} guilds from {result.events} events")
        return EXIT_OK

    # The running bot keeps the colony state in memory and writes the same projections.
    lock = DatabaseLock(settings.db_path)
    try:
        lock.acquire("colony-bot rebuild")
    except (DatabaseInUseError, OSError) as exc:
        reason = exc if isinstance(exc, DatabaseInUseError) else f"{lock.path}: {exc.strerror or exc}"
        print(f"colony-bot: cannot rebuild: {reason}", file=sys.stderr)
        return EXIT_FAILED
    try:
        return asyncio.run(_with_services(settings, work))
    finally:
        lock.release()


def add_core_commands(sub: Subparsers) -> None:
    run = sub.add_parser("run", help="serve the intake (and Discord when COLONY_DISCORD_TOKEN is set)")
    run.set_defaults(handler=_run)

    token = sub.add_parser("token", help="manage uploader tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="{issue,list,revoke}")
    issue = token_sub.add_parser("issue", help="print a new token (last line of stdout)")
    issue.add_argument("--guild", type=int, required=True, help="Discord guild (server) id")
    issue.add_argument("--user", type=int, required=True, help="Discord user id of the commander")
    issue.add_argument("--label", help="a note, e.g. the commander's name")
    issue.set_defaults(handler=_token_issue)
    listing = token_sub.add_parser("list", help="a guild's tokens (prefixes only)")
    listing.add_argument("--guild", type=int, required=True)
    listing.set_defaults(handler=_token_list)
    revoke = token_sub.add_parser("revoke", help="revoke the token starting with PREFIX")
    revoke.add_argument("prefix", metavar="TOKEN_PREFIX")
    revoke.set_defaults(handler=_token_revoke)

    rebuild = sub.add_parser("rebuild", help="recompute every projection from the events (bot stopped)")
    rebuild.set_defaults(handler=_rebuild)


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="colony-bot", description="ED Colony: the squadron's colonisation bot and journal intake."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_core_commands(sub)
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue  # that part of the bot is not there (yet)
            raise
        module.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # A bad setting or an unwritable log file: one line, as every other failure (README: exit 1).
    try:
        settings = settings or Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"colony-bot: bad setting {problems}", file=sys.stderr)
        return EXIT_FAILED
    try:
        setup_logging(settings)
    except OSError as exc:
        reason = exc.strerror or exc
        print(f"colony-bot: cannot open the log file {settings.log_file}: {reason}", file=sys.stderr)
        return EXIT_FAILED
    handler: Handler = args.handler
    return handler(args, settings)
