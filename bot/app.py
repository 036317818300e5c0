"""The one asyncio program: store, services, notifier and web server, started and stopped in order.

Offline (no Discord token) `run_offline` drives `ColonyCore` directly; with a token the discord.py
client (`bot.discord_client.ColonyBot`) starts the same core before logging in (uploads are taken
in while Discord is unreachable) and stops it in `close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from bot.http import create_app
from bot.http.keys import STREAMS
from bot.notify.notifier import ConsoleNotifier, Notifier, NotifierRunner
from bot.services.bundle import Services, build_services
from bot.settings import Settings
from bot.store.db import Checkpointer, Database, StoreError
from bot.store.lock import DatabaseInUseError, DatabaseLock

logger = logging.getLogger(__name__)


class StartupError(RuntimeError):
    """The bot cannot start; the message says what to fix."""


CONSOLE_POLL_SECONDS = 0.5
_CONSOLE = "(colony-bot console)"


async def _acquire_waiting_for_a_console(lock: DatabaseLock, stop: asyncio.Event) -> bool:
    """Take the database lock. A console holding it (alone, it may change follows) is waited for:
    an operator's console left open must not make the service fail and give up restarting. Any
    other holder (a second bot, a rebuild) is an error at once. False: `stop` was set while waiting
    (a SIGTERM must end a waiting bot, not wait for the console first)."""
    told = False
    while True:
        try:
            lock.acquire("colony-bot run")
            return True
        except DatabaseInUseError as exc:
            if not exc.holder.endswith(_CONSOLE):
                raise
            if not told:
                logger.warning("the database is held by %s: starting once it ends", exc.holder)
                told = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), CONSOLE_POLL_SECONDS)
        if stop.is_set():
            return False


class ColonyCore:
    def __init__(self, settings: Settings, notifiers: Sequence[Notifier] = (), mode: str = "offline") -> None:
        self.settings = settings
        self.notifiers = list(notifiers)
        self.mode = mode
        self._db: Database | None = None
        self._lock: DatabaseLock | None = None
        self._checkpointer: Checkpointer | None = None
        self._services: Services | None = None
        self._notifier: NotifierRunner | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("the core is not started")
        return self._services

    @property
    def port(self) -> int:
        """The port actually listened on (useful with COLONY_HTTP_PORT=0)."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("the web server is not started")
        address = self._runner.addresses[0]
        return int(address[1])

    async def start(self, stop: asyncio.Event | None = None) -> bool:
        """Open the store and serve the intake; False, with nothing started, when `stop` was set
        while waiting for a console to let the database go."""
        settings = self.settings
        lock = DatabaseLock(settings.db_path)
        try:
            if not await _acquire_waiting_for_a_console(lock, stop or asyncio.Event()):
                logger.info("stopped while waiting for the console")
                return False
            self._lock = lock
        except DatabaseInUseError as exc:
            raise StartupError(str(exc)) from exc
        except OSError as exc:
            if settings.db_path.parent.is_dir():
                raise StartupError(f"cannot create {lock.path}: {exc.strerror or exc}") from exc
            # No folder: opening the database below says so, naming the setting.
        db = Database(settings.db_path, synchronous=settings.db_synchronous)
        try:
            await db.open()
        except StoreError as exc:
            self._release_lock()
            raise StartupError(str(exc)) from exc
        self._db = db
        try:
            self._checkpointer = Checkpointer(settings.db_path)
            await self._checkpointer.start()
            self._services = await build_services(db)
            # The state just loaded lives as long as the process: keep it out of the garbage
            # collector's full scans, which would otherwise pause uploads for tens of milliseconds.
            gc.freeze()
            # An upload of 500 events allocates tens of thousands of short-lived objects; with the
            # default threshold (700) the collector ran every few events and took a third of the
            # validation time. Collections are rarer, not skipped (bench.intake).
            gc.set_threshold(50_000, 20, 10)
            self._notifier = NotifierRunner(self._services.feed, self.notifiers)
            self._notifier.start()
            app = create_app(self._services, settings, mode=self.mode)
            app.on_shutdown.append(_close_streams)
            self._runner = web.AppRunner(
                app, shutdown_timeout=settings.shutdown_timeout_seconds, access_log=None
            )
            await self._runner.setup()
            self._site = web.TCPSite(self._runner, settings.http_host, settings.http_port)
            try:
                await self._site.start()
            except OSError as exc:
                raise StartupError(
                    f"cannot listen on {settings.http_host}:{settings.http_port}: {exc.strerror or exc} "
                    "(set COLONY_HTTP_HOST / COLONY_HTTP_PORT)"
                ) from exc
        except BaseException:
            await self.stop()
            raise
        logger.info(
            "colony bot (%s) listening on http://%s:%d, database %s",
            self.mode,
            settings.http_host,
            self.port,
            settings.db_path,
        )
        return True

    async def stop(self, before_store_closes: Callable[[], Awaitable[None]] | None = None) -> None:
        """Web server first (no new batches; in-flight ones finish), then the intake writer, then the
        notifier drains, then `before_store_closes` (the Discord client unloads its extensions
        there, so their last channel-update pass can still save message ids), then the feed and
        the database close."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None
        if self._services is not None:
            await self._services.intake.close()
        if self._notifier is not None:
            await self._notifier.stop()
            self._notifier = None
        if before_store_closes is not None:
            try:
                await before_store_closes()
            except Exception:
                logger.exception("shutdown step before the store closes failed")
        if self._services is not None:
            self._services.feed.close()
        if self._checkpointer is not None:
            await self._checkpointer.stop()
            self._checkpointer = None
        if self._db is not None:
            await self._db.close()
            self._db = None
        self._release_lock()
        logger.info("colony bot stopped")

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


async def _close_streams(app: web.Application) -> None:
    # Live streams would otherwise hold the shutdown for its whole timeout. Only they end here:
    # aiohttp runs this before the uploads still in progress finish, and their changes must
    # still reach the notifier (the feed closes in `stop`, after the intake and the notifier).
    app[STREAMS].close()


async def run_offline(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM (or `stop` is set); Discord posts are printed instead."""
    core = ColonyCore(settings, notifiers=[ConsoleNotifier()], mode="offline")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not available on Windows, nor outside the main thread.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if not await core.start(stop):
        return
    # Channel updates of followed sites, printed as the Discord ones would be posted.
    from bot.notify.channels import offline_updates

    updates = await offline_updates(
        core.services.db, core.services.feed, capacity=core.services.queries.hold_capacity
    )
    from bot.notify.boards import offline_boards

    boards = await offline_boards(core.services, updates)
    print(
        f"colony-bot offline mode (no COLONY_DISCORD_TOKEN): intake at http://{settings.http_host}:{core.port}"
        "/api/v1/events; site updates are printed here. Ctrl-C stops.",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await boards.close()
        await updates.close()
        await core.stop()


# The SQLite thread needs the GIL back after every statement; with CPython's default 5 ms switch
# interval it waits behind the event loop's CPU work (validating the next upload) and the two
# threads take turns instead of overlapping. 1 ms doubled intake throughput (bench/intake.py).
GIL_SWITCH_INTERVAL = 0.001


async def run(settings: Settings) -> None:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    if settings.discord_token is None:
        await run_offline(settings)
        return
    import discord

    from bot.discord_client import (  # discord.py stays out of offline mode
        ColonyBot,
        connect_with_retry,
        login_with_retry,
    )

    # SIGINT cancels this task (asyncio.run's KeyboardInterrupt path); SIGTERM (plain `kill`,
    # supervisors, Kubernetes) must too, or the process dies without the ordered stop.
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    terminated = False

    def terminate() -> None:
        nonlocal terminated
        terminated = True
        main.cancel()

    try:
        loop.add_signal_handler(signal.SIGTERM, terminate)
        handling = True
    except (NotImplementedError, RuntimeError):  # Windows; not the main thread
        handling = False
    try:
        core = ColonyCore(settings, mode="discord")
        async with ColonyBot(settings, core) as client:  # leaving it stops the core, then Discord
            # The intake first: uploads are stored while Discord cannot be reached, and the
            # channel updates catch up once the login is through.
            await client.start_core()
            try:
                await login_with_retry(client, settings.discord_token.get_secret_value())
            except discord.LoginFailure as exc:  # reset or revoked in the developer portal
                raise StartupError(
                    f"Discord refused the bot token ({exc}); set COLONY_DISCORD_TOKEN to the bot's "
                    "current token (Developer Portal, Bot, Reset Token)"
                ) from exc
            await connect_with_retry(client)  # discord.py reconnects by itself once connected
    except asyncio.CancelledError:
        if not terminated:
            raise
        main.uncancel()  # SIGTERM: stopped in order by leaving the client; a normal end (exit 0)
    finally:
        if handling:
            loop.remove_signal_handler(signal.SIGTERM)
