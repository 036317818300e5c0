"""DESIGN section 5 on the pure state: no I/O, events in, views out."""

from __future__ import annotations

import random
from typing import Any

from pydantic import TypeAdapter

from bot.domain import aggregates
from bot.domain.guild import GuildState
from bot.domain.keys import Envelope
from tests.bot._helpers import Journal
from wire import KnownEvent

SITE = 3958981890
_EVENT: TypeAdapter[KnownEvent] = TypeAdapter(KnownEvent)


def state_of(events: list[dict[str, Any]], user_id: int = 7) -> GuildState:
    state = GuildState(1)
    for raw in events:
        state.apply(Envelope(_EVENT.validate_python(raw), user_id, 1))
    return state


def test_newest_snapshot_wins_whatever_the_arrival_order() -> None:
    a, b = Journal("Alice"), Journal("Bob", source="Journal.2025-04-09T100000.01.log")
    old = a.depot(0, SITE, {"steel": (1000, 100)})
    new = b.depot(60, SITE, {"steel": (800, 700)})  # requirements can go down: no maxima kept
    for order in ([old, new], [new, old]):
        view = state_of(order).site_view(SITE)
        assert view is not None
        assert [(c.required, c.provided) for c in view.commodities] == [(800, 700)]
        assert view.snapshot_progress == new["progress"]


def test_same_second_ties_are_broken_by_source_then_offset() -> None:
    a = Journal("Alice", source="A.log")
    first = a.depot(0, SITE, {"steel": (100, 10)})
    second = a.depot(0, SITE, {"steel": (100, 20)})  # same second, later offset in the same file
    for order in ([first, second], [second, first]):
        view = state_of(order).site_view(SITE)
        assert view is not None
        assert view.commodities[0].provided == 20


def test_deliveries_after_the_snapshot_are_provisional_and_never_counted_twice() -> None:
    a = Journal("Alice")
    events = [a.depot(0, SITE, {"steel": (1000, 400), "titanium": (100, 0)})]
    events.append(a.contribution(1, SITE, {"steel": 50}))
    view = state_of(events).site_view(SITE)
    assert view is not None
    steel = view.commodities[0]
    assert (steel.provided, steel.provisional, steel.remaining) == (450, 50, 550)
    assert view.progress == 450 / 1100
    # The next snapshot already includes those 50 t: provisional drops back to zero.
    events.append(a.depot(1.01, SITE, {"steel": (1000, 450), "titanium": (100, 0)}))
    view = state_of(events).site_view(SITE)
    assert view is not None
    assert (view.commodities[0].provided, view.commodities[0].provisional) == (450, 0)
    assert view.contributions[0].tonnes == 50
    assert view.unattributed == [view.unattributed[0]]  # 400 t from before anyone uploaded
    assert (view.unattributed[0].commodity, view.unattributed[0].tonnes) == ("steel", 400)


def test_provisional_never_exceeds_what_was_still_required() -> None:
    a = Journal("Alice")
    events = [a.depot(0, SITE, {"steel": (100, 90)}), a.contribution(1, SITE, {"steel": 50})]
    view = state_of(events).site_view(SITE)
    assert view is not None
    assert (view.commodities[0].provided, view.commodities[0].provisional, view.progress) == (100, 10, 1.0)
    assert not view.complete  # progress 1.0 is not done


def test_unattributed_is_computed_and_never_negative() -> None:
    a, b = Journal("Alice"), Journal("Bob", source="B.log")
    events = [
        a.contribution(0, SITE, {"steel": 30}),
        b.contribution(1, SITE, {"steel": 20, "titanium": 5}),
        a.depot(2, SITE, {"steel": (1000, 80), "titanium": (100, 3)}),  # 3 < 5: the ledger explains more
    ]
    view = state_of(events).site_view(SITE)
    assert view is not None
    assert [(u.commodity, u.tonnes) for u in view.unattributed] == [("steel", 30)]


def test_renames_and_retypes_keep_the_market_ids_history() -> None:
    a = Journal("Alice")
    events = [
        a.docked(0, SITE, "System Colonisation Ship", station_type="SurfaceStation"),
        a.depot(0, SITE, {"steel": (100, 0)}),
        a.contribution(1, SITE, {"steel": 100}),
        a.depot(1, SITE, {"steel": (100, 100)}, complete=True, progress=1.0),
        a.docked(900, SITE, "Derekas Platform", station_type="Orbis"),
    ]
    random.Random(4).shuffle(events)
    view = state_of(events).site_view(SITE)
    assert view is not None
    assert (view.station_name, view.station_type, view.complete) == ("Derekas Platform", "Orbis", True)
    assert view.contributions[0].tonnes == 100


