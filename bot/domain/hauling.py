"""Squadron hauling as pure code: claims, cargo in flight, carrier stock, the board, trips, ETA, plan.

The board splits each commodity's remaining need of a site into four parts that always add up:

    remaining = in ships + claimed (not yet loaded) + on carriers + open

filled in that order, each capped by what is left, so nothing is negative, nothing is counted twice
and open never exceeds remaining. A commander's cargo counts toward exactly one site (their claim's,
else the site they last delivered to) and toward their own claim, never on top of it; a carrier's
stock is shared out among the sites it is linked to, never counted at two. No I/O here.
"""

from __future__ import annotations

import bisect
import operator
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.keys import Key, key_of
from bot.domain.sites import LedgerEntry
from bot.haul_views import (
    BoardLineView,
    BoardView,
    CargoView,
    ClaimStatus,
    HaulClaimView,
    PlanLineView,
    PlanView,
    RateView,
)
from bot.views import SiteView
from wire import CargoTransferEvent, MarketBuyEvent, MarketSellEvent

DEFAULT_CAPACITY = 794  # a fully fitted Type-9's hold, when no active hauler's Loadout is known
ACTIVE_WINDOW = timedelta(hours=24)
RATE_WINDOWS = (3, 24)  # hours
DEFAULT_EXPIRY = timedelta(hours=4)
MAX_ETA = timedelta(days=3650)


# --- claims -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """A reservation: `user_id` brings `tonnes` of `commodity` to site `market_id`."""

    id: int
    market_id: int
    user_id: int
    commodity: str
    tonnes: int
    created_at: datetime
    expires_at: datetime
    status: ClaimStatus = "open"
    closed_at: datetime | None = None
    delivered_at_close: int = 0


_ts = operator.attrgetter("key.ts")
_tonnes = operator.attrgetter("tonnes")


def since(ledger: Sequence[LedgerEntry], moment: datetime) -> Sequence[LedgerEntry]:
    """The entries from game time `moment` on, of a ledger sorted by key (a site's is)."""
    return ledger[bisect.bisect_left(ledger, moment, key=_ts) :]


def delivered_toward(claim: Claim, ledger: Sequence[LedgerEntry]) -> int:
    """Tonnes of the claim's commodity the claimer's commanders delivered at its site since it was
    made (`ledger` sorted by key)."""
    return sum(
        e.tonnes
        for e in since(ledger, claim.created_at)
        if e.user_id == claim.user_id and e.commodity == claim.commodity and e.market_id == claim.market_id
    )


@dataclass(frozen=True, slots=True)
class ClaimProgress:
    claim: Claim
    delivered: int

    @property
    def remaining(self) -> int:
        return max(0, self.claim.tonnes - self.delivered)


def closing_reason(progress: ClaimProgress, site: SiteView | None, now: datetime) -> ClaimStatus | None:
    """Why an open claim closes now, if it does: its site is done, it is covered (by the claimer's
    deliveries, or by others' when the site needs no more of it), or it expired."""
    if site is not None and (site.complete or site.failed):
        return "site_complete"
    if progress.remaining == 0:
        return "covered"
    if site is not None and any(
        c.name == progress.claim.commodity and c.remaining <= 0 for c in site.commodities
    ):
        # Kept open, it would sit in `/haul mine` and the board until it expired, for a load
        # nobody needs any more.
        return "covered"
    if now >= progress.claim.expires_at:
        return "expired"
    return None


# --- cargo and carrier stock between snapshots ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Move:
    """One commodity moved by one commander: into (+) or out of (-) their ship and a carrier."""

    key: Key
    commander: str | None
    market_id: int | None  # the market (or carrier) it happened at
    commodity: str
    ship: int
    carrier: int


