"""Squadron hauling: claims, the board, the plan, carrier stock. Plain async methods, no Discord.

Reads combine the in-memory colony state (sites, ledger, commanders, carriers) with what only the
store holds (claims, carrier links, the trades and transfers after each snapshot). They read on the
read connection, never holding the write lock the intake takes, and the trades come from windows
kept between reads (`MoveWindows`): a pass reads only what was stored since the last. Claims close
by themselves: `settle` closes the covered, expired and finished-site ones, and every read settles
first, so nobody ever sees a claim that should have closed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import aiosqlite
from pydantic import TypeAdapter

from bot.domain import hauling as domain
from bot.domain.aggregates import carrier_callsign, carrier_system
from bot.domain.commanders import CommanderState
from bot.domain.guild import GuildState
from bot.domain.hauling import Claim, ClaimProgress, Hauler, Move
from bot.domain.keys import Key, key_of
from bot.domain.sites import LedgerEntry
from bot.haul_views import (
    BoardView,
    CarrierStockLineView,
    CarrierStockView,
    ClaimStatus,
    HaulClaimView,
    MineView,
    PlanView,
)
from bot.services.haul_moves import MoveWindows
from bot.services.state import ColonyState
from bot.store.db import Database
from bot.store.events import SettingsStore
from bot.store.hauling import HaulStore
from bot.views import SiteView
from wire import AnyEvent, MarketEvent

logger = logging.getLogger(__name__)

EXPIRY_SETTING = "haul_claim_hours"
MIN_EXPIRY_HOURS = 0.25
MAX_EXPIRY_HOURS = 168.0
_EVENT = TypeAdapter[AnyEvent](AnyEvent)


# --- what a user can be told --------------------------------------------------------------------


class HaulError(Exception):
    """A request that cannot be done as asked; the Discord layer words it for the user."""


class NoSiteError(HaulError):
    """No site given, and the caller is neither docked at one nor hauling for one."""


@dataclass
class SiteDoneError(HaulError):
    site: SiteView


@dataclass
class NotNeededError(HaulError):
    site: SiteView
    commodity: str


@dataclass
class ClaimTooLargeError(HaulError):
    site: SiteView
    commodity: str
    name_localised: str | None
    asked: int
    available: int
    remaining: int
    in_ships: int
    claimed: int


@dataclass
class BadTonnesError(HaulError):
    tonnes: int


@dataclass
class NoClaimError(HaulError):
    claim_id: int | None


@dataclass
class NoPlanLineError(HaulError):
    site: SiteView


@dataclass
class BadExpiryError(HaulError):
    hours: float


# --- the service --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Stored:
    claims: list[Claim]
    links: dict[int, tuple[int, ...]]
    moves: Sequence[Move]  # every member's, for the holds of the active commanders
    at_carriers: Mapping[int, Sequence[Move]]  # each carrier serving a site still being built


def _canonical(text: str) -> str:
    return "".join(text.casefold().split()).removeprefix("$").removesuffix("_name;")


class HaulService:
    def __init__(
        self,
        db: Database,
        state: ColonyState,
        store: HaulStore | None = None,
        settings: SettingsStore | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.db = db
        self.state = state
        self.store = store or HaulStore()
        self.settings = settings or SettingsStore()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.moves = MoveWindows(self.store)
        self._delivered_cache: dict[int, tuple[object, dict[str, tuple[tuple[object, ...], int]]]] = {}

    # -- settings ----------------------------------------------------------------------------------

    async def expiry(self, guild_id: int) -> timedelta:
        async with self.db.lock:
            values = await self.settings.get(self.db.conn, guild_id)
        return self._expiry(values.get(EXPIRY_SETTING))

    @staticmethod
    def _expiry(text: str | None) -> timedelta:
        try:
            return timedelta(hours=float(text)) if text is not None else domain.DEFAULT_EXPIRY
        except ValueError:
            logger.error("unreadable %s setting %r: using the default", EXPIRY_SETTING, text)
            return domain.DEFAULT_EXPIRY

    async def set_expiry(self, guild_id: int, hours: float) -> timedelta:
        if not MIN_EXPIRY_HOURS <= hours <= MAX_EXPIRY_HOURS:
            raise BadExpiryError(hours)
        async with self.db.transaction() as conn:
            await self.settings.set(conn, guild_id, EXPIRY_SETTING, repr(float(hours)))
        return timedelta(hours=hours)

    # -- gathering ---------------------------------------------------------------------------------

    async def _stored(
        self, conn: aiosqlite.Connection, guild: GuildState, now: datetime, claims: list[Claim]
    ) -> _Stored:
        """The links as `conn` has them, and the trades that can still move a number: each active
        commander's since their hold, and each carrier's since its snapshot, for the carriers serving
        a site still being built (a finished site takes no stock, and its links stay for good)."""
        links = await self.store.links(conn, guild.guild_id)
        serving = {
            carrier_id: carrier.stock.key.ts
            for carrier_id, sites in links.items()
            if (carrier := guild.carriers.get(carrier_id)) is not None
            and carrier.stock is not None
            and any(_being_built(guild, m) for m in sites)
        }
        windows = await self.moves.read(self.db.reader, guild.guild_id, _holds_since(guild, now), serving)
        return _Stored(claims, links, windows.holds, windows.carriers)

    def _last_delivered(self, guild: GuildState) -> dict[str, tuple[tuple[object, ...], int]]:
        """Each commander's newest delivery (its order and site), recomputed only when a ledger grew:
        the ledger is the biggest thing in memory and most reads happen between deliveries."""
        signature = tuple(sorted((m, len(s.ledger)) for m, s in guild.sites.items()))
        cached = self._delivered_cache.get(guild.guild_id)
        if cached is not None and cached[0] == signature:
            return cached[1]
        found: dict[str, tuple[tuple[object, ...], int]] = {}
        for site in guild.sites.values():
            for entry in site.ledger:
                seen = found.get(entry.commander)
                if seen is None or entry.order > seen[0]:
                    found[entry.commander] = (entry.order, entry.market_id)
        self._delivered_cache[guild.guild_id] = (signature, found)
        return found

    def _haulers(self, guild: GuildState, moves: Sequence[Move], now: datetime) -> list[Hauler]:
        deliveries: dict[str, list[LedgerEntry]] = defaultdict(list)
        holds = _active_holds(guild, now)
        oldest = min((key for _, key in holds.values()), default=None)
        last_delivered = self._last_delivered(guild)
        for site in guild.sites.values():
            for entry in reversed(site.ledger):  # sorted by key: newest first
                if oldest is None or entry.key <= oldest:
                    break  # already in every cargo snapshot that still counts
                deliveries[entry.commander].append(entry)
        haulers = []
        for name, cmdr in guild.commanders.items():
            cargo: dict[str, int] = {}
            hold = holds.get(name)
            if hold is not None:  # (only active commanders have one)
                cargo = domain.ship_cargo(hold[0], hold[1], cmdr.name, moves, deliveries.get(cmdr.name, ()))
            docked = cmdr.where.market_id if cmdr.where is not None else None
            haulers.append(
                Hauler(
                    commander=cmdr.name,
                    user_id=cmdr.uploader.user_id if cmdr.uploader else None,
                    capacity=cmdr.ship.cargo_capacity if cmdr.ship else None,
                    last_seen=cmdr.last_seen,
                    cargo=cargo,
                    docked_at=docked if docked is not None and guild.site_view(docked) is not None else None,
                    system_name=cmdr.where.system_name if cmdr.where is not None else None,
                    station_name=cmdr.where.station_name if cmdr.where is not None else None,
                    last_delivered=last_delivered[cmdr.name][1] if cmdr.name in last_delivered else None,
                )
            )
        return haulers

    def _carriers(self, guild: GuildState, stored: _Stored) -> list[domain.CarrierHold]:
        holds = []
        for carrier_id, sites in stored.links.items():
            carrier = guild.carriers.get(carrier_id)
            moves = stored.at_carriers.get(carrier_id)
            stock: dict[str, int] = {}
            # A carrier serving only finished sites stays on their boards, but its stock would count
            # nowhere (`build_boards` shares stock out to sites in need only): not worked out.
            if carrier is not None and carrier.stock is not None and moves is not None:
                stock = domain.carrier_stock(
                    {i.name: i.stock for i in carrier.stock.items}, carrier.stock.key, carrier_id, moves
                )
            holds.append(domain.CarrierHold(carrier_id, stock, sites))
        return holds

    def _progress(self, guild: GuildState, claims: Sequence[Claim]) -> list[ClaimProgress]:
        out = []
        for claim in claims:
            site = guild.sites.get(claim.market_id)
            delivered = domain.delivered_toward(claim, site.ledger if site else ())
            out.append(ClaimProgress(claim, delivered))
        return out

    def _compute(
        self, guild: GuildState, stored: _Stored, now: datetime, only: Collection[int] | None = None
    ) -> tuple[domain.Boards, list[Hauler]]:
        haulers = self._haulers(guild, stored.moves, now)
        return self._boards(guild, stored, haulers, now, only), haulers

    def _boards(
        self,
        guild: GuildState,
        stored: _Stored,
        haulers: Sequence[Hauler],
        now: datetime,
        only: Collection[int] | None = None,
    ) -> domain.Boards:
        """The boards of the sites in `only`, or of every site still being built: a finished site's
        board (nothing left) is built when asked for by its MarketID, not on every pass."""
        views = guild.site_views()
        if only is None:
            only = [v.market_id for v in views if not (v.complete or v.failed)]
        progress = self._progress(guild, stored.claims)
        sites = [domain.SiteInput(v, guild.sites[v.market_id].ledger) for v in views]
        return domain.build_boards(sites, haulers, self._carriers(guild, stored), progress, now, only)

    @staticmethod
    def _due(
        guild: GuildState, progress: Sequence[ClaimProgress], now: datetime
    ) -> list[tuple[ClaimProgress, ClaimStatus]]:
        """The claims that must close now, and why."""
        due = []
        for p in progress:
            reason = domain.closing_reason(p, guild.site_view(p.claim.market_id), now)
            if reason is not None:
                due.append((p, reason))
        return due

    async def _settle_in(
        self, conn: aiosqlite.Connection, guild: GuildState, now: datetime
    ) -> tuple[list[Claim], list[HaulClaimView]]:
        """Closes what must close now (caller holds the transaction); returns the claims still open
        and those closed."""
        claims = await self.store.open_claims(conn, guild.guild_id)
        closed = []
        for p, reason in self._due(guild, self._progress(guild, claims), now):
            if await self.store.close_claim(conn, p.claim.id, reason, now, p.delivered):
                site = guild.site_view(p.claim.market_id)
                shut = replace(p.claim, status=reason, closed_at=now, delivered_at_close=p.delivered)
                closed.append(
                    domain.claim_view(
                        ClaimProgress(shut, p.delivered), site, 0, _localised(site, shut.commodity)
                    )
                )
                logger.info("guild %d: claim %d closed (%s)", guild.guild_id, p.claim.id, reason)
            claims.remove(p.claim)  # closed, by this call or by another first
        return claims, closed

    async def _settle(self, guild: GuildState, now: datetime) -> tuple[list[Claim], list[HaulClaimView]]:
        """`_settle_in`, in a transaction of its own only when a claim must close: looked for on the
        read connection, so that a read that closes nothing never takes the intake's write lock."""
        claims = await self.store.open_claims(self.db.reader, guild.guild_id)
        if not self._due(guild, self._progress(guild, claims), now):
            return claims, []
        async with self.db.transaction() as conn:
            # Again under the lock: a claim may have been topped up since it was looked at.
            return await self._settle_in(conn, guild, now)

    async def settle(self, guild_id: int) -> list[HaulClaimView]:
        """Closes covered, expired and finished-site claims; returns those closed by this call."""
        _, closed = await self._settle(self.state.get(guild_id), self.clock())
        return closed

    async def _view(
        self, guild_id: int, only: Collection[int] | None = None
    ) -> tuple[GuildState, _Stored, domain.Boards, list[Hauler], datetime]:
        guild = self.state.get(guild_id)
        now = self.clock()
        claims, _ = await self._settle(guild, now)
        stored = await self._stored(self.db.reader, guild, now, claims)
        boards, haulers = self._compute(guild, stored, now, only)
        return guild, stored, boards, haulers, now

    # -- reads -------------------------------------------------------------------------------------

    async def boards(self, guild_id: int, only: Collection[int] | None = None) -> list[BoardView]:
        """The boards of the sites in `only` (finished ones included, with nothing left), or of every
        site still being built."""
        _, _, boards, _, _ = await self._view(guild_id, only)
        return [boards.boards[m] for m in sorted(boards.boards)]

    async def board(self, guild_id: int, market_id: int) -> BoardView | None:
        _, _, boards, _, _ = await self._view(guild_id, only=[market_id])
        return boards.boards.get(market_id)

    async def claims(self, guild_id: int, *, closed_within: timedelta | None = None) -> list[HaulClaimView]:
        guild = self.state.get(guild_id)
        now = self.clock()
        await self._settle(guild, now)
        everything = await self.store.claims(
            self.db.reader, guild_id, closed_since=None if closed_within is None else now - closed_within
        )
        stored = await self._stored(self.db.reader, guild, now, [c for c in everything if c.status == "open"])
        boards, _ = self._compute(guild, stored, now, {c.market_id for c in stored.claims})
        open_views = {c.id: c for b in boards.boards.values() for c in b.claims}
        out = []
        for claim in everything:
            if claim.id in open_views:
                out.append(open_views[claim.id])
                continue
            site = guild.site_view(claim.market_id)
            progress = domain.ClaimProgress(claim, claim.delivered_at_close)
            out.append(domain.claim_view(progress, site, 0, _localised(site, claim.commodity)))
        return out

    async def closed_since(self, guild_id: int, moment: datetime) -> list[HaulClaimView]:
        """Claims closed at or after `moment` (after closing what must close now), oldest first."""
        guild = self.state.get(guild_id)
        now = self.clock()
        await self._settle(guild, now)
        closed = [
            c
            for c in await self.store.claims(self.db.reader, guild_id, closed_since=moment)
            if c.status != "open"
        ]
        out = []
        for claim in sorted(closed, key=lambda c: (c.closed_at or now, c.id)):
            site = guild.site_view(claim.market_id)
            progress = ClaimProgress(claim, claim.delivered_at_close)
            out.append(domain.claim_view(progress, site, 0, _localised(site, claim.commodity)))
        return out

    async def mine(self, guild_id: int, user_id: int) -> MineView:
        guild, stored, boards, haulers, _ = await self._view(guild_id)
        names = sorted(h.commander for h in haulers if h.user_id == user_id)
        return MineView(
            discord_user_id=str(user_id),
            commanders=names,
            hauling_for=self._default_site(guild, user_id, stored.claims, haulers),
            claims=[c for b in boards.boards.values() for c in b.claims if c.discord_user_id == str(user_id)],
            cargo=[c for c in boards.attribution.cargo if c.commander in names],
        )

    async def plan(self, guild_id: int, market_id: int) -> PlanView | None:
        _, stored, boards, haulers, now = await self._view(guild_id, only=[market_id])
        board = boards.boards.get(market_id)
        if board is None:
            return None
        claimers = {c.user_id for c in stored.claims if c.market_id == market_id}
        return domain.plan(board, haulers, claimers, now)

    async def _previous_snapshot(
        self, conn: aiosqlite.Connection, guild_id: int, carrier_id: int, current: Key
    ) -> MarketEvent | None:
        """The carrier's newest Market snapshot before its current one."""
        previous = None
        for payload in await self.store.market_snapshots(conn, guild_id, carrier_id, current.ts):
            event = _EVENT.validate_json(payload)
            if (
                isinstance(event, MarketEvent)
                and key_of(event) < current
                and (previous is None or key_of(event) > key_of(previous))
            ):
                previous = event
        return previous

    async def carrier_stock(
        self, guild_id: int, carrier_ids: Collection[int] | None = None
    ) -> list[CarrierStockView]:
        """Every known carrier's stock (or those of `carrier_ids`): the newest snapshot moved forward,
        and the gap to the previous."""
        guild = self.state.get(guild_id)
        reader = self.db.reader
        carriers = sorted(
            (c for c in guild.carriers.values() if carrier_ids is None or c.carrier_id in carrier_ids),
            key=lambda c: c.carrier_id,
        )
        links = await self.store.links(reader, guild_id)
        previous: dict[int, MarketEvent] = {}
        since: dict[int, datetime] = {}
        for carrier in carriers:
            if carrier.stock is None:
                continue
            prev = await self._previous_snapshot(reader, guild_id, carrier.carrier_id, carrier.stock.key)
            if prev is not None:
                previous[carrier.carrier_id] = prev
            since[carrier.carrier_id] = (key_of(prev) if prev is not None else carrier.stock.key).ts
        # The board's windows are kept: a look at the carriers must not cost the next pass a reread.
        windows = await self.moves.read(reader, guild_id, None, since, keep_others=True)
        views = []
        for carrier in carriers:
            snap = carrier.stock
            moves = windows.carriers.get(carrier.carrier_id, ())
            current = {i.name: i.stock for i in snap.items} if snap else {}
            localised = {i.name: i.name_localised for i in snap.items} if snap else {}
            stock = domain.carrier_stock(current, snap.key, carrier.carrier_id, moves) if snap else {}
            gap: dict[str, int] = {}
            prev = previous.get(carrier.carrier_id)
            if snap is not None and prev is not None:
                gap = domain.stock_gap(
                    {i.name: i.stock for i in prev.items},
                    key_of(prev),
                    current,
                    snap.key,
                    carrier.carrier_id,
                    moves,
                )
            names = sorted(set(stock) | {k for k, v in current.items() if v > 0} | set(gap))
            views.append(
                CarrierStockView(
                    carrier_id=carrier.carrier_id,
                    name=carrier.stats.name if carrier.stats else None,
                    callsign=carrier_callsign(guild, carrier.carrier_id),
                    system_name=carrier_system(guild, carrier.carrier_id)[0],
                    snapshot_at=snap.key.ts if snap else None,
                    previous_snapshot_at=key_of(prev).ts if prev else None,
                    cargo_used=carrier.stats.cargo_used if carrier.stats else None,
                    sites=list(links.get(carrier.carrier_id, ())),
                    lines=[
                        CarrierStockLineView(
                            name=n,
                            name_localised=localised.get(n),
                            tonnes=stock.get(n, 0),
                            snapshot=current.get(n, 0),
                            gap=gap.get(n, 0),
                        )
                        for n in names
                    ],
                )
            )
        return views

    def _default_site(
        self, guild: GuildState, user_id: int, claims: Sequence[Claim], haulers: Sequence[Hauler]
    ) -> int | None:
        """Where the caller is docked (a site in progress), else the site of their newest claim, else
        the site they last delivered to."""

        def active(market_id: int | None) -> bool:
            return market_id is not None and _being_built(guild, market_id)

        own = sorted(
            (h for h in haulers if h.user_id == user_id),
            key=lambda h: h.last_seen or datetime.min.replace(tzinfo=UTC),
            reverse=True,
        )
        for h in own:
            if active(h.docked_at):
                return h.docked_at
        for c in sorted(claims, key=lambda c: (c.created_at, c.id), reverse=True):
            if c.user_id == user_id and active(c.market_id):
                return c.market_id
        newest: tuple[tuple[object, ...], int] | None = None
        for site in guild.sites.values():
            for entry in reversed(site.ledger):
                if entry.user_id == user_id:
                    if newest is None or entry.order > newest[0]:
                        newest = (entry.order, entry.market_id)
                    break
        if newest is not None and active(newest[1]):
            return newest[1]
        return None

    # -- writes ------------------------------------------------------------------------------------

    async def claim(
        self, guild_id: int, user_id: int, commodity: str, tonnes: int, market_id: int | None = None
    ) -> HaulClaimView:
        """Reserves a haul; refused (with the numbers) when it is more than is left unclaimed."""
        guild = self.state.get(guild_id)
        now = self.clock()
        async with self.db.transaction() as conn:
            claims, _ = await self._settle_in(conn, guild, now)
            stored = await self._stored(conn, guild, now, claims)
            haulers = self._haulers(guild, stored.moves, now)
            if market_id is None:
                market_id = self._default_site(guild, user_id, stored.claims, haulers)
                if market_id is None:
                    raise NoSiteError()
            boards = self._boards(guild, stored, haulers, now, only=[market_id])
            site = guild.site_view(market_id)
            board = boards.boards.get(market_id)
            if site is None or board is None:
                raise NoSiteError()
            if site.complete or site.failed:
                raise SiteDoneError(site)
            wanted = _canonical(commodity)
            match = next(
                (
                    c
                    for c in site.commodities
                    if wanted in (_canonical(c.name), _canonical(c.name_localised or c.name))
                ),
                None,
            )
            if match is None or match.remaining <= 0:
                raise NotNeededError(site, commodity.strip())
            own = sum(
                c.tonnes
                for c in boards.attribution.cargo
                if c.market_id == market_id
                and c.name == match.name
                and any(h.commander == c.commander and h.user_id == user_id for h in haulers)
            )
            own_claimed = sum(
                c.in_ships
                for c in board.claims
                if c.discord_user_id == str(user_id) and c.commodity == match.name
            )
            available = domain.claimable(board, match.name, own - own_claimed)
            line = next((x for x in board.lines if x.name == match.name), None)
            if tonnes <= 0:
                raise BadTonnesError(tonnes)
            if tonnes > available:
                raise ClaimTooLargeError(
                    site,
                    match.name,
                    match.name_localised,
                    tonnes,
                    available,
                    line.remaining if line else match.remaining,
                    line.in_ships if line else 0,
                    line.claimed if line else 0,
                )
            expiry = self._expiry((await self.settings.get(conn, guild_id)).get(EXPIRY_SETTING))
            # One open claim per member, site and commodity: a second claim adds to the first.
            # Two would each be credited with every delivery made since (each covered by one trip).
            mine = next(
                (c for c in stored.claims
                 if c.user_id == user_id and c.market_id == market_id and c.commodity == match.name),
                None,
            )  # fmt: skip
            claim = None
            if mine is not None:
                claim = await self.store.top_up_claim(conn, mine.id, tonnes, now + expiry)
            if claim is None:
                claim = await self.store.insert_claim(
                    conn, guild_id, market_id, user_id, match.name, tonnes, now, now + expiry
                )
        logger.info(
            "guild %d: user %d claimed %d t of %s at %d", guild_id, user_id, tonnes, match.name, market_id
        )
        ledger = guild.sites[market_id].ledger if market_id in guild.sites else ()
        progress = ClaimProgress(claim, domain.delivered_toward(claim, ledger))
        return domain.claim_view(progress, site, 0, match.name_localised)

    async def release(self, guild_id: int, user_id: int, claim_id: int | None = None) -> list[HaulClaimView]:
        """Releases one of the caller's open claims, or all of them."""
        guild = self.state.get(guild_id)
        now = self.clock()
        released = []
        async with self.db.transaction() as conn:
            claims, _ = await self._settle_in(conn, guild, now)
            mine = [c for c in claims if c.user_id == user_id]
            chosen = [c for c in mine if claim_id is None or c.id == claim_id]
            if not chosen:
                raise NoClaimError(claim_id)
            for p in self._progress(guild, chosen):
                if await self.store.close_claim(conn, p.claim.id, "released", now, p.delivered):
                    shut = replace(p.claim, status="released", closed_at=now, delivered_at_close=p.delivered)
                    site = guild.site_view(shut.market_id)
                    released.append(
                        domain.claim_view(
                            ClaimProgress(shut, p.delivered), site, 0, _localised(site, shut.commodity)
                        )
                    )
        return released

    async def claim_planned(self, guild_id: int, user_id: int, market_id: int) -> HaulClaimView:
        """The plan's line of the caller, claimed (the plan's button)."""
        plan = await self.plan(guild_id, market_id)
        site = self.state.get(guild_id).site_view(market_id)
        if plan is None or site is None:
            raise NoSiteError()
        line = next((x for x in plan.lines if x.discord_user_id == str(user_id)), None)
        if line is None:
            raise NoPlanLineError(site)
        return await self.claim(guild_id, user_id, line.commodity, line.tonnes, market_id)

    async def link_carrier(
        self, guild_id: int, carrier_id: int, market_id: int, *, remove: bool = False
    ) -> bool:
        """Ties a carrier to a site it serves (or unties it); False when nothing changed."""
        async with self.db.transaction() as conn:
            if remove:
                return await self.store.unlink(conn, guild_id, carrier_id, market_id)
            return await self.store.link(conn, guild_id, carrier_id, market_id, self.clock())

    async def links(self, guild_id: int) -> dict[int, tuple[int, ...]]:
        return await self.store.links(self.db.reader, guild_id)


