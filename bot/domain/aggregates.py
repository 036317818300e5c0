"""Totals over sites: per commodity, per system, the leaderboard, counts, system search."""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.guild import GuildState
from bot.views import (
    CargoLineView,
    CarrierView,
    ClaimView,
    CommanderView,
    CommodityTotalView,
    LeaderboardEntry,
    SiteView,
    StatsView,
    SystemMatchView,
    SystemSummaryView,
    SystemView,
    TradeOrderView,
)


def in_progress(site: SiteView) -> bool:
    return not site.complete and not site.failed


def commodity_totals(sites: Iterable[SiteView]) -> list[CommodityTotalView]:
    """Per commodity over the sites still being built, most remaining first."""

    @dataclass
    class Acc:
        localised: str | None = None
        required: int = 0
        provided: int = 0
        remaining: int = 0
        requiring: int = 0
        payments: int = 0
        paid_sites: int = 0

    accs: dict[str, Acc] = defaultdict(Acc)
    for site in sites:
        if not in_progress(site):
            continue
        for c in site.commodities:
            acc = accs[c.name]
            acc.localised = acc.localised or c.name_localised
            acc.required += c.required
            acc.provided += c.provided
            acc.remaining += c.remaining
            if c.remaining > 0:
                acc.requiring += 1
                acc.payments += c.payment
                acc.paid_sites += 1
    totals = [
        CommodityTotalView(
            name=name,
            name_localised=acc.localised,
            required=acc.required,
            provided=acc.provided,
            remaining=acc.remaining,
            sites_requiring=acc.requiring,
            average_payment=acc.payments / acc.paid_sites if acc.paid_sites else None,
            progress=min(1.0, acc.provided / acc.required) if acc.required else 1.0,
        )
        for name, acc in accs.items()
    ]
    totals.sort(key=lambda t: (-t.remaining, t.name))
    return totals


def _completion(sites: Sequence[SiteView]) -> float:
    required = sum(s.required_total for s in sites)
    if required == 0:
        return 1.0 if sites and all(s.complete for s in sites) else 0.0
    # A complete site is done whatever its last snapshot said (the game may not write a 100% one).
    provided = sum(s.required_total if s.complete else s.required_total - s.remaining_total for s in sites)
    return min(1.0, provided / required)


def by_system(sites: Iterable[SiteView]) -> dict[str, list[SiteView]]:
    systems: dict[str, list[SiteView]] = defaultdict(list)
    for site in sites:
        if site.system_name is not None:
            systems[site.system_name].append(site)
    return systems


def _address(sites: Sequence[SiteView]) -> int | None:
    return next((s.system_address for s in sites if s.system_address is not None), None)


def system_summary(name: str, sites: Sequence[SiteView]) -> SystemSummaryView:
    return SystemSummaryView(
        name=name,
        address=_address(sites),
        sites=len(sites),
        sites_done=sum(1 for s in sites if s.complete),
        sites_in_progress=sum(1 for s in sites if in_progress(s)),
        completion=_completion(sites),
    )


def system_summaries(sites: Iterable[SiteView]) -> list[SystemSummaryView]:
    return [system_summary(name, group) for name, group in sorted(by_system(sites).items())]


def system_view(name: str, sites: Sequence[SiteView]) -> SystemView:
    commodities = commodity_totals(sites)
    most = next((c for c in commodities if c.remaining > 0), None)
    summary = system_summary(name, sites)
    return SystemView(
        name=name,
        address=summary.address,
        sites_done=summary.sites_done,
        sites_in_progress=summary.sites_in_progress,
        completion=summary.completion,
        most_needed=most,
        commodities=commodities,
        sites=list(sites),
    )


# A name this long may be a longer one cut short: Discord returns an option value (what an
# autocomplete choice gives back) of at most 100 characters, "system:" included.
CUT_NAME_LENGTH = 93