def moves_of(event: MarketBuyEvent | MarketSellEvent | CargoTransferEvent) -> list[Move]:
    key = key_of(event)
    match event:
        case MarketBuyEvent():
            return [Move(key, event.commander, event.market_id, event.commodity, event.count, -event.count)]
        case MarketSellEvent():
            return [Move(key, event.commander, event.market_id, event.commodity, -event.count, event.count)]
        case CargoTransferEvent():
            out = []
            for t in event.transfers:
                if t.direction.lower() == "tocarrier":
                    out.append(Move(key, event.commander, event.at_market_id, t.commodity, -t.count, t.count))
                elif t.direction.lower() == "toship":
                    out.append(Move(key, event.commander, event.at_market_id, t.commodity, t.count, -t.count))
            return out  # "tosrv" moves nothing between ship and carrier that we count


def _clamped(counts: Mapping[str, int]) -> dict[str, int]:
    return {k: v for k, v in sorted(counts.items()) if v > 0}


def ship_cargo(
    inventory: Iterable[tuple[str, int]],
    inventory_key: Key,
    commander: str,
    moves: Iterable[Move],
    deliveries: Iterable[LedgerEntry],
) -> dict[str, int]:
    """The newest Cargo snapshot moved forward by this commander's later trades and deliveries."""
    counts: dict[str, int] = defaultdict(int)
    for name, count in inventory:
        counts[name] += count
    for m in moves:
        if m.commander == commander and m.key > inventory_key:
            counts[m.commodity] += m.ship
    for e in deliveries:
        if e.commander == commander and e.key > inventory_key:
            counts[e.commodity] -= e.tonnes
    return _clamped(counts)


def carrier_stock(
    snapshot: Mapping[str, int],
    snapshot_key: Key,
    carrier_id: int,
    moves: Iterable[Move],
    until: Key | None = None,
) -> dict[str, int]:
    """A carrier's Market snapshot moved forward by the squadron's moves at it (up to `until`)."""
    return _clamped(_moved(snapshot, snapshot_key, carrier_id, moves, until))


def _moved(
    snapshot: Mapping[str, int], snapshot_key: Key, carrier_id: int, moves: Iterable[Move], until: Key | None
) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int, snapshot)
    for m in moves:
        if m.market_id == carrier_id and m.key > snapshot_key and (until is None or m.key <= until):
            counts[m.commodity] += m.carrier
    return counts


def stock_gap(
    previous: Mapping[str, int],
    previous_key: Key,
    current: Mapping[str, int],
    current_key: Key,
    carrier_id: int,
    moves: Iterable[Move],
) -> dict[str, int]:
    """What the newest snapshot shows beyond (or short of) the previous one moved by tracked moves:
    cargo moved by someone without the uploader, or by the owner's order fills."""
    # Not clamped: a tracked buy of stock that untracked fills brought is part of the gap.
    expected = _moved(previous, previous_key, carrier_id, moves, current_key)
    names = set(expected) | set(current)
    return {
        k: current.get(k, 0) - expected.get(k, 0)
        for k in sorted(names)
        if current.get(k, 0) != expected.get(k, 0)
    }


# --- haulers ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hauler:
    commander: str
    user_id: int | None
    capacity: int | None
    last_seen: datetime | None
    cargo: Mapping[str, int]
    docked_at: int | None = None
    last_delivered: int | None = None  # MarketID of the newest own delivery
    system_name: str | None = None  # where last seen
    station_name: str | None = None

    def active(self, now: datetime) -> bool:
        return self.last_seen is not None and now - self.last_seen <= ACTIVE_WINDOW


@dataclass(frozen=True, slots=True)
class CarrierHold:
    carrier_id: int
    stock: Mapping[str, int]
    sites: tuple[int, ...]


@dataclass(slots=True)
class Attribution:
    """Where each hauler's cargo counts: per (site, commodity), per claim, and line by line."""

    ships: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))
    per_claim: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    cargo: list[CargoView] = field(default_factory=list)


def _cargo(h: Hauler, commodity: str, tonnes: int, market_id: int | None) -> CargoView:
    return CargoView(
        commander=h.commander,
        name=commodity,
        tonnes=tonnes,
        market_id=market_id,
        system_name=h.system_name,
        station_name=h.station_name,
    )