_Hold = tuple[tuple[tuple[str, int], ...], Key]  # (commodity, tonnes) per line, as of that key


def _hold(cmdr: CommanderState) -> _Hold | None:
    """A commander's newest known hold: the newest Cargo line's inventory, or empty when a newer
    Cargo line says the hold is empty. A bare Cargo line (every old one in a backfill: its
    Cargo.json describes today) has no inventory, but its count of 0 is enough."""
    inventory = cmdr.inventory
    hold = None if inventory is None else (tuple((i.name, i.count) for i in inventory.items), inventory.key)
    cargo = cmdr.cargo
    if cargo is not None and cargo.count == 0 and (hold is None or cargo.key > hold[1]):
        return (), cargo.key
    return hold


def _active_holds(guild: GuildState, now: datetime) -> dict[str, _Hold]:
    """The holds that count: those of the commanders seen in the last `ACTIVE_WINDOW`."""
    holds = {}
    for name, cmdr in guild.commanders.items():
        hold = _hold(cmdr)
        if hold is not None and cmdr.last_seen is not None and now - cmdr.last_seen <= domain.ACTIVE_WINDOW:
            holds[name] = hold
    return holds


def _holds_since(guild: GuildState, now: datetime) -> datetime | None:
    """The oldest hold that counts: the trades before it move none."""
    return min((key.ts for _, key in _active_holds(guild, now).values()), default=None)


def _being_built(guild: GuildState, market_id: int) -> bool:
    view = guild.site_view(market_id)
    return view is not None and not (view.complete or view.failed)


def _localised(site: SiteView | None, commodity: str) -> str | None:
    if site is None:
        return None
    return next((c.name_localised for c in site.commodities if c.name == commodity), None)
