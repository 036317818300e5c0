"""Automatic channel updates for followed sites and systems.

Per followed site and channel: one live progress message, posted once and then edited in place
(at most one edit per message per `edit_interval`, none when the rendering did not change, posted
anew when someone deleted it). Per delivery: a feed line, one per commander's burst at one site.
Per site: announcements at 25/50/75/100 %, on completion and on failure.

`sites_changed` (the core's `Notifier` protocol) only records what changed, in memory: it never
waits for Discord, so the intake never does either. `flush` does the talking, through a
`ChannelPort`, in one task per channel: Discord makes a busy channel wait (its rate limits are per
channel), and that wait must not hold up every other guild's updates. Every Discord failure (429,
missing permissions, a deleted channel or message) is handled and logged there and never escapes.
Message ids, follows and the announcements already made are kept in a `FollowStore`, so a
restarted bot keeps editing the same messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TextIO

import discord
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.notify.feed import ChangeFeed, SiteChange, Subscription
from bot.render import embeds as render
from bot.render import figures, limits
from bot.render.embeds import DEFAULT_CAPACITY
from bot.render.plain import message_text
from bot.render.text import percent, plural, safe, tonnes
from bot.store.db import Database
from bot.store.events import SettingsStore
from bot.views import SiteView

logger = logging.getLogger(__name__)

THRESHOLDS = (25, 50, 75, 100)


# --- the port to Discord ------------------------------------------------------------------------


class ChannelError(Exception):
    """A channel operation that did not happen."""


class MessageGoneError(ChannelError):
    """The message to edit no longer exists (someone deleted it)."""


class ChannelGoneError(ChannelError):
    """The channel no longer exists."""


class NoPermissionError(ChannelError):
    """The bot may not see or post in the channel (an admin can fix it)."""


class UnreachableError(ChannelError):
    """Discord cannot be reached at all (not logged in yet, or the network is down). No channel is
    at fault: the operation is retried soon, and the outage is logged once by whoever owns the
    connection (the login's retries, discord.py's reconnects), not once per channel."""


class RateLimitedError(ChannelError):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited, retry after {retry_after:.1f} s")
        self.retry_after = retry_after


class ChannelPort(Protocol):
    """Posting and editing messages: Discord in production, the console offline, fakes in tests.
    Failures are raised as the `ChannelError` subclasses above."""

    async def post(self, channel_id: int, *, content: str | None, embeds: Sequence[discord.Embed]) -> int:
        """Posts a message and returns its id."""
        ...

    async def edit(
        self, channel_id: int, message_id: int, *, content: str | None, embeds: Sequence[discord.Embed]
    ) -> None: ...

    def in_use(self, message_ids: Iterable[int]) -> None:
        """Ids an earlier run posted and saved: a port that numbers its own messages goes above them."""
        ...


class ConsoleChannelPort:
    """Offline mode: what would be posted or edited, printed as text."""

    def __init__(self, stream: TextIO | None = None, *, now: Callable[[], datetime] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self._now = now or (lambda: datetime.now(UTC))
        self._next_id = 0

    def in_use(self, message_ids: Iterable[int]) -> None:
        # A new process numbers from 1 again: a new message must not take a saved one's number.
        self._next_id = max([self._next_id, *message_ids])

    async def post(self, channel_id: int, *, content: str | None, embeds: Sequence[discord.Embed]) -> int:
        self._next_id += 1
        self._print(f"[channel {channel_id}] new message {self._next_id}", content, embeds)
        return self._next_id

    async def edit(
        self, channel_id: int, message_id: int, *, content: str | None, embeds: Sequence[discord.Embed]
    ) -> None:
        self._print(f"[channel {channel_id}] message {message_id} edited", content, embeds)

    def _print(self, head: str, content: str | None, embeds: Sequence[discord.Embed]) -> None:
        body = message_text(content, embeds, now=self._now())
        indented = "\n".join(f"  {line}" for line in body.splitlines())
        print(f"{head}\n{indented}", file=self.stream, flush=True)


# --- what is followed, and what was said: persisted per guild -------------------------------------


class FollowTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channel_id: int
    market_id: int | None = None
    system: str | None = None

    def matches(self, site: SiteView) -> bool:
        if self.market_id is not None:
            return site.market_id == self.market_id
        return (
            self.system is not None
            and site.system_name is not None
            and site.system_name.casefold() == self.system.casefold()
        )


class GuildFollows(BaseModel):
    """One guild's channel updates: the follows, the live messages' ids and the announcements made."""

    model_config = ConfigDict(extra="forbid")

    follows: list[FollowTarget] = Field(default_factory=list)
    messages: dict[str, int] = Field(default_factory=dict, description='"channel:market" -> message id')
    marks: dict[str, list[str]] = Field(default_factory=dict, description='"channel:market" -> announced')


class FollowStore(Protocol):
    async def load_all(self) -> dict[int, GuildFollows]: ...

    async def save(self, guild_id: int, follows: GuildFollows) -> None: ...


class MemoryFollowStore:
    """Keeps the state in memory (tests; the demo): survives a new `ChannelUpdates`, not a new process."""

    def __init__(self) -> None:
        self.saved: dict[int, str] = {}

    async def load_all(self) -> dict[int, GuildFollows]:
        return {g: GuildFollows.model_validate_json(v) for g, v in self.saved.items()}

    async def save(self, guild_id: int, follows: GuildFollows) -> None:
        self.saved[guild_id] = follows.model_dump_json()


class SettingsFollowStore:
    """In the bot's database, as the per-guild setting `channel_updates` (one JSON document)."""

    SETTING = "channel_updates"

    def __init__(self, db: Database, settings: SettingsStore | None = None) -> None:
        self.db = db
        self.settings = settings or SettingsStore()

    async def load_all(self) -> dict[int, GuildFollows]:
        async with self.db.lock:
            raw = await self.settings.named(self.db.conn, self.SETTING)
        loaded: dict[int, GuildFollows] = {}
        for guild_id, text in raw.items():
            try:
                loaded[guild_id] = GuildFollows.model_validate_json(text)
            except ValidationError as exc:
                # Keep the bot up; the guild's admins can follow again. The bad value stays for a look.
                logger.error("guild %d: unreadable channel follows, ignored: %s", guild_id, exc)
        return loaded

    async def save(self, guild_id: int, follows: GuildFollows) -> None:
        async with self.db.transaction() as conn:
            await self.settings.set(conn, guild_id, self.SETTING, follows.model_dump_json())