def attribute_cargo(
    haulers: Sequence[Hauler], claims: Sequence[ClaimProgress], finished: Collection[int] = ()
) -> Attribution:
    """Each tonne in a hold goes to one place: the claimer's open claims for it (newest first, up to
    what each still lacks, the rest to the newest), else the site the commander last delivered to,
    else the site they are docked at; a site in `finished` (complete or failed) is no one's target:
    the load a commander buys after finishing one site is for the next."""
    out = Attribution()
    room = {p.claim.id: p.remaining for p in claims}
    mine: dict[tuple[int, str], list[ClaimProgress]] = defaultdict(list)
    for p in sorted(claims, key=lambda p: (p.claim.created_at, p.claim.id), reverse=True):
        mine[(p.claim.user_id, p.claim.commodity)].append(p)
    for h in sorted(haulers, key=lambda h: h.commander):
        for commodity, count in sorted(h.cargo.items()):
            if count <= 0:
                continue
            own = mine.get((h.user_id, commodity), []) if h.user_id is not None else []
            if own:
                left = count
                for p in own:
                    take = min(left, room[p.claim.id])
                    if take > 0:
                        room[p.claim.id] -= take
                        out.per_claim[p.claim.id] += take
                        out.ships[(p.claim.market_id, commodity)] += take
                        out.cargo.append(_cargo(h, commodity, take, p.claim.market_id))
                        left -= take
                if left > 0:
                    site = own[0].claim.market_id
                    out.ships[(site, commodity)] += left
                    out.cargo.append(_cargo(h, commodity, left, site))
                continue
            target = next(
                (m for m in (h.last_delivered, h.docked_at) if m is not None and m not in finished), None
            )
            if target is not None:
                out.ships[(target, commodity)] += count
            out.cargo.append(_cargo(h, commodity, count, target))
    return out


def allocate_carriers(
    carriers: Sequence[CarrierHold], need: Mapping[int, Mapping[str, int]]
) -> dict[int, dict[str, int]]:
    """Each carrier's stock shared among its linked sites (lowest MarketID first), each site taking at
    most its remaining need: a tonne on a carrier is counted at one site only."""
    given: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for carrier in sorted(carriers, key=lambda c: c.carrier_id):
        left = dict(carrier.stock)
        for market_id in sorted(set(carrier.sites)):
            wants = need.get(market_id)
            if wants is None:
                continue
            for commodity, stock in sorted(left.items()):
                take = min(stock, wants.get(commodity, 0) - given[market_id][commodity])
                if take > 0:
                    given[market_id][commodity] += take
                    left[commodity] = stock - take
    return {m: dict(v) for m, v in given.items()}


# --- the board --------------------------------------------------------------------------------


def _ships_then_claims(remaining: int, ships: int, claimed: int) -> tuple[int, int, int]:
    """(remaining, in ships, claimed) of one commodity, the first two parts filled in order and
    capped: what is left, `remaining - in ships - claimed`, is for carriers and open hauls."""
    remaining = max(0, remaining)
    in_ships = min(max(0, ships), remaining)
    return remaining, in_ships, min(max(0, claimed), remaining - in_ships)


def _after_ships_and_claims(remaining: int, ships: int, claimed: int) -> int:
    """What is left of a commodity's need for carriers and open hauls (`board_line`'s order)."""
    remaining, in_ships, claim = _ships_then_claims(remaining, ships, claimed)
    return remaining - in_ships - claim


def board_line(
    name: str,
    localised: str | None,
    remaining: int,
    ships: int,
    claimed: int,
    carriers: int,
    linked: bool,
) -> BoardLineView:
    """The four parts of one commodity's remaining need, filled in order and capped (module doc)."""
    remaining, in_ships, claim = _ships_then_claims(remaining, ships, claimed)
    on_carriers = min(max(0, carriers), remaining - in_ships - claim)
    still_open = remaining - in_ships - claim - on_carriers
    return BoardLineView(
        name=name,
        name_localised=localised,
        remaining=remaining,
        on_carriers=on_carriers,
        in_ships=in_ships,
        claimed=claim,
        open=still_open,
        # What a linked carrier still has to take on: the need less what ships, claims and the
        # carriers' stock already cover. (The need less the stock alone told a carrier to load
        # what haulers were already bringing.)
        to_load_on_carriers=still_open if linked else None,
        surplus=max(0, ships - in_ships),
    )


