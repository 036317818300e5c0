"""Hostile and ordinary read models for the render and command tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.views import (
    CargoLineView,
    CarrierView,
    CommodityView,
    ContributionView,
    LeaderboardEntry,
    SiteView,
    TradeOrderView,
    UnattributedView,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
EVIL = (
    "**bold** _it_ `code` ~~x~~ ||spoiler|| @everyone @here <@123456789012345678> <#123456789012345678> "
    "[link](https://example.com) > quote # head\n"
)
LONG_EVIL = (EVIL * 10)[:300]


def commodities(count: int, *, name: str = "") -> list[CommodityView]:
    out = []
    for i in range(count):
        required = 10_000 + i * 997
        provided = (i * 3_331) % required
        out.append(
            CommodityView(
                name=f"commodity{i}",
                name_localised=f"{name}Commodity {i}",
                required=required,
                provided=provided,
                remaining=required - provided,
            )
        )
    return out


def hostile_site(index: int, *, n_commodities: int = 40) -> SiteView:
    items = commodities(n_commodities, name=LONG_EVIL)
    return SiteView(
        market_id=3_950_000_000 + index,
        station_name=f"{LONG_EVIL}{index}",
        station_type=LONG_EVIL,
        system_name=LONG_EVIL,
        system_address=index,
        progress=0.5,
        snapshot_progress=0.49,
        snapshot_at=NOW,
        complete=index % 7 == 0,
        failed=index % 11 == 0,
        updated_at=NOW,
        commodities=items,
        contributions=[
            ContributionView(commander=f"{LONG_EVIL}{j}", commodity="commodity1", tonnes=j + 1)
            for j in range(60)
        ],
        unattributed=[UnattributedView(commodity=f"{LONG_EVIL}{j}", tonnes=j + 5) for j in range(40)],
    )


def hostile_leaderboard(count: int = 400) -> list[LeaderboardEntry]:
    return [
        LeaderboardEntry(
            rank=i + 1, commander=f"{LONG_EVIL}{i}", tonnes=100_000 - i, deliveries=i + 1, sites=3
        )
        for i in range(count)
    ]


def hostile_carrier() -> CarrierView:
    return CarrierView(
        carrier_id=3_700_000_001,
        name=LONG_EVIL,
        callsign=LONG_EVIL,
        carrier_type="FleetCarrier",
        docking_access=LONG_EVIL,
        system_name=LONG_EVIL,
        system_address=1,
        jump_to=LONG_EVIL,
        jump_body=LONG_EVIL,
        departure_time=NOW + timedelta(minutes=15),
        fuel=500,
        cargo_used=20_000,
        total_capacity=25_000,
        free_space=5_000,
        orders=[
            TradeOrderView(
                commodity=f"c{i}", commodity_localised=LONG_EVIL, purchase=1000 + i, sale=None, price=5000
            )
            for i in range(40)
        ],
        stock=[CargoLineView(name=f"c{i}", name_localised=LONG_EVIL, count=i + 1) for i in range(200)],
    )