def _key(channel_id: int, market_id: int) -> str:
    return f"{channel_id}:{market_id}"


# --- the service --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Live:
    guild_id: int
    channel_id: int
    market_id: int
    message_id: int | None = None
    site: SiteView | None = None
    sent_hash: str | None = None
    sent_at: float | None = None
    dirty: bool = False


@dataclass(slots=True)
class _Burst:
    guild_id: int
    site: SiteView
    commander: str
    started: float
    last: float
    from_progress: float
    tonnes: int = 0
    commodities: set[str] = field(default_factory=set)


def _fingerprint(embed: discord.Embed) -> str:
    return hashlib.sha256(json.dumps(embed.to_dict(), sort_keys=True, default=str).encode()).hexdigest()


def feed_line(burst: _Burst) -> str:
    """ "CMDR X delivered 2,328 t across 3 commodities to Y, 58.0% to 59.2%"."""
    what = (
        f"across {plural(len(burst.commodities), 'commodity', 'commodities')}"
        if len(burst.commodities) > 1
        else f"of {safe(next(iter(burst.commodities)))}"
    )
    return (
        f"CMDR {safe(burst.commander)} delivered {tonnes(burst.tonnes)} {what} to "
        f"{render.site_name(burst.site)}, "
        f"{percent(burst.from_progress)} to {percent(burst.site.progress)}"
    )