def test_a_contribution_for_an_unknown_site_is_kept_and_shown_once_known() -> None:
    a = Journal("Alice")
    state = state_of([a.contribution(0, SITE, {"steel": 40})])
    assert state.site_view(SITE) is None
    assert state.site_views() == []
    assert aggregates.leaderboard(state)[0].tonnes == 40  # kept in the ledger meanwhile
    state.apply(
        Envelope(
            _EVENT.validate_python(Journal("Bob", source="B.log").depot(5, SITE, {"steel": (100, 60)})), 8, 2
        )
    )
    view = state.site_view(SITE)
    assert view is not None
    assert view.contributions[0].tonnes == 40
    assert [(u.commodity, u.tonnes) for u in view.unattributed] == [("steel", 20)]


def test_a_site_docked_at_before_the_game_wrote_depot_readings_is_not_shown() -> None:
    """Before update 4.1.1 (2025-04-08) the game wrote no depot readings: a site docked at then
    and never read since would be "in progress, requirements not read yet" for good."""
    a = Journal("Alice")
    march = -60 * 24 * 40  # minutes: 40 days before 2025-04-08T21:00
    docked = a.docked(march, SITE, "System Colonisation Ship")
    state = state_of([docked, a.event("undocked", march + 5, market_id=SITE)])
    assert state.site_views() == []
    assert aggregates.stats(state, state.site_views()).sites_in_progress == 0
    # Docked at again once the game reads depots: shown at once, as any site.
    state.apply(Envelope(_EVENT.validate_python(a.docked(0, SITE, "System Colonisation Ship")), 7, 1))
    assert [v.market_id for v in state.site_views()] == [SITE]


def test_done_means_construction_complete_and_stays_done() -> None:
    a = Journal("Alice")
    nearly = a.depot(0, SITE, {"steel": (100, 100)}, progress=1.0)
    assert state_of([nearly]).site_view(SITE).complete is False  # type: ignore[union-attr]
    done_event = a.event("construction_complete", 1, market_id=SITE)
    assert state_of([nearly, done_event]).site_view(SITE).complete is True  # type: ignore[union-attr]
    # A late-arriving older snapshot (complete false) does not move the site backwards.
    done = a.depot(5, SITE, {"steel": (100, 100)}, complete=True, progress=1.0)
    older = Journal("Bob", source="B.log").depot(-60, SITE, {"steel": (100, 30)})
    view = state_of([done, older]).site_view(SITE)
    assert view is not None
    assert (view.complete, view.commodities[0].provided) == (True, 100)


def test_any_arrival_order_gives_the_same_state() -> None:
    a = Journal("Alice", fid="F1")
    b = Journal("Bob", source="Journal.2025-04-01T100000.01.log")
    events = [
        a.docked(0, SITE, "Site"),
        a.depot(0, SITE, {"steel": (1000, 100), "titanium": (300, 0)}),
        a.contribution(1, SITE, {"steel": 50}),
        a.depot(1, SITE, {"steel": (1000, 150), "titanium": (300, 0)}),
        b.contribution(2, SITE, {"titanium": 30}),
        b.depot(2.5, SITE, {"steel": (1000, 150), "titanium": (300, 30)}),
        a.contribution(3, SITE, {"steel": 25, "titanium": 5}),
        a.event("loadout", 0.5, ship="type9", cargo_capacity=790),
        a.event("cargo", 0.7, count=3, inventory=[{"name": "steel", "count": 3}]),
        b.event("fsd_jump", 4, system_name="Elsewhere"),
        a.event("carrier_location", 0.2, carrier_id=3710508288, system_name="HIP 1"),
        a.event(
            "carrier_trade_order", 0.3, carrier_id=3710508288, commodity="steel", sale_order=500, price=1
        ),
        a.event("system_claim", 0.1, system_name="New Sys", system_address=42),
    ]
    reference = state_of(events)
    expected = (
        reference.site_views(),
        aggregates.commander_views(reference),
        aggregates.carrier_views(reference),
    )
    rng = random.Random(1)
    for _ in range(20):
        shuffled = events[:]
        rng.shuffle(shuffled)
        state = state_of(shuffled)
        assert (
            state.site_views(),
            aggregates.commander_views(state),
            aggregates.carrier_views(state),
        ) == expected
    site = expected[0][0]
    assert [(c.name, c.provided, c.provisional) for c in site.commodities] == [
        ("steel", 175, 25),
        ("titanium", 35, 5),
    ]


