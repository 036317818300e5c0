"""Hostile and ordinary read models for the render and command tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.render.models import CarrierOrderView, CarrierStockView, CarrierView, DeliveredItem, DeliveryView
from bot.views import CommodityView, ContributionView, SiteView, UnattributedView

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
EVIL = ("**bold** _it_ `code` ~~x~~ ||spoiler|| @everyone @here <@123456789012345678> <#123456789012345678> "
        "[link](https://example.com) > quote # head\n")
LONG_EVIL = (EVIL * 10)[:300]


def commodities(count: int, *, name: str = "") -> list[CommodityView]:
    out = []
    for i in range(count):
        required = 10_000 + i * 997
        provided = (i * 3_331) % required
        out.append(CommodityView(name=f"commodity{i}", name_localised=f"{name}Commodity {i}",
                                 required=required, provided=provided, remaining=required - provided))
    return out


def hostile_site(index: int, *, n_commodities: int = 40) -> SiteView:
    items = commodities(n_commodities, name=LONG_EVIL)
    return SiteView(
        market_id=3_950_000_000 + index, station_name=f"{LONG_EVIL}{index}", station_type=LONG_EVIL,
        system_name=LONG_EVIL, system_address=index, progress=0.5, snapshot_progress=0.49,
        snapshot_at=NOW, complete=index % 7 == 0, failed=index % 11 == 0, updated_at=NOW,
        commodities=items,
        contributions=[ContributionView(commander=f"{LONG_EVIL}{j}", commodity="commodity1", tonnes=j + 1)
                       for j in range(60)],
        unattributed=[UnattributedView(commodity=f"{LONG_EVIL}{j}", tonnes=j + 5) for j in range(40)],
    )


def hostile_deliveries(sites: list[SiteView]) -> list[DeliveryView]:
    return [
        DeliveryView(event_id=f"e{i}", commander=f"{LONG_EVIL}{i % 50}",
                     market_id=sites[i % len(sites)].market_id,
                     at=NOW - timedelta(minutes=i), items=[DeliveredItem(commodity="commodity1", tonnes=700)])
        for i in range(400)
    ]


def hostile_carrier() -> CarrierView:
    return CarrierView(
        carrier_id=3_700_000_001, name=LONG_EVIL, callsign=LONG_EVIL, system_name=LONG_EVIL, updated_at=NOW,
        jump_to=LONG_EVIL, jump_body=LONG_EVIL, jump_at=NOW + timedelta(minutes=15),
        orders=[CarrierOrderView(commodity=f"c{i}", name_localised=LONG_EVIL, purchase=1000 + i, price=5000)
                for i in range(40)],
        stock=[CarrierStockView(commodity=f"c{i}", name_localised=LONG_EVIL, stock=i) for i in range(200)],
    )
