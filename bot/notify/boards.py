"""The haul board as the second live message of every followed site, edited in place.

The follows are the channel updates' own (`ChannelUpdates.follows`): a channel that follows a site
or its system gets the progress message from `bot.notify.channels` and, beside it, this board. Like
the progress message it is posted once, then edited (at most once per `edit_interval`, never when the
rendering did not change, posted anew when deleted), and its id survives restarts (`BoardStore`).
The board moves with claims, cargo and carriers as well as deliveries, so a pass runs every
`interval` seconds and whenever the change feed reports a site; the same pass closes claims that
must close and posts a note in the followed channels when one expires. What goes to Discord goes
out from one task per channel (`ChannelTasks`), so a channel waiting out a rate limit holds up no
other channel's boards. Discord failures are handled here and never escape.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import discord
from pydantic import TypeAdapter, ValidationError

from bot.notify.channels import (
    ChannelError,
    ChannelGoneError,
    ChannelPort,
    ChannelTasks,
    ChannelUpdates,
    MessageGoneError,
    NoPermissionError,
    RateLimitedError,
    UnreachableError,
    end_passes,
    post_lines,
)
from bot.notify.feed import ChangeFeed, Subscription
from bot.render import haul as render
from bot.services.bundle import Services
from bot.services.hauling import HaulService
from bot.store.db import Database
from bot.store.events import SettingsStore

logger = logging.getLogger(__name__)

_MESSAGES = TypeAdapter(dict[str, int])
LOOK_BACK = timedelta(minutes=10)


class BoardStore(Protocol):
    async def load_all(self) -> dict[int, dict[str, int]]: ...

    async def save(self, guild_id: int, messages: dict[str, int]) -> None: ...


class MemoryBoardStore:
    def __init__(self) -> None:
        self.saved: dict[int, dict[str, int]] = {}

    async def load_all(self) -> dict[int, dict[str, int]]:
        return {g: dict(m) for g, m in self.saved.items()}

    async def save(self, guild_id: int, messages: dict[str, int]) -> None:
        self.saved[guild_id] = dict(messages)


class SettingsBoardStore:
    """The board messages' ids as the per-guild setting `haul_boards`: {"channel:market": id}."""

    SETTING = "haul_boards"

    def __init__(self, db: Database, settings: SettingsStore | None = None) -> None:
        self.db = db
        self.settings = settings or SettingsStore()

    async def load_all(self) -> dict[int, dict[str, int]]:
        async with self.db.lock:
            raw = await self.settings.named(self.db.conn, self.SETTING)
        loaded = {}
        for guild_id, text in raw.items():
            try:
                loaded[guild_id] = _MESSAGES.validate_json(text)
            except ValidationError as exc:
                logger.error("guild %d: unreadable haul board ids, boards are posted anew: %s", guild_id, exc)
        return loaded

    async def save(self, guild_id: int, messages: dict[str, int]) -> None:
        async with self.db.transaction() as conn:
            await self.settings.set(conn, guild_id, self.SETTING, json.dumps(messages, sort_keys=True))


@dataclass(slots=True)
class _Live:
    message_id: int | None = None
    sent_hash: str | None = None
    sent_at: float | None = None


@dataclass(frozen=True, slots=True)
class _Board:
    """A board rendered by a pass, for its channel's task to post or edit."""

    guild_id: int
    market_id: int
    embed: discord.Embed


def _fingerprint(embed: discord.Embed) -> str:
    return hashlib.sha256(json.dumps(embed.to_dict(), sort_keys=True, default=str).encode()).hexdigest()


