"""Property: over random sequences of claims, cargo changes, trades, deliveries and snapshots, every
board adds up (remaining = in ships + claimed + on carriers + open), nothing is negative, open never
exceeds remaining, and no tonne of a hold or a carrier is counted at two places."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import hauling as domain
from bot.domain.keys import Key
from bot.domain.sites import LedgerEntry
from bot.views import CommodityView, SiteView

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SITES = (3_950_000_001, 3_950_000_002)
CARRIER = 3_700_000_009
GOODS = ("steel", "titanium", "polymers")
CMDRS = (("Alpha", 1), ("Bravo", 2), ("Charlie", 2), ("Delta", 3))  # Bravo and Charlie: one Discord user


@dataclass
class World:
    step: int = 0
    required: dict[tuple[int, str], int] = field(default_factory=dict)
    delivered_seen: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))
    unattributed: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))
    ledger: list[LedgerEntry] = field(default_factory=list)
    inventories: dict[str, tuple[Key, dict[str, int]]] = field(default_factory=dict)
    moves: list[domain.Move] = field(default_factory=list)
    carrier: tuple[Key, dict[str, int]] | None = None
    claims: list[domain.Claim] = field(default_factory=list)
    complete: set[int] = field(default_factory=set)

    def key(self) -> Key:
        self.step += 1
        return Key(T0 + timedelta(seconds=self.step), "Journal.test.log", self.step, f"e{self.step}")

    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.step + 1)

    def remaining(self, market_id: int, good: str) -> int:
        k = (market_id, good)
        return max(0, self.required[k] - self.delivered_seen[k] - self.unattributed[k])

    def view(self, market_id: int) -> SiteView:
        goods = [
            CommodityView(
                name=g,
                required=self.required[(market_id, g)],
                provided=self.required[(market_id, g)] - self.remaining(market_id, g),
                remaining=self.remaining(market_id, g),
            )
            for g in GOODS
        ]
        return SiteView(
            market_id=market_id, station_name=f"Site {market_id}", station_type=None, system_name="Sys",
            system_address=1, progress=0.5, complete=market_id in self.complete, failed=False,
            updated_at=T0, commodities=goods, contributions=[],
        )  # fmt: skip

    def cargo(self, commander: str) -> dict[str, int]:
        if commander not in self.inventories:
            return {}
        key, items = self.inventories[commander]
        return domain.ship_cargo(items.items(), key, commander, self.moves, self.ledger)

    def haulers(self) -> list[domain.Hauler]:
        out = []
        for name, user in CMDRS:
            last = max((e for e in self.ledger if e.commander == name), key=lambda e: e.order, default=None)
            out.append(
                domain.Hauler(
                    commander=name, user_id=user, capacity=720 if user != 3 else None, last_seen=self.now(),
                    cargo=self.cargo(name), last_delivered=last.market_id if last else None,
                )
            )  # fmt: skip
        return out

    def stock(self) -> dict[str, int]:
        if self.carrier is None:
            return {}
        key, items = self.carrier
        return domain.carrier_stock(items, key, CARRIER, self.moves)

    def boards(self) -> domain.Boards:
        progress = [
            domain.ClaimProgress(c, domain.delivered_toward(c, self.ledger))
            for c in self.claims
            if c.status == "open"
        ]
        sites = [domain.SiteInput(self.view(m), [e for e in self.ledger if e.market_id == m]) for m in SITES]
        carriers = [domain.CarrierHold(CARRIER, self.stock(), SITES)]
        return domain.build_boards(sites, self.haulers(), carriers, progress, self.now())


actions = st.one_of(
    st.tuples(st.just("claim"), st.sampled_from(CMDRS), st.sampled_from(SITES), st.sampled_from(GOODS),
              st.integers(1, 3000)),
    st.tuples(st.just("cargo"), st.sampled_from(CMDRS), st.sampled_from(GOODS), st.integers(0, 800)),
    st.tuples(st.just("buy"), st.sampled_from(CMDRS), st.sampled_from(GOODS), st.integers(1, 800)),
    st.tuples(st.just("sell"), st.sampled_from(CMDRS), st.sampled_from(GOODS), st.integers(1, 800)),
    st.tuples(st.just("tocarrier"), st.sampled_from(CMDRS), st.sampled_from(GOODS), st.integers(1, 800)),
    st.tuples(st.just("deliver"), st.sampled_from(CMDRS), st.sampled_from(SITES), st.sampled_from(GOODS),
              st.integers(1, 800)),
    st.tuples(st.just("snapshot"), st.sampled_from(SITES), st.sampled_from(GOODS), st.integers(0, 500)),
    st.tuples(st.just("market"), st.sampled_from(GOODS), st.integers(0, 5000)),
    st.tuples(st.just("expire"), st.integers(0, 20)),
    st.tuples(st.just("complete"), st.sampled_from(SITES)),
)  # fmt: skip


def apply(world: World, action: tuple[object, ...]) -> None:
    match action:
        case ("claim", (str(), int(user)), int(site), str(good), int(tonnes)):
            key = world.key()
            world.claims.append(
                domain.Claim(
                    len(world.claims) + 1, site, user, good, tonnes, key.ts, key.ts + timedelta(hours=4)
                )
            )
        case ("cargo", (str(name), int()), str(good), int(count)):
            items = dict(world.cargo(name))
            items[good] = count
            world.inventories[name] = (world.key(), items)
        case ("buy" | "sell" | "tocarrier" as kind, (str(name), int()), str(good), int(count)):
            ship = count if kind == "buy" else -count
            world.moves.append(domain.Move(world.key(), name, CARRIER, good, ship, -ship))
        case ("deliver", (str(name), int(user)), int(site), str(good), int(count)):
            have = world.cargo(name).get(good, 0)
            amount = min(count, have)
            if amount > 0 and site not in world.complete:
                entry = LedgerEntry(world.key(), 0, site, name, good, None, amount, user)
                world.ledger.append(entry)
                world.delivered_seen[(site, good)] += amount
        case ("snapshot", int(site), str(good), int(extra)):
            world.unattributed[(site, good)] += extra  # someone without the uploader delivered
            world.key()
        case ("market", str(good), int(count)):
            items = dict(world.stock())
            items[good] = count
            world.carrier = (world.key(), items)
        case ("expire", int(index)):
            if world.claims:
                claim = world.claims[index % len(world.claims)]
                world.claims[index % len(world.claims)] = domain.Claim(
                    claim.id, claim.market_id, claim.user_id, claim.commodity, claim.tonnes,
                    claim.created_at, claim.expires_at, "expired", world.now(), 0,
                )  # fmt: skip
        case ("complete", int(site)):
            world.complete.add(site)


def check(world: World) -> None:
    result = world.boards()
    ships_total: dict[str, int] = defaultdict(int)
    for h in world.haulers():
        for good, count in h.cargo.items():
            assert count > 0
            ships_total[good] += count
    counted_ships: dict[str, int] = defaultdict(int)
    counted_carriers: dict[str, int] = defaultdict(int)
    for market_id, board in result.boards.items():
        for line in board.lines:
            parts = (line.in_ships, line.claimed, line.on_carriers, line.open, line.surplus)
            assert all(p >= 0 for p in parts), line
            assert line.in_ships + line.claimed + line.on_carriers + line.open == line.remaining, line
            assert line.open <= line.remaining
            expected = 0 if market_id in world.complete else world.remaining(market_id, line.name)
            assert line.remaining == expected
            counted_ships[line.name] += line.in_ships + line.surplus
            counted_carriers[line.name] += line.on_carriers
        assert board.remaining == sum(line.remaining for line in board.lines)
        assert board.remaining == board.in_ships + board.claimed + board.on_carriers + board.open
        for claim in board.claims:
            assert 0 <= claim.in_ships <= claim.remaining <= claim.tonnes
    stock = world.stock()
    for good in GOODS:
        # A hold's tonne counts at one site at most; a carrier's too.
        assert counted_ships[good] <= ships_total[good]
        assert counted_carriers[good] <= stock.get(good, 0)
    attributed = sum(c.tonnes for c in result.attribution.cargo)
    assert attributed == sum(ships_total.values())  # every tonne in a hold is listed exactly once


@settings(max_examples=300, deadline=None)
@given(
    required=st.lists(
        st.integers(0, 6000), min_size=len(SITES) * len(GOODS), max_size=len(SITES) * len(GOODS)
    ),
    steps=st.lists(actions, max_size=40),
)
def test_every_board_adds_up_whatever_happens(required: list[int], steps: list[tuple[object, ...]]) -> None:
    world = World()
    for i, (site, good) in enumerate((s, g) for s in SITES for g in GOODS):
        world.required[(site, good)] = required[i]
    check(world)
    for action in steps:
        apply(world, action)
        check(world)