def find_system(name: str, sites: Iterable[SiteView]) -> tuple[str, list[SiteView]] | None:
    """The system named `name`, compared case-insensitively (names are typed by hand); a long
    name cut short names the one system it begins, if only one does."""
    wanted = name.casefold()
    systems = by_system(sites)
    for system, group in systems.items():
        if system.casefold() == wanted:
            return system, group
    if len(wanted) >= CUT_NAME_LENGTH:
        begun = [(system, group) for system, group in systems.items() if system.casefold().startswith(wanted)]
        if len(begun) == 1:
            return begun[0]
    return None


def _similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def _token_score(query: str, name: str) -> float:
    """How well each word typed matches some word of the name ('col 258 gf-f' for 'Col 285 Sector GF-F')."""
    words = name.split()
    typed = query.split()
    if not typed or not words:
        return 0.0
    best = [max(1.0 if w.startswith(t) else _similar(t, w) for w in words) for t in typed]
    return sum(best) / len(best)


def search_systems(query: str, sites: Iterable[SiteView], limit: int = 25) -> list[SystemMatchView]:
    """Fuzzy system search: exact, prefix and substring matches first, then similar spellings."""
    wanted = " ".join(query.casefold().split())
    matches: list[SystemMatchView] = []
    for name, group in by_system(sites).items():
        folded = name.casefold()
        if not wanted or folded == wanted:
            score = 1.0
        elif folded.startswith(wanted):
            score = 0.9
        elif wanted in folded:
            score = 0.8
        else:
            score = max(_similar(wanted, folded), _token_score(wanted, folded)) * 0.75
            if score < 0.55:
                continue
        matches.append(SystemMatchView(name=name, score=round(score, 4), summary=system_summary(name, group)))
    matches.sort(key=lambda m: (-m.score, m.name))
    return matches[:limit]


def leaderboard(
    state: GuildState, market_id: int | None = None, since: datetime | None = None
) -> list[LeaderboardEntry]:
    tonnes: dict[str, int] = defaultdict(int)
    deliveries: dict[str, int] = defaultdict(int)
    sites: dict[str, set[int]] = defaultdict(set)
    chosen = (
        [state.sites[market_id]]
        if market_id is not None and market_id in state.sites
        else ([] if market_id is not None else list(state.sites.values()))
    )
    for site in chosen:
        if since is None:
            for (commander, _commodity), amount in site.totals.items():
                tonnes[commander] += amount
                sites[commander].add(site.market_id)
            for entry in site.ledger:
                deliveries[entry.commander] += 1
            continue
        for entry in site.ledger:
            if entry.key.ts >= since:
                tonnes[entry.commander] += entry.tonnes
                deliveries[entry.commander] += 1
                sites[entry.commander].add(site.market_id)
    ranked = sorted(tonnes.items(), key=lambda item: (-item[1], item[0]))
    return [
        LeaderboardEntry(
            rank=index + 1,
            commander=commander,
            tonnes=amount,
            deliveries=deliveries[commander],
            sites=len(sites[commander]),
        )
        for index, (commander, amount) in enumerate(ranked)
    ]


def commander_views(state: GuildState) -> list[CommanderView]:
    views = []
    for cmdr in state.commanders.values():
        where = cmdr.where
        views.append(
            CommanderView(
                name=cmdr.name,
                discord_user_id=str(cmdr.uploader.user_id) if cmdr.uploader else None,
                last_seen=cmdr.last_seen,
                system_name=where.system_name if where else None,
                system_address=where.system_address if where else None,
                station_name=where.station_name if where else None,
                market_id=where.market_id if where else None,
                ship=cmdr.ship.ship if cmdr.ship else None,
                cargo_capacity=cmdr.ship.cargo_capacity if cmdr.ship else None,
                cargo_count=cmdr.cargo.count if cmdr.cargo else None,
                cargo=[
                    CargoLineView(name=i.name, name_localised=i.name_localised, count=i.count)
                    for i in (cmdr.inventory.items if cmdr.inventory else ())
                ],
            )
        )
    views.sort(key=lambda v: v.name.casefold())
    return views


