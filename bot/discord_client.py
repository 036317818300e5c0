"""The discord.py client: the only module of the core that imports discord.

`start_core` starts the core (store, services, web server) and loads the Discord extensions before
the login, so uploads are taken in while Discord cannot be reached; `login_with_retry` logs in,
waiting out network failures and Discord's own outages; `close()` stops the core first (no new
uploads; the notifier drains while the client can still post), then the Discord connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator

import aiohttp
import discord
from discord.ext import commands

from bot.app import ColonyCore
from bot.discord import EXTENSIONS as DISCORD_EXTENSIONS
from bot.discord.tree import ColonyTree
from bot.settings import Settings

logger = logging.getLogger(__name__)

# The Discord layer's extensions (bot/discord/), each with `async def setup(bot)`; loaded in order.
EXTENSIONS: tuple[str, ...] = DISCORD_EXTENSIONS


# The longest rate-limit wait discord.py may sit out inside a request (its own minimum).
MAX_RATELIMIT_WAIT = 30.0


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
            # Longer rate-limit waits are raised (discord.RateLimited) instead of slept out inside
            # the request, 5 tries over: the channel updates then pause that one channel.
            max_ratelimit_timeout=MAX_RATELIMIT_WAIT,
        )
        self.settings = settings
        self.core = core
        self.initial_extensions = extensions

    async def start_core(self) -> None:
        """The core, then the extensions: the channel updates follow the change feed from the
        first upload on, and post once the login is through."""
        await self.core.start()
        await self.setup_hook()

    async def setup_hook(self) -> None:
        # discord.py calls this after each successful login; `start_core` has usually loaded them.
        for extension in self.initial_extensions:
            if extension not in self.extensions:
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


# A login that fails for these is tried again: Discord or the network is down, not the token.
# (`discord.LoginFailure`, a refused token, is not among them: retrying cannot fix it.)
TRANSIENT_LOGIN_ERRORS = (OSError, aiohttp.ClientError, asyncio.TimeoutError, discord.DiscordServerError)
FIRST_LOGIN_RETRY = 2.0
MAX_LOGIN_RETRY = 120.0


async def login_with_retry(
    client: discord.Client,
    token: str,
    *,
    first_delay: float | None = None,
    max_delay: float | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> int:
    """Log in, trying again after a network failure or a Discord server error, the wait doubling
    from `first_delay` (default FIRST_LOGIN_RETRY) up to `max_delay` (MAX_LOGIN_RETRY), for as
    long as it takes: the core serves uploads meanwhile, which a process manager restarting us
    would interrupt. Returns the attempts made. `discord.LoginFailure` (a refused token) and any
    other error are raised at once."""
    for attempt, delay in enumerate(_waits(first_delay, max_delay), start=1):
        try:
            await client.login(token)
            if attempt > 1:
                logger.info("logged in to Discord (attempt %d)", attempt)
            return attempt
        except TRANSIENT_LOGIN_ERRORS as exc:
            reason = str(exc) or type(exc).__name__
            logger.warning(
                "cannot log in to Discord (attempt %d: %s); uploads are still taken in; "
                "trying again in %g s",
                attempt,
                reason,
                delay,
            )
        # Each login opens a new HTTP session on the client's connector: close the failed one,
        # and let the next login make a fresh connector (closing the session closed this one).
        # A login that failed after its first request has set the user: forgotten, so nothing is
        # posted through the closed session meanwhile. (Not `client.clear()`: it would also drop
        # the views and dynamic items the extensions registered before the login.)
        await client.http.close()
        client.http.connector = discord.utils.MISSING
        client._connection.user = None
        await sleep(delay)
    raise AssertionError("unreachable: _waits never ends")


async def connect_with_retry(
    client: discord.Client,
    *,
    first_delay: float | None = None,
    max_delay: float | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> int:
    """`client.connect(reconnect=True)` until the client is closed; returns the attempts made.

    Once a gateway connection was made, discord.py reconnects by itself. The first one failing
    (the network gone between the login and the gateway) ends `connect` instead, in discord.py 2.x
    with an AttributeError as it reads the session of a connection it never had; that case is
    tried again here, like the login. Anything else, or once connected, is raised."""
    for attempt, delay in enumerate(_waits(first_delay, max_delay), start=1):
        try:
            await client.connect(reconnect=True)
            return attempt
        except (AttributeError, discord.GatewayNotFound, *TRANSIENT_LOGIN_ERRORS) as exc:
            # (`ws` is typed as always set; it is None until a first gateway connection.)
            if getattr(client, "ws", None) is not None or client.is_closed():
                raise
            cause = exc.__context__ if isinstance(exc, AttributeError) and exc.__context__ else exc
            logger.warning(
                "cannot connect to Discord's gateway (attempt %d: %s); trying again in %g s",
                attempt,
                str(cause) or type(cause).__name__,
                delay,
            )
        await sleep(delay)
    raise AssertionError("unreachable: _waits never ends")


def _waits(first_delay: float | None, max_delay: float | None) -> Iterator[float]:
    """The waits between attempts: doubling from `first_delay` up to `max_delay`, without end
    (the module's defaults are read at the call, so tests can shorten them)."""
    delay = FIRST_LOGIN_RETRY if first_delay is None else first_delay
    cap = MAX_LOGIN_RETRY if max_delay is None else max_delay
    while True:
        yield delay
        delay = min(delay * 2, cap)