class BoardUpdates:
    def __init__(
        self,
        port: ChannelPort,
        store: BoardStore,
        hauling: HaulService,
        channels: ChannelUpdates,
        feed: ChangeFeed | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        edit_interval: float = 10.0,
        interval: float = 15.0,
        error_pause: float = 30.0,
        no_permission_pause: float = 300.0,
        unreachable_pause: float = 5.0,
        close_wait: float = 10.0,
        only_guild: int | None = None,
    ) -> None:
        self.port = port
        self.store = store
        self.hauling = hauling
        # The console answers for one guild: the other guilds' boards are not its to print.
        self.only_guild = only_guild
        self.channels = channels
        self.feed = feed
        self.clock = clock
        self.now = now
        self.edit_interval = edit_interval
        self.interval = interval
        self.error_pause = error_pause
        self.no_permission_pause = no_permission_pause
        self.unreachable_pause = unreachable_pause
        self.close_wait = close_wait
        self._messages: dict[int, dict[str, int]] = {}
        self._live: dict[tuple[int, int, int], _Live] = {}  # (guild, channel, market)
        self._paused: dict[int, float] = {}
        self._notes: dict[int, list[str]] = {}
        self._started: datetime | None = None
        self._unsaved: set[int] = set()
        self._saving = asyncio.Lock()
        self._workers = ChannelTasks("colony-haul-boards")
        self._stop = asyncio.Event()
        self._since: dict[int, datetime] = {}
        # Per guild: expired claim id -> when it closed. Pruned with that guild's own `_since`: one
        # shared map pruned by each guild's pass forgot another guild's notes and told them twice.
        self._told: dict[int, dict[int, datetime]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None

    async def load(self) -> None:
        # Claims that expired before this start are not announced (they were, or are old news).
        self._started = self.hauling.clock()
        self._messages = await self.store.load_all()
        for guild_id, messages in self._messages.items():
            for key, message_id in messages.items():
                channel_id, market_id = (int(p) for p in key.split(":"))
                self._live[(guild_id, channel_id, market_id)] = _Live(message_id)
        self.port.in_use(m for messages in self._messages.values() for m in messages.values())

    def message_id(self, guild_id: int, channel_id: int, market_id: int) -> int | None:
        live = self._live.get((guild_id, channel_id, market_id))
        return live.message_id if live else None

    # -- one pass ----------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Closes what must close, posts expiry notes, posts or edits the boards that are due, each
        channel in its own task, and waits for those tasks. A channel whose task from an earlier
        pass still runs is left to it."""
        started = await self._pass()
        if started:
            await asyncio.gather(*started)
        await self._save()

    async def _pass(self) -> list[asyncio.Task[None]]:
        """The database's side of a pass, guild by guild; then a task for every usable channel
        with something to send and no task running yet."""
        boards: dict[int, list[_Board]] = {}
        for guild_id in sorted(self.hauling.state.guilds):
            if not self.channels.follows(guild_id) or self.only_guild not in (None, guild_id):
                continue
            try:
                for channel_id, board in await self._guild(guild_id):
                    boards.setdefault(channel_id, []).append(board)
            except Exception:  # one guild's failure must not stop the others' boards
                logger.exception("haul boards of guild %d failed", guild_id)
        for channel_id, notes in self._notes.items():
            if notes:
                boards.setdefault(channel_id, [])
        return [
            self._workers.start(channel_id, self._channel(channel_id, due))
            for channel_id, due in boards.items()
            if not self._workers.busy(channel_id) and self._usable(channel_id)
        ]

    async def _guild(self, guild_id: int) -> list[tuple[int, _Board]]:
        """Tells expired claims and renders the boards of the guild's followed sites: (channel, board)."""
        state = self.hauling.state.get(guild_id)
        sites = {s.market_id: s for s in state.site_views()}
        targets: dict[int, set[int]] = {}
        for follow in self.channels.follows(guild_id):
            for site in sites.values():
                if follow.matches(site):
                    targets.setdefault(site.market_id, set()).add(follow.channel_id)
        # Whoever closed them (a pass, a command, the API), expired claims are told once each.
        since = self._since.setdefault(guild_id, self._started or self.hauling.clock())
        told = self._told.setdefault(guild_id, {})
        for claim in await self.hauling.closed_since(guild_id, since):
            before_start = self._started is not None and (claim.closed_at or since) <= self._started
            if claim.status == "expired" and claim.id not in told and not before_start:
                told[claim.id] = claim.closed_at or since
                for channel_id in sorted(targets.get(claim.market_id, ())):
                    self._notes.setdefault(channel_id, []).append(render.expiry_note(claim))
        # Look back a while (a command may have closed one just before this pass), forget older ones.
        self._since[guild_id] = max(since, self.hauling.clock() - LOOK_BACK)
        self._told[guild_id] = {i: t for i, t in told.items() if t >= self._since[guild_id]}
        if not targets:
            return []
        # A followed site that is finished keeps its board (nothing left) in the channel.
        rendered = {b.market_id: b for b in await self.hauling.boards(guild_id, sorted(targets))}
        due = []
        for market_id, channel_ids in sorted(targets.items()):
            board = rendered.get(market_id)
            if board is None:
                continue
            embed = render.board_embed(board, now=self.now())
            due += [(channel_id, _Board(guild_id, market_id, embed)) for channel_id in sorted(channel_ids)]
        return due

    async def _channel(self, channel_id: int, boards: list[_Board]) -> None:
        """One channel's share of a pass: its boards, then its notes. The only task talking to
        this channel, so no board in it is posted twice."""
        try:
            for board in boards:
                if not self._usable(channel_id):  # a failure paused it: the rest waits for the pause
                    break
                if await self._update(board.guild_id, channel_id, board.market_id, board.embed):
                    self._unsaved.add(board.guild_id)
            if self._notes.get(channel_id) and self._usable(channel_id):
                await self._post_notes(channel_id)
            await self._save()
        except Exception:  # a bug here must not end this channel's boards for good
            logger.exception("haul boards in channel %d failed", channel_id)
            self._paused[channel_id] = self.clock() + self.error_pause

    async def _save(self) -> None:
        """Stores the message ids of new boards; kept for the next pass when that fails."""
        async with self._saving:  # the channels' tasks finish together, each asking for a save
            for guild_id in sorted(self._unsaved):
                try:
                    await self.store.save(guild_id, self._messages.get(guild_id, {}))
                except Exception:
                    logger.exception("saving the haul board ids of guild %d failed", guild_id)
                else:
                    self._unsaved.discard(guild_id)

    def _usable(self, channel_id: int) -> bool:
        return self._paused.get(channel_id, 0.0) <= self.clock()

    async def _update(self, guild_id: int, channel_id: int, market_id: int, embed: discord.Embed) -> bool:
        """Posts or edits one board; True when its message id changed (to be saved)."""
        live = self._live.setdefault((guild_id, channel_id, market_id), _Live())
        digest = _fingerprint(embed)
        now = self.clock()
        if digest == live.sent_hash and live.message_id is not None:
            return False
        if live.sent_at is not None and now - live.sent_at < self.edit_interval:
            return False
        new_id = False
        try:
            if live.message_id is not None:
                try:
                    await self.port.edit(channel_id, live.message_id, content=None, embeds=[embed])
                except MessageGoneError:
                    logger.info(
                        "haul board %d in channel %d was deleted; posting it anew",
                        live.message_id,
                        channel_id,
                    )
                    live.message_id = None
            if live.message_id is None:
                live.message_id = await self.port.post(channel_id, content=None, embeds=[embed])
                self._messages.setdefault(guild_id, {})[f"{channel_id}:{market_id}"] = live.message_id
                new_id = True
        except ChannelError as exc:
            self._failed(channel_id, exc)
            return new_id
        except Exception:
            logger.exception("updating the haul board of site %d in channel %d failed", market_id, channel_id)
            self._paused[channel_id] = self.clock() + self.error_pause
            return new_id
        # Timed from Discord's answer: a wait inside the request does not shorten the next interval.
        live.sent_hash, live.sent_at = digest, self.clock()
        return new_id

    async def _post_notes(self, channel_id: int) -> None:
        # As the channel updates' lines: taken out first, and a backlog posted whole.
        waiting = self._notes.pop(channel_id)
        try:
            await post_lines(self.port, channel_id, waiting)
        except Exception as exc:
            self._notes[channel_id] = waiting + self._notes.get(channel_id, [])
            if isinstance(exc, ChannelError):
                self._failed(channel_id, exc)
            else:
                logger.exception("posting %d haul notes in channel %d failed", len(waiting), channel_id)
                self._paused[channel_id] = self.clock() + self.error_pause

    def _failed(self, channel_id: int, exc: ChannelError) -> None:
        now = self.clock()
        if isinstance(exc, UnreachableError):  # no channel's fault; the outage is logged elsewhere
            self._paused[channel_id] = now + self.unreachable_pause
            logger.debug("haul boards in channel %d: %s", channel_id, exc)
            return
        if isinstance(exc, RateLimitedError):
            self._paused[channel_id] = now + exc.retry_after
        elif isinstance(exc, ChannelGoneError):
            # The channel updates drop the follows of a deleted channel; boards just stop there.
            self._paused[channel_id] = float("inf")
        elif isinstance(exc, NoPermissionError):
            self._paused[channel_id] = now + self.no_permission_pause
        else:
            self._paused[channel_id] = now + self.error_pause
        logger.warning("haul boards in channel %d: %s", channel_id, exc)

    # -- the background task -----------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="colony-haul-boards")
        if self.feed is not None:
            self._subscription = self.feed.subscribe()
            self._consumer = asyncio.create_task(
                self._consume(self._subscription), name="colony-haul-boards-feed"
            )

    async def _consume(self, subscription: Subscription) -> None:
        async for _ in subscription:
            self._wake.set()

    async def _run(self) -> None:
        while not self._stop.is_set():
            # Cleared before the pass, not after it: a change stored while a pass runs (passes do
            # not wait for uploads) wakes the next pass instead of waiting for the interval.
            self._wake.clear()
            try:
                # Not waiting for the channels' tasks: one channel waiting on Discord must not
                # keep the next pass from the others.
                await self._pass()
                await self._save()
            except Exception:
                logger.exception("haul boards pass failed")
            if self._stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)

    async def close(self) -> None:
        """Stops the tasks, within `close_wait`, and saves the ids of the boards posted. Bounded as
        the channel updates' close: past the deploy's stop grace the process is killed, and a board
        posted but not saved is posted again after the restart."""
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        if self._consumer is not None:
            await self._consumer
            self._consumer = None
        # Not cancelled at once: a pass is let finish (no database transaction cut in the middle),
        # and a post Discord has taken is let be answered, so that its id is saved.
        cut = await end_passes(self._task, self._workers, self._stop, self._wake, self.close_wait)
        self._task = None
        if cut:  # Discord not answering: the stop must not hang on it
            logger.warning("haul boards: a post still unanswered after %g s is abandoned", self.close_wait)
        try:
            await asyncio.wait_for(self._save(), self.close_wait)
        except TimeoutError:
            logger.warning("haul boards: the board ids could not be saved within %g s", self.close_wait)


async def offline_boards(services: Services, channels: ChannelUpdates) -> BoardUpdates:
    """Offline mode: the boards of the followed sites printed beside their progress messages.
    Started; `close()` it before the channel updates and the database."""
    boards = BoardUpdates(
        channels.port, SettingsBoardStore(services.db), services.hauling, channels, services.feed
    )
    await boards.load()
    boards.start()
    return boards
