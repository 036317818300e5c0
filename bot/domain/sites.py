"""Construction sites: the newest depot snapshot, the contribution ledger, and the view of both.

DESIGN section 5: the newest `ColonisationConstructionDepot` snapshot (by game time) is the truth
for required, provided, progress and completion; contributions after it are provisional progress;
tonnes the snapshot shows but no ledger entry explains are "unattributed". Never count a tonne twice.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.domain.keys import Key
from bot.views import CommodityView, ContributionView, SiteView, UnattributedView
from wire import DepotResource

# The game wrote its first depot readings with update 4.1.1 (2025-04-08). A construction site
# docked at only before then can never be read: shown, it would stay "in progress" for good.
DEPOT_READINGS_SINCE = datetime(2025, 4, 8, tzinfo=UTC)
UNKNOWN_COMMANDER = "unknown commander"


@dataclass(frozen=True, slots=True)
class Resource:
    name: str
    name_localised: str | None
    required: int
    provided: int
    payment: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    key: Key
    progress: float
    complete: bool
    failed: bool
    resources: tuple[Resource | DepotResource, ...]  # the wire's, or loaded from the projections


@dataclass(frozen=True, slots=True)
class Identity:
    """What a MarketID is called and where it is; the newest sighting wins (renames, re-types).

    Name and system come from the newest sighting carrying both; type and address each from the
    newest sighting carrying one, so a sighting that lacks them never erases them.
    """

    key: Key
    station_name: str | None
    system_name: str | None
    type_key: Key | None = None
    station_type: str | None = None
    address_key: Key | None = None
    system_address: int | None = None


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One commodity of one `ColonisationContribution`: who delivered what, where, when."""

    key: Key
    item: int  # position in the event's items: one event can hand in several commodities
    market_id: int
    commander: str
    commodity: str
    name_localised: str | None
    tonnes: int
    user_id: int

    @property
    def order(self) -> tuple[Key, int]:
        return (self.key, self.item)


@dataclass(slots=True)
class SiteState:
    market_id: int
    snapshot: Snapshot | None = None
    flagged: bool = False  # seen docked as a construction site
    complete: bool = False  # sticky: completion cannot be undone, whatever arrives late
    completed_at: datetime | None = None  # earliest game time completion was seen
    updated_at: datetime | None = None  # newest game time of an event about this site
    ledger: list[LedgerEntry] = field(default_factory=list)  # sorted by (key, item)
    _orders: list[tuple[Key, int]] = field(default_factory=list)
    totals: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    by_commodity: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # The parts of the last view built, reused by the next when unchanged (most are: a batch
    # usually moves one or two commodities of a site), since building them is the costly part.
    parts: dict[tuple[object, ...], CommodityView | ContributionView] = field(default_factory=dict)

    @property
    def known(self) -> bool:
        """A site is shown once it is known as one: a depot snapshot or a construction-site docking.

        Contributions alone (the site's depot never seen) are kept and appear once it is known.
        """
        return self.snapshot is not None or self.flagged

    def touch(self, moment: datetime) -> None:
        if self.updated_at is None or moment > self.updated_at:
            self.updated_at = moment

    def mark_complete(self, moment: datetime) -> bool:
        changed = not self.complete or (self.completed_at is not None and moment < self.completed_at)
        self.complete = True
        if self.completed_at is None or moment < self.completed_at:
            self.completed_at = moment
        return changed

    def add_entry(self, entry: LedgerEntry) -> None:
        index = bisect.bisect_right(self._orders, entry.order)
        self._orders.insert(index, entry.order)
        self.ledger.insert(index, entry)
        self.totals[(entry.commander, entry.commodity)] += entry.tonnes
        self.by_commodity[entry.commodity] += entry.tonnes
        self.touch(entry.key.ts)

    def after_snapshot(self) -> list[LedgerEntry]:
        """Ledger entries newer than the newest snapshot: not yet in any snapshot's numbers."""
        if self.snapshot is None:
            return self.ledger
        index = bisect.bisect_right(self._orders, (self.snapshot.key, 2**62))
        return self.ledger[index:]


def build_site_view(site: SiteState, identity: Identity | None) -> SiteView:
    snap = site.snapshot
    later: dict[str, int] = defaultdict(int)
    for entry in site.after_snapshot():
        later[entry.commodity] += entry.tonnes

    old_parts = site.parts
    parts: dict[tuple[object, ...], CommodityView | ContributionView] = {}
    commodities: list[CommodityView] = []
    unattributed: list[UnattributedView] = []
    progress = 0.0
    if snap is not None:
        required_total = provided_total = 0
        provisional_total = 0
        for res in snap.resources:
            # A later delivery can only fill what the snapshot still lacked (never count a tonne twice).
            provisional = max(0, min(later.get(res.name, 0), res.required - res.provided))
            provided = res.provided + provisional
            part: tuple[object, ...] = (
                "c",
                res.name,
                res.name_localised,
                res.required,
                provided,
                res.payment,
                provisional,
            )
            commodity = old_parts.get(part)
            if not isinstance(commodity, CommodityView):
                commodity = CommodityView.model_construct(
                    name=res.name,
                    name_localised=res.name_localised,
                    required=res.required,
                    provided=provided,
                    remaining=max(0, res.required - provided),
                    payment=res.payment,
                    provisional=provisional,
                )
            parts[part] = commodity
            commodities.append(commodity)
            required_total += res.required
            provided_total += provided
            provisional_total += provisional
            explained = site.by_commodity.get(res.name, 0) - later.get(res.name, 0)
            if res.provided > explained:
                unattributed.append(
                    UnattributedView.model_construct(commodity=res.name, tonnes=res.provided - explained)
                )
        if provisional_total == 0 or required_total == 0:
            progress = snap.progress
        else:
            progress = max(snap.progress, min(1.0, provided_total / required_total))

    contributions: list[ContributionView] = []
    for (commander, commodity_name), tonnes in sorted(site.totals.items()):
        part = ("t", commander, commodity_name, tonnes)
        contribution = old_parts.get(part)
        if not isinstance(contribution, ContributionView):
            contribution = ContributionView.model_construct(
                commander=commander, commodity=commodity_name, tonnes=tonnes
            )
        parts[part] = contribution
        contributions.append(contribution)
    site.parts = parts
    # model_construct: these values come from validated events; validating them again costs a lot
    # (a view per changed site after every batch) and can find nothing wrong.
    return SiteView.model_construct(
        market_id=site.market_id,
        station_name=identity.station_name if identity else None,
        station_type=identity.station_type if identity else None,
        system_name=identity.system_name if identity else None,
        system_address=identity.system_address if identity else None,
        progress=progress,
        snapshot_progress=snap.progress if snap else None,
        snapshot_at=snap.key.ts if snap else None,
        complete=site.complete,
        completed_at=site.completed_at if site.complete else None,
        failed=snap.failed if snap else False,
        updated_at=site.updated_at,
        commodities=commodities,
        contributions=contributions,
        unattributed=unattributed,
    )
