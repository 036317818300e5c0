"""The trades and transfers the haul board reads, parsed once and kept between passes.

A hold is its newest Cargo snapshot moved forward by the commander's trades since, a carrier's stock
its newest Market snapshot moved forward by the trades at it since. Reread from the store on every
pass (every 15 s and after every change), that parsed the guild's whole trade history again as soon
as one linked carrier's snapshot was old. Here each window (every member's trades for the holds,
or the trades at one carrier) is read once: what was stored since the last look is read by its
number in storing order, whatever its game time, so a late upload is counted as a reread would
count it; a window reaching further back reads only the part it lacks; what no window needs any
more is dropped.

Each window holds every stored trade it covers among the rows stored up to `seen`: the board's
numbers are those a full reread would give.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import aiosqlite
from pydantic import TypeAdapter

from bot.domain import hauling as domain
from bot.domain.hauling import Move
from bot.store.hauling import HaulStore, StoredMove
from wire import AnyEvent, CargoTransferEvent, MarketBuyEvent, MarketSellEvent

_EVENT = TypeAdapter[AnyEvent](AnyEvent)

_Read = Callable[[datetime, datetime | None], Awaitable[list[StoredMove]]]


@dataclass(frozen=True, slots=True)
class Windows:
    """What one read asked for: every member's trades for the holds, each carrier's trades at it."""

    holds: tuple[Move, ...]
    carriers: dict[int, tuple[Move, ...]]


@dataclass(slots=True)
class _Window:
    """Every stored trade it covers from game time `since` on (it may hold older ones too)."""

    since: datetime
    moves: list[Move]

    def trim(self, since: datetime) -> None:
        """Forgets what is older than `since` (no longer needed)."""
        if since > self.since:
            self.moves = [m for m in self.moves if m.key.ts >= since]
            self.since = since


@dataclass(slots=True)
class _Guild:
    seen: int  # the newest stored row every window has taken in (those it covers)
    holds: _Window | None = None
    carriers: dict[int, _Window] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def take(self, rows: list[StoredMove]) -> None:
        """Rows stored after `seen`, in storing order, into each window they belong to."""
        for move in _parsed(rows):
            ts = move.key.ts
            if self.holds is not None and ts >= self.holds.since:
                self.holds.moves.append(move)
            window = self.carriers.get(move.market_id) if move.market_id is not None else None
            if window is not None and ts >= window.since:
                window.moves.append(move)
        if rows:
            self.seen = max(self.seen, rows[-1].seq)


class MoveWindows:
    """Per guild, the windows of trades the board last asked for, kept up to date on each read."""

    def __init__(self, store: HaulStore) -> None:
        self.store = store
        self._guilds: dict[int, _Guild] = {}

    async def read(
        self,
        conn: aiosqlite.Connection,
        guild_id: int,
        holds_since: datetime | None,
        carriers: Mapping[int, datetime],
        *,
        keep_others: bool = False,
    ) -> Windows:
        """Every member's trades from `holds_since` on (none when None) and each carrier's from its
        time on, reading from `conn` only what was not read before. The windows not asked for are
        dropped, unless `keep_others` (a one-off wider read must not cost the board its windows)."""
        guild = await self._guild(conn, guild_id)
        async with guild.lock:
            guild.take(await self.store.moves_after(conn, guild_id, guild.seen))
            if holds_since is not None:
                read = _holds_reader(self.store, conn, guild_id)
                guild.holds = await _cover(guild.holds, holds_since, read, guild, keep_others)
            elif not keep_others:
                guild.holds = None
            for carrier_id, since in sorted(carriers.items()):
                read = _carrier_reader(self.store, conn, guild_id, carrier_id)
                window = await _cover(guild.carriers.get(carrier_id), since, read, guild, keep_others)
                guild.carriers[carrier_id] = window
            if not keep_others:
                for carrier_id in set(guild.carriers) - set(carriers):
                    del guild.carriers[carrier_id]
            return Windows(
                tuple(guild.holds.moves) if holds_since is not None and guild.holds is not None else (),
                {c: tuple(guild.carriers[c].moves) for c in carriers},
            )

    async def _guild(self, conn: aiosqlite.Connection, guild_id: int) -> _Guild:
        guild = self._guilds.get(guild_id)
        if guild is None:
            # Nothing read yet: every window starts empty, and what is stored from now on comes in
            # by its number.
            seen = await self.store.last_seq(conn)
            guild = self._guilds.setdefault(guild_id, _Guild(seen))
        return guild


def _holds_reader(store: HaulStore, conn: aiosqlite.Connection, guild_id: int) -> _Read:
    async def read(since: datetime, until: datetime | None) -> list[StoredMove]:
        return await store.moves(conn, guild_id, since, until)

    return read


def _carrier_reader(store: HaulStore, conn: aiosqlite.Connection, guild_id: int, carrier_id: int) -> _Read:
    async def read(since: datetime, until: datetime | None) -> list[StoredMove]:
        return await store.carrier_moves(conn, guild_id, carrier_id, since, until)

    return read


async def _cover(window: _Window | None, since: datetime, read: _Read, guild: _Guild, keep: bool) -> _Window:
    """`window` made to cover game time `since` on: the part before what it covers is read (the rows
    stored after `seen` are left for the next `take`, or they would count twice), and, unless
    `keep`, the part before `since` dropped. Changed only after the read: a cancelled read leaves
    it as it was."""
    if window is not None and window.since <= since:
        if not keep:
            window.trim(since)
        return window
    rows = await read(since, window.since if window is not None else None)
    older = _parsed(r for r in rows if r.seq <= guild.seen)
    if window is None:
        return _Window(since, older)
    window.moves.extend(older)
    window.since = since
    return window


def _parsed(rows: Iterable[StoredMove]) -> list[Move]:
    moves: list[Move] = []
    for row in rows:
        event = _EVENT.validate_json(row.payload)
        if isinstance(event, MarketBuyEvent | MarketSellEvent | CargoTransferEvent):
            moves.extend(domain.moves_of(event))
    return moves