def test_commanders_carriers_and_claims() -> None:
    a = Journal("Alice", fid="F1")
    events = [
        a.event("location", 0, system_name="Start", docked=False),
        a.docked(1, 3710508288, "H5L-69X", site=False, station_type="FleetCarrier", system="HIP 1"),
        a.event("loadout", 2, ship="type9", cargo_capacity=790),
        a.event("cargo", 3, count=776, inventory=[{"name": "titanium", "count": 776}]),
        a.event(
            "carrier_stats", 4, carrier_id=3710508288, callsign="H5L-69X", name="Haulers", fuel_level=500
        ),
        a.event(
            "carrier_jump_request",
            5,
            carrier_id=3710508288,
            system_name="Target",
            departure_time="2025-04-08T22:00:00Z",
        ),
        a.event("carrier_deposit_fuel", 6, carrier_id=3710508288, amount=100, total=600),
        a.event("system_claim", 7, system_name="Claimed", system_address=99),
        a.event("system_claim", 8, system_name="Released", system_address=100),
        a.event("system_claim_release", 9, system_name="Released", system_address=100),
        a.event("beacon_deployed", 10),
    ]
    state = state_of(events)
    [cmdr] = aggregates.commander_views(state)
    assert (cmdr.system_name, cmdr.station_name, cmdr.cargo_capacity, cmdr.cargo_count) == (
        "HIP 1",
        "H5L-69X",
        790,
        776,
    )
    assert cmdr.discord_user_id == "7"
    [carrier] = aggregates.carrier_views(state)
    assert (carrier.name, carrier.jump_to, carrier.fuel) == ("Haulers", "Target", 600)
    assert [c.system_name for c in aggregates.claim_views(state)] == ["Claimed"]
    assert next(iter(state.beacons.values())).system_name == "HIP 1"


def test_aggregates_over_sites() -> None:
    a = Journal("Alice")
    other = 3958345730
    events = [
        a.docked(0, SITE, "Ship"),
        a.depot(0, SITE, {"steel": (1000, 400), "titanium": (100, 100)}),
        a.docked(1, other, "Orbital Construction Site: Newton Vision"),
        a.depot(1, other, {"steel": (500, 0), "water": (50, 10)}),
        a.contribution(2, other, {"steel": 100}),
    ]
    state = state_of(events)
    sites = state.site_views()
    totals = {t.name: t for t in aggregates.commodity_totals(sites)}
    assert (totals["steel"].required, totals["steel"].provided, totals["steel"].remaining) == (
        1500,
        500,
        1000,
    )
    assert totals["steel"].sites_requiring == 2
    assert totals["titanium"].sites_requiring == 0
    [system] = aggregates.system_summaries(sites)
    assert (system.sites, system.sites_in_progress, system.sites_done) == (2, 2, 0)
    view = aggregates.system_view(system.name, sites)
    assert view.most_needed is not None
    assert view.most_needed.name == "steel"
    assert [m.name for m in aggregates.search_systems("col 285", sites)] == [system.name]
    assert [m.name for m in aggregates.search_systems("Col 258 Sector GF-F b12-5", sites)] == [system.name]
    assert aggregates.search_systems("Sol", sites) == []
    board = aggregates.leaderboard(state)
    assert [(e.rank, e.commander, e.tonnes) for e in board] == [(1, "Alice", 100)]


def test_mission_cargo_is_not_counted_as_on_its_way_to_a_site() -> None:
    """A delivery mission's 40 t of gold in the hold cannot be handed in at a site: the hold the
    hauling board counts is the commander's own cargo."""
    a = Journal("Alice", fid="F1")
    inventory = [
        {"name": "steel", "count": 700},
        {"name": "gold", "count": 40, "mission": True},
        {"name": "steel", "count": 10, "mission": True},
    ]
    state = state_of([a.event("cargo", 1, count=750, inventory=inventory)])
    cmdr = state.commanders["Alice"]
    assert cmdr.inventory is not None
    assert [(line.name, line.count) for line in cmdr.inventory.items] == [("steel", 700)]
    assert cmdr.cargo is not None
    assert cmdr.cargo.count == 750  # what the hold holds, all of it