class ChannelUpdates:
    def __init__(
        self,
        port: ChannelPort,
        store: FollowStore,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        edit_interval: float = 10.0,
        burst_quiet: float = 20.0,
        burst_max: float = 120.0,
        stale_after: timedelta = timedelta(hours=6),
        no_permission_pause: float = 300.0,
        error_pause: float = 30.0,
        unreachable_pause: float = 5.0,
        close_wait: float = 10.0,
        capacity: Callable[[int], Awaitable[int]] | None = None,
    ) -> None:
        self.port = port
        self.store = store
        # A guild's hold the live messages count trips in (`QueryService.hold_capacity`, as
        # `/colony site` does); without one, the default hold.
        self.capacity = capacity
        self.clock = clock
        self.now = now
        self.edit_interval = edit_interval
        self.burst_quiet = burst_quiet
        self.burst_max = burst_max
        self.stale_after = stale_after
        self.no_permission_pause = no_permission_pause
        self.error_pause = error_pause
        self.unreachable_pause = unreachable_pause
        self.close_wait = close_wait
        self._guilds: dict[int, GuildFollows] = {}
        self._live: dict[tuple[int, int], _Live] = {}  # (channel, market)
        self._bursts: dict[tuple[int, int, str], _Burst] = {}  # (guild, market, commander)
        self._lines: dict[int, list[str]] = {}  # channel -> lines waiting to be posted
        self._paused: dict[int, float] = {}  # channel -> clock time it may be used again
        self._refused: set[int] = set()  # channels whose last answer was "missing permission"
        self._skipped: dict[int, int] = {}  # channel -> lines dropped while it refused the bot
        self._workers = ChannelTasks("colony-channel")
        self._saving = asyncio.Lock()
        self._unsaved: set[int] = set()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None

    # -- state -----------------------------------------------------------------------------------

    async def load(self) -> None:
        """Reads the follows and the live messages' ids (call once at start)."""
        self._guilds = await self.store.load_all()
        for guild_id, follows in self._guilds.items():
            for key, message_id in follows.messages.items():
                channel_id, market_id = (int(p) for p in key.split(":"))
                self._live[(channel_id, market_id)] = _Live(guild_id, channel_id, market_id, message_id)
        self.port.in_use(live.message_id for live in self._live.values() if live.message_id is not None)

    def follows(self, guild_id: int) -> list[FollowTarget]:
        return list(self._guilds.get(guild_id, GuildFollows()).follows)

    def _channels_for(self, guild_id: int, site: SiteView) -> list[int]:
        follows = self._guilds.get(guild_id)
        if follows is None:
            return []
        return sorted({f.channel_id for f in follows.follows if f.matches(site)})

    async def follow(self, guild_id: int, target: FollowTarget, sites: Sequence[SiteView]) -> list[SiteView]:
        """Starts updates in `target.channel_id`; returns the known sites it covers. Their live
        messages are posted on the next flush; progress already made is not announced again."""
        state = self._guilds.setdefault(guild_id, GuildFollows())
        if target not in state.follows:
            state.follows.append(target)
        covered = [s for s in sites if target.matches(s)]
        for site in covered:
            key = _key(target.channel_id, site.market_id)
            state.marks[key] = sorted(set(state.marks.get(key, [])) | _reached(site))
            live = self._live.setdefault(
                (target.channel_id, site.market_id), _Live(guild_id, target.channel_id, site.market_id)
            )
            live.site, live.dirty = site, True
        await self.store.save(guild_id, state)
        self._wake.set()
        return covered

    async def unfollow(
        self, guild_id: int, channel_id: int, *, market_id: int | None = None, system: str | None = None
    ) -> int:
        """Stops updates in a channel (one target, or all of the channel's); returns how many stopped."""
        state = self._guilds.get(guild_id)
        if state is None:
            return 0

        def chosen(f: FollowTarget) -> bool:
            if f.channel_id != channel_id:
                return False
            if market_id is not None:
                return f.market_id == market_id
            if system is not None:
                return f.system is not None and f.system.casefold() == system.casefold()
            return True

        removed = [f for f in state.follows if chosen(f)]
        state.follows = [f for f in state.follows if not chosen(f)]
        remaining = [f for f in state.follows if f.channel_id == channel_id]

        def still_covered(live: _Live) -> bool:
            if live.site is not None:
                return any(f.matches(live.site) for f in remaining)
            # Restored at start and not seen since: its site (and system) is not known yet, so a
            # system follow may cover it; a site follow covers it by its MarketID.
            return any(f.market_id in (None, live.market_id) for f in remaining)

        for (ch, market), live in list(self._live.items()):
            if ch == channel_id and not still_covered(live):
                del self._live[(ch, market)]
                state.messages.pop(_key(ch, market), None)
                state.marks.pop(_key(ch, market), None)
        await self.store.save(guild_id, state)
        return len(removed)

    # -- intake side: memory only, never waits on Discord ------------------------------------------

    async def sites_changed(self, changes: Sequence[SiteChange]) -> None:
        now = self.clock()
        for change in changes:
            self._record(change, now)
        self._wake.set()

    def _record(self, change: SiteChange, now: float) -> None:
        site, guild_id = change.site, change.guild_id
        channels = self._channels_for(guild_id, site)
        if not channels:
            return  # nobody follows it: nothing to keep
        if change.previous is not None and not self._stale(site):
            self._deliveries(guild_id, change, change.previous, now)
        for channel_id in channels:
            live = self._live.setdefault(
                (channel_id, site.market_id), _Live(guild_id, channel_id, site.market_id)
            )
            live.site, live.dirty = site, True
            self._announce(guild_id, channel_id, site, now)

    def _stale(self, site: SiteView) -> bool:
        """Old history arriving (a backfill): the live message shows it, the feed does not."""
        return site.updated_at is not None and self.now() - site.updated_at > self.stale_after

    def _deliveries(self, guild_id: int, change: SiteChange, before: SiteView, now: float) -> None:
        site = change.site
        old: dict[tuple[str, str], int] = {(c.commander, c.commodity): c.tonnes for c in before.contributions}
        cutoff = self.now() - self.stale_after
        for d in change.deliveries:
            if d.at < cutoff:  # handed in long ago (an uploader back after days): counted as told
                old[(d.commander, d.commodity)] = old.get((d.commander, d.commodity), 0) + d.tonnes
        names = {c.name: figures.commodity_name(c.name, c.name_localised) for c in site.commodities}
        for c in site.contributions:
            delta = c.tonnes - old.get((c.commander, c.commodity), 0)
            if delta <= 0:
                continue
            key = (guild_id, site.market_id, c.commander)
            burst = self._bursts.get(key)
            if burst is None:
                burst = self._bursts[key] = _Burst(guild_id, site, c.commander, now, now, before.progress)
            burst.site, burst.last = site, now
            burst.tonnes += delta
            burst.commodities.add(names.get(c.commodity, figures.commodity_name(c.commodity, None)))

    def _announce(self, guild_id: int, channel_id: int, site: SiteView, now: float) -> None:
        state = self._guilds[guild_id]
        key = _key(channel_id, site.market_id)
        if key not in state.marks:
            # First sight of this site here (a new site in a followed system): what it had reached
            # before is history, not news.
            state.marks[key] = sorted(_reached(site))
            self._unsaved.add(guild_id)
            return
        done = set(state.marks[key])
        new = _reached(site) - done
        if not new:
            return
        # The deliveries that got it there are told first.
        self._close_bursts(now, site=(guild_id, site.market_id))
        name = f"{render.site_name(site)} in {safe(site.system_name)}"
        if "failed" in new:
            line = f"\u274c {name} failed."
        elif "complete" in new:
            line = f"\U0001f389 {name} is complete!"
        else:
            top = max(int(m) for m in new if m.isdigit())
            left = site.remaining_total
            line = f"\U0001f4e3 {name} reached {top}%" + (f", {tonnes(left)} to go." if left else ".")
        self._queue(channel_id, line)
        state.marks[key] = sorted(done | new)
        self._unsaved.add(guild_id)

    # -- the talking side ------------------------------------------------------------------------

    async def flush(self, *, final: bool = False) -> None:
        """One pass: close quiet bursts, post waiting lines, post or edit live messages that are
        due (`final`: every changed one, the last word before stopping), each channel in its own
        task, and wait for those tasks. A channel whose task from an earlier pass still runs is
        left to it. Never raises for a Discord failure."""
        started = self._dispatch(final=final)
        if started:
            await asyncio.gather(*started)
        await self._save_unsaved()

    def _dispatch(self, *, final: bool = False) -> list[asyncio.Task[None]]:
        """Starts a task for every usable channel with something due and no task running yet."""
        now = self.clock()
        self._close_bursts(now)
        due: dict[int, list[_Live]] = {channel_id: [] for channel_id, lines in self._lines.items() if lines}
        for live in self._live.values():
            if not live.dirty or live.site is None:
                continue
            if not final and live.sent_at is not None and now - live.sent_at < self.edit_interval:
                continue
            due.setdefault(live.channel_id, []).append(live)
        return [
            self._workers.start(channel_id, self._channel(channel_id, lives))
            for channel_id, lives in due.items()
            if not self._workers.busy(channel_id) and self._usable(channel_id, now)
        ]

    async def _channel(self, channel_id: int, lives: list[_Live]) -> None:
        """One channel's share of a pass: its lines first, then its live messages, in order. The
        only task talking to this channel, so nothing in it is posted twice or out of order."""
        try:
            if self._lines.get(channel_id):
                await self._post_lines(channel_id)
            for live in lives:
                # A failure paused the channel (the rest waits for the pause), or dropped it.
                if not self._usable(channel_id, self.clock()):
                    break
                if self._live.get((channel_id, live.market_id)) is live:
                    await self._update_live(live)
            await self._save_unsaved()
        except Exception:  # a bug here must not end this channel's updates for good
            logger.exception("channel updates of channel %d failed", channel_id)
            self._paused[channel_id] = self.clock() + self.error_pause

    async def _save_unsaved(self) -> None:
        # One save at a time: the channels' tasks finish together, each asking for a save.
        async with self._saving:
            for guild_id in sorted(self._unsaved):
                try:
                    await self.store.save(guild_id, self._guilds[guild_id])
                except Exception:  # kept in memory and retried next pass
                    logger.exception("saving the channel updates of guild %d failed", guild_id)
                else:
                    self._unsaved.discard(guild_id)

    def _usable(self, channel_id: int, now: float) -> bool:
        return self._paused.get(channel_id, 0.0) <= now

    def _queue(self, channel_id: int, line: str) -> None:
        self._lines.setdefault(channel_id, []).append(line)
        if channel_id in self._refused:
            self._cap(channel_id)

    def _cap(self, channel_id: int) -> None:
        """A channel that refuses the bot keeps only what one message holds: its newest lines,
        after one note of how many earlier ones were dropped. Its backlog is neither dumped into
        the channel when the permission comes back nor kept without end when the bot was removed."""
        lines = self._lines.get(channel_id)
        skipped = self._skipped.get(channel_id, 0)
        if not lines or (not skipped and len("\n".join(lines)) <= limits.CONTENT):
            return
        # The room beside the note, sized for the most lines it may have to count.
        room = limits.CONTENT - len(skipped_note(skipped + len(lines))) - 1
        kept = used = 0
        for line in reversed(lines):
            used += len(line) + (1 if kept else 0)
            if used > room:
                break
            kept += 1
        dropped = len(lines) - kept
        if dropped:
            del lines[:dropped]
            self._skipped[channel_id] = skipped + dropped

    def _close_bursts(self, now: float, *, site: tuple[int, int] | None = None) -> None:
        """Turns bursts into feed lines: the quiet or long ones, or all of one site's in one guild
        (`site`: guild, MarketID; a MarketID two squadrons build at is one site in each)."""
        for key, burst in list(self._bursts.items()):
            if site is not None:
                if (burst.guild_id, burst.site.market_id) != site:
                    continue
            elif now - burst.last < self.burst_quiet and now - burst.started < self.burst_max:
                continue
            del self._bursts[key]
            line = feed_line(burst)
            for channel_id in self._channels_for(burst.guild_id, burst.site):
                self._queue(channel_id, line)

    async def _post_lines(self, channel_id: int) -> None:
        # Taken out before the first await: lines recorded while Discord answers are kept for the
        # next pass, not deleted with these. A backlog (Discord was unreachable) goes out whole, in
        # as many messages as it needs: its last lines are the newest news.
        waiting = self._lines.pop(channel_id)
        skipped = self._skipped.pop(channel_id, 0)
        note = skipped_note(skipped) if skipped else None
        if note is not None:
            waiting.insert(0, note)
        try:
            await post_lines(self.port, channel_id, waiting)
        except BaseException as exc:
            if waiting and waiting[0] is note:  # not posted: counted again, not kept as a line
                waiting.pop(0)
                self._skipped[channel_id] = skipped + self._skipped.get(channel_id, 0)
            # The unsent ones go back in front of any recorded meanwhile (a gone channel's are
            # then dropped by `_failed`); also when cancelled (a stop that could not wait), for
            # the last pass.
            self._lines[channel_id] = waiting + self._lines.get(channel_id, [])
            if not isinstance(exc, Exception):
                raise
            if isinstance(exc, ChannelError):
                self._failed(channel_id, exc)
            else:
                logger.exception("posting %d update lines in channel %d failed", len(waiting), channel_id)
                self._paused[channel_id] = self.clock() + self.error_pause
        else:
            self._refused.discard(channel_id)

    async def _update_live(self, live: _Live) -> None:
        assert live.site is not None
        rendered = live.site  # a newer one may be recorded while Discord answers
        capacity = await self.capacity(live.guild_id) if self.capacity is not None else DEFAULT_CAPACITY
        embed = render.site_embed(rendered, (), now=self.now(), capacity=capacity)
        digest = _fingerprint(embed)
        if digest == live.sent_hash and live.message_id is not None:
            live.dirty = False
            return
        try:
            if live.message_id is not None:
                try:
                    await self.port.edit(live.channel_id, live.message_id, content=None, embeds=[embed])
                except MessageGoneError:
                    logger.info(
                        "live message %d in channel %d was deleted; posting it anew",
                        live.message_id,
                        live.channel_id,
                    )
                    live.message_id = None
            if live.message_id is None:
                live.message_id = await self.port.post(live.channel_id, content=None, embeds=[embed])
                self._guilds[live.guild_id].messages[_key(live.channel_id, live.market_id)] = live.message_id
                self._unsaved.add(live.guild_id)
        except ChannelError as exc:
            self._failed(live.channel_id, exc)
            return
        except Exception:
            logger.exception(
                "updating the live message of site %d in channel %d failed", live.market_id, live.channel_id
            )
            self._paused[live.channel_id] = self.clock() + self.error_pause
            return
        # Timed from Discord's answer: a wait inside the request does not shorten the next interval.
        live.sent_hash, live.sent_at = digest, self.clock()
        live.dirty = live.site is not rendered
        self._refused.discard(live.channel_id)

    def _failed(self, channel_id: int, exc: ChannelError) -> None:
        now = self.clock()
        if isinstance(exc, UnreachableError):
            logger.debug("channel %d: %s; retrying in %.0f s", channel_id, exc, self.unreachable_pause)
            self._paused[channel_id] = now + self.unreachable_pause
        elif isinstance(exc, RateLimitedError):
            logger.warning(
                "channel %d: rate limited by Discord, retrying in %.1f s", channel_id, exc.retry_after
            )
            self._paused[channel_id] = now + exc.retry_after
        elif isinstance(exc, ChannelGoneError):
            logger.warning("channel %d no longer exists: its follows are removed", channel_id)
            self._drop_channel(channel_id)
        elif isinstance(exc, NoPermissionError):
            logger.warning(
                "channel %d: missing permission to post (needs View Channel, Send Messages and "
                "Embed Links); retrying in %.0f s",
                channel_id,
                self.no_permission_pause,
            )
            self._paused[channel_id] = now + self.no_permission_pause
            self._refused.add(channel_id)
            self._cap(channel_id)
        else:
            logger.warning("channel %d: %s; retrying in %.0f s", channel_id, exc, self.error_pause)
            self._paused[channel_id] = now + self.error_pause

    def _drop_channel(self, channel_id: int) -> None:
        self._lines.pop(channel_id, None)
        self._skipped.pop(channel_id, None)
        self._refused.discard(channel_id)
        for key in [k for k in self._live if k[0] == channel_id]:
            del self._live[key]
        for guild_id, state in self._guilds.items():
            before = len(state.follows) + len(state.messages)
            state.follows = [f for f in state.follows if f.channel_id != channel_id]
            prefix = f"{channel_id}:"
            state.messages = {k: v for k, v in state.messages.items() if not k.startswith(prefix)}
            state.marks = {k: v for k, v in state.marks.items() if not k.startswith(prefix)}
            if len(state.follows) + len(state.messages) != before:
                self._unsaved.add(guild_id)

    # -- the background tasks --------------------------------------------------------------------

    def start(self, feed: ChangeFeed | None = None, interval: float = 1.0) -> None:
        """Runs the flush loop and, given the core's change feed, consumes it (its own subscription:
        the intake publishes without waiting for us)."""
        self._task = asyncio.create_task(self._run(interval), name="colony-channel-updates")
        if feed is not None:
            self._subscription = feed.subscribe()
            self._consumer = asyncio.create_task(
                self._consume(self._subscription), name="colony-channel-updates-feed"
            )

    async def _consume(self, subscription: Subscription) -> None:
        async for changes in subscription:
            await self.sites_changed(changes)

    async def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                # Not waiting for the channels' tasks: one channel waiting on Discord must not
                # keep the next pass from the others.
                self._dispatch()
                await self._save_unsaved()
            except Exception:  # a bug here must not end channel updates for good
                logger.exception("channel updates pass failed")
            if self._stop.is_set():
                break
            self._wake.clear()
            # Woken early by new changes; otherwise every `interval` for due edits and bursts.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)

    async def close(self) -> None:
        """Stops the tasks after one last pass (lines still in a burst window are posted)."""
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None
        if self._consumer is not None:
            await self._consumer  # ends once the changes already queued are recorded
            self._consumer = None
        # Not cancelled at once: a post Discord has taken but not yet answered would be made again
        # by the last pass below.
        cut = await end_passes(self._task, self._workers, self._stop, self._wake, self.close_wait)
        self._task = None
        if cut:  # Discord not answering: the stop must not hang on it
            logger.warning("channel updates: a post still unanswered after %g s is abandoned",
                           self.close_wait)  # fmt: skip
        self._close_bursts(float("inf"))
        try:
            await asyncio.wait_for(self.flush(final=True), self.close_wait)
        except TimeoutError:
            left = sum(len(lines) for lines in self._lines.values())
            logger.warning("channel updates: Discord did not answer the last pass within %g s; "
                           "%d update line(s) not posted", self.close_wait, left)
            # What the pass did post (message ids, announcements made) is kept for the restart.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._save_unsaved(), self.close_wait)