def capacity_of(haulers: Iterable[Hauler], now: datetime) -> tuple[int, int]:
    """(mean hold of the active haulers, how many); the default hold when none is known."""
    holds = [h.capacity for h in haulers if h.active(now) and h.capacity]
    if not holds:
        return DEFAULT_CAPACITY, 0
    return round(sum(holds) / len(holds)), len(holds)


def trips(tonnes: int, capacity: int) -> int:
    return -(-tonnes // capacity) if capacity > 0 and tonnes > 0 else 0


def rates(ledger: Sequence[LedgerEntry], remaining: int, now: datetime) -> list[RateView]:
    """Delivery rates over the last 3 and 24 hours with the ETA each gives; none before any delivery.
    `ledger` is sorted by key (a site's is)."""
    if not ledger:
        return []
    out = []
    for hours in RATE_WINDOWS:
        low = bisect.bisect_right(ledger, now - timedelta(hours=hours), key=_ts)
        high = bisect.bisect_right(ledger, now, key=_ts)
        delivered = sum(map(_tonnes, ledger[low:high]))
        per_hour = delivered / hours
        eta = None
        if per_hour > 0 and remaining > 0:
            wait = timedelta(hours=remaining / per_hour)
            eta = now + wait if wait <= MAX_ETA else None
        out.append(RateView(window_hours=hours, tonnes=delivered, per_hour=round(per_hour, 3), eta=eta))
    return out


@dataclass(frozen=True, slots=True)
class SiteInput:
    view: SiteView
    ledger: Sequence[LedgerEntry]


def claim_view(
    p: ClaimProgress, site: SiteView | None, in_ships: int, localised: str | None
) -> HaulClaimView:
    c = p.claim
    return HaulClaimView(
        id=c.id,
        market_id=c.market_id,
        site_name=site.station_name if site else None,
        system_name=site.system_name if site else None,
        discord_user_id=str(c.user_id),
        commodity=c.commodity,
        name_localised=localised,
        tonnes=c.tonnes,
        delivered=p.delivered if c.status == "open" else c.delivered_at_close,
        remaining=p.remaining if c.status == "open" else max(0, c.tonnes - c.delivered_at_close),
        in_ships=min(in_ships, p.remaining) if c.status == "open" else 0,
        status=c.status,
        created_at=c.created_at,
        expires_at=c.expires_at,
        closed_at=c.closed_at,
    )


@dataclass(slots=True)
class Boards:
    boards: dict[int, BoardView]
    attribution: Attribution


def build_boards(
    sites: Sequence[SiteInput],
    haulers: Sequence[Hauler],
    carriers: Sequence[CarrierHold],
    claims: Sequence[ClaimProgress],
    now: datetime,
    only: Collection[int] | None = None,
) -> Boards:
    """Every given site's board, or those of the sites in `only` (cargo and carrier stock are still
    shared out over every site). `claims` are the open ones (of any site); closed ones count nowhere."""
    by_id = {s.view.market_id: s for s in sites}
    live = [p for p in claims if p.claim.status == "open" and p.remaining > 0]
    finished = {m for m, s in by_id.items() if s.view.complete or s.view.failed}
    attribution = attribute_cargo(haulers, live, finished)
    unloaded: dict[tuple[int, str], int] = defaultdict(int)
    for p in live:
        unloaded[(p.claim.market_id, p.claim.commodity)] += p.remaining - attribution.per_claim.get(
            p.claim.id, 0
        )
    # What carriers can still cover: the need less what ships and claims cover first (the order
    # `board_line` fills in). Shared out on the full need, a site covered by ships took stock that
    # its cap then hid, and the next linked site never saw it.
    need = {
        m: {c.name: _after_ships_and_claims(c.remaining, attribution.ships.get((m, c.name), 0),
                                            unloaded.get((m, c.name), 0)) for c in s.view.commodities}
        for m, s in by_id.items()
        if m not in finished
    }  # fmt: skip
    on_carriers = allocate_carriers(carriers, need)
    linked = {m for c in carriers for m in c.sites}
    capacity, active = capacity_of(haulers, now)

    boards: dict[int, BoardView] = {}
    for market_id, s in by_id.items():
        if only is not None and market_id not in only:
            continue
        view = s.view
        done = view.complete or view.failed
        lines = []
        for c in view.commodities:
            if c.remaining <= 0 and not done and not attribution.ships.get((market_id, c.name), 0):
                continue  # provided in full, and nobody brings more (that would be surplus)
            remaining = 0 if done else c.remaining
            lines.append(
                board_line(
                    c.name,
                    c.name_localised,
                    remaining,
                    attribution.ships.get((market_id, c.name), 0),
                    unloaded.get((market_id, c.name), 0),
                    on_carriers.get(market_id, {}).get(c.name, 0),
                    market_id in linked,
                )
            )
        lines = [line for line in lines if line.remaining > 0 or line.surplus > 0]
        shown = {line.name for line in lines}
        lines.sort(key=lambda line: (-line.remaining, line.name))
        localised = {c.name: c.name_localised for c in view.commodities}
        total = sum(line.remaining for line in lines)
        ships = sum(line.in_ships for line in lines)
        boards[market_id] = BoardView(
            market_id=market_id,
            site_name=view.station_name,
            system_name=view.system_name,
            complete=done,
            remaining=total,
            on_carriers=sum(line.on_carriers for line in lines),
            in_ships=ships,
            claimed=sum(line.claimed for line in lines),
            open=sum(line.open for line in lines),
            capacity=capacity,
            haulers=active,
            trips=trips(total - ships, capacity),
            rates=[] if done else rates(s.ledger, total, now),
            carriers=sorted(c.carrier_id for c in carriers if market_id in c.sites),
            lines=lines,
            cargo=[c for c in attribution.cargo if c.market_id == market_id and c.name in shown],
            claims=[
                claim_view(
                    p, view, attribution.per_claim.get(p.claim.id, 0), localised.get(p.claim.commodity)
                )
                for p in sorted(live, key=lambda p: (p.claim.created_at, p.claim.id))
                if p.claim.market_id == market_id
            ],
        )
    return Boards(boards, attribution)


def claimable(board: BoardView, commodity: str, own_cargo: int) -> int:
    """What `/haul claim` may still reserve of a commodity: the open need, what waits on carriers, and
    the caller's own cargo already heading there that no claim of theirs covers yet."""
    line = next((line for line in board.lines if line.name == commodity), None)
    if line is None:
        return 0
    return min(line.remaining, line.open + line.on_carriers + max(0, own_cargo))


# --- the plan ---------------------------------------------------------------------------------


def plan(board: BoardView, haulers: Sequence[Hauler], claimers: Iterable[int], now: datetime) -> PlanView:
    """Who could bring what: each active hauler without a claim here gets one hold of the commodity
    with the largest unclaimed need (open plus what waits on carriers), biggest holds first."""
    taken = set(claimers)
    need = {line.name: line.open + line.on_carriers for line in board.lines}
    localised = {line.name: line.name_localised for line in board.lines}
    lines: list[PlanLineView] = []
    seen_users: set[int] = set()
    for h in sorted(haulers, key=lambda h: (-(h.capacity or 0), h.commander)):
        if not h.active(now) or not h.capacity or h.user_id in taken:
            continue
        if h.user_id is not None and h.user_id in seen_users:
            continue  # one line per Discord user: the button claims "my line"
        wanted = sorted(((t, n) for n, t in need.items() if t > 0), key=lambda x: (-x[0], x[1]))
        if not wanted:
            break
        tonnes_left, name = wanted[0]
        amount = min(h.capacity, tonnes_left)
        need[name] -= amount
        if h.user_id is not None:
            seen_users.add(h.user_id)
        lines.append(
            PlanLineView(
                commander=h.commander,
                discord_user_id=str(h.user_id) if h.user_id is not None else None,
                capacity=h.capacity,
                commodity=name,
                name_localised=localised.get(name),
                tonnes=amount,
            )
        )
    return PlanView(
        market_id=board.market_id,
        site_name=board.site_name,
        lines=lines,
        unassigned=sum(need.values()),
        already_claimed=sorted(str(u) for u in taken),
    )