def carrier_callsign(state: GuildState, carrier_id: int) -> str | None:
    """From the owner's CarrierStats, else the carrier's station name (a member's Market.json or
    docking names it by its callsign): a carrier whose owner sends nothing is still found by it."""
    carrier = state.carriers.get(carrier_id)
    if carrier is not None and carrier.stats is not None and carrier.stats.callsign:
        return carrier.stats.callsign
    seen = state.stations.get(carrier_id)
    return seen.station_name if seen is not None else None


def carrier_system(state: GuildState, carrier_id: int) -> tuple[str | None, int | None]:
    """Where the carrier is (system name, address): the newer of its owner's events and where a
    member last saw it (docked, or its Market.json): what the squadron knows, not "unknown"."""
    carrier = state.carriers.get(carrier_id)
    place = carrier.place if carrier is not None else None
    seen = state.stations.get(carrier_id)
    if seen is not None and seen.system_name and (place is None or seen.key > place.key):
        return seen.system_name, seen.system_address
    return (place.system_name, place.system_address) if place is not None else (None, None)


def carrier_views(state: GuildState) -> list[CarrierView]:
    views = []
    for carrier in state.carriers.values():
        stats, plan = carrier.stats, carrier.pending_jump()
        system_name, system_address = carrier_system(state, carrier.carrier_id)
        views.append(
            CarrierView(
                carrier_id=carrier.carrier_id,
                name=stats.name if stats else None,
                callsign=carrier_callsign(state, carrier.carrier_id),
                carrier_type=stats.carrier_type if stats else None,
                docking_access=stats.docking_access if stats else None,
                system_name=system_name,
                system_address=system_address,
                jump_to=plan.system_name if plan else None,
                jump_body=plan.body if plan else None,
                departure_time=plan.departure_time if plan else None,
                fuel=carrier.fuel.level if carrier.fuel else None,
                cargo_used=stats.cargo_used if stats else None,
                total_capacity=stats.total_capacity if stats else None,
                free_space=stats.free_space if stats else None,
                orders=[
                    TradeOrderView(
                        commodity=o.commodity,
                        commodity_localised=o.commodity_localised,
                        purchase=o.purchase,
                        sale=o.sale,
                        price=o.price,
                    )
                    for o in sorted(carrier.orders.values(), key=lambda o: o.commodity)
                    if not o.cancelled
                ],
                stock=[
                    CargoLineView(name=i.name, name_localised=i.name_localised, count=i.stock)
                    for i in (carrier.stock.items if carrier.stock else ())
                    if i.stock > 0
                ],
            )
        )
    views.sort(key=lambda v: v.carrier_id)
    return views


def claim_views(state: GuildState) -> list[ClaimView]:
    return sorted(
        (
            ClaimView(
                system_name=c.system_name,
                system_address=c.system_address,
                commander=c.claimed.commander,
                claimed_at=c.claimed.key.ts,
            )
            for c in state.claims.values()
            if c.active and c.claimed is not None
        ),
        key=lambda v: v.system_name,
    )


def stats(state: GuildState, sites: Sequence[SiteView]) -> StatsView:
    return StatsView(
        sites=len(sites),
        sites_done=sum(1 for s in sites if s.complete),
        sites_in_progress=sum(1 for s in sites if in_progress(s)),
        systems=len({s.system_name for s in sites if s.system_name}),
        commanders=len(state.commanders),
        carriers=len(state.carriers),
        claims_active=sum(1 for c in state.claims.values() if c.active),
        events=state.events_stored,
        deliveries=sum(len(site.ledger) for site in state.sites.values()),
        tonnes_delivered=sum(sum(site.by_commodity.values()) for site in state.sites.values()),
        tonnes_unattributed=sum(u.tonnes for s in sites for u in s.unattributed),
    )