def skipped_note(count: int) -> str:
    """The line standing for the updates dropped while a channel refused the bot."""
    return f"{limits.ELLIPSIS} {plural(count, 'earlier update')} not posted: the bot could not post here"


class ChannelTasks:
    """The Discord work in progress, at most one task per channel: a channel's messages go out in
    order and never twice, and its waits (Discord's rate limits are per channel) hold up no other."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: dict[int, asyncio.Task[None]] = {}

    def busy(self, channel_id: int) -> bool:
        task = self._tasks.get(channel_id)
        return task is not None and not task.done()

    def start(self, channel_id: int, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        assert not self.busy(channel_id), f"channel {channel_id} has a task already"
        task = asyncio.create_task(work, name=f"{self.name}-{channel_id}")
        self._tasks[channel_id] = task
        # Forgotten when done, also when cancelled before it ran.
        task.add_done_callback(functools.partial(self._forget, channel_id))
        return task

    def _forget(self, channel_id: int, task: asyncio.Task[None]) -> None:
        if self._tasks.get(channel_id) is task:
            del self._tasks[channel_id]

    async def settle(self, deadline: float) -> int:
        """Lets the running tasks finish until `deadline` (see `settle`); how many were cut."""
        return await settle(self._tasks.values(), deadline)


async def end_passes(
    loop: asyncio.Task[None] | None,
    workers: ChannelTasks,
    stop: asyncio.Event,
    wake: asyncio.Event,
    wait: float,
) -> int:
    """Ends a loop of passes (`stop`, woken by `wake`) and its channels' tasks, within `wait`
    seconds: a pass in progress is let finish and a post Discord has taken is let be answered (so
    its id is saved); what still runs then is cancelled. Returns how many were."""
    stop.set()
    wake.set()
    deadline = asyncio.get_running_loop().time() + wait
    cut = await settle([loop] if loop is not None else [], deadline)
    return cut + await workers.settle(deadline)


async def settle(tasks: Iterable[asyncio.Task[None]], deadline: float) -> int:
    """Waits for `tasks` until the event loop's clock reaches `deadline`, then cancels the ones
    still running and waits for them to end; returns how many were cancelled."""
    pending = {task for task in tasks if not task.done()}
    if pending:
        timeout = max(0.0, deadline - asyncio.get_running_loop().time())
        _, pending = await asyncio.wait(pending, timeout=timeout)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return len(pending)


async def post_lines(port: ChannelPort, channel_id: int, pending: list[str]) -> None:
    """Posts `pending`'s lines whole, in order, in as many messages of at most 2,000 characters as
    they need, taking each message's lines off `pending` once Discord has it: after a failure
    (raised) or a cancellation, what `pending` still holds was not posted."""
    for content, count in limits.pack_lines(pending):
        await port.post(channel_id, content=content, embeds=())
        del pending[:count]


def _reached(site: SiteView) -> set[str]:
    marks = {str(t) for t in THRESHOLDS if site.progress * 100 >= t - 1e-9}
    if site.complete:
        marks.add("complete")
    if site.failed:
        marks.add("failed")
    return marks


async def offline_updates(
    db: Database,
    feed: ChangeFeed,
    stream: TextIO | None = None,
    *,
    capacity: Callable[[int], Awaitable[int]] | None = None,
) -> ChannelUpdates:
    """Offline mode: the follows stored in the database (made with `colony-bot console` or while
    online), their updates printed instead of posted. Started; `close()` it before the database."""
    updates = ChannelUpdates(ConsoleChannelPort(stream), SettingsFollowStore(db), capacity=capacity)
    await updates.load()
    updates.start(feed)
    return updates
