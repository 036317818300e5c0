"""The /haul embeds by value: within Discord's limits with hostile names and many lines, and the
carrier's gap shown when the snapshots disagree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.haul_views import (
    BoardLineView,
    BoardView,
    CarrierStockLineView,
    CarrierStockView,
    HaulClaimView,
    RateView,
)
from bot.render import haul as render
from bot.render import limits
from bot.render.reply import Reply
from tests.discord._states import LONG_EVIL

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def claim(i: int) -> HaulClaimView:
    return HaulClaimView(
        id=i, market_id=1, site_name=LONG_EVIL, system_name=LONG_EVIL, discord_user_id=str(10**17 + i),
        commodity=f"c{i}", name_localised=LONG_EVIL, tonnes=800, delivered=100, remaining=700, in_ships=300,
        status="open", created_at=NOW, expires_at=NOW + timedelta(hours=4),
    )  # fmt: skip


def test_a_huge_hostile_board_fits_discords_limits() -> None:
    board = BoardView(
        market_id=1, site_name=LONG_EVIL, system_name=LONG_EVIL, complete=False, remaining=1000 * 60,
        on_carriers=0, in_ships=0, claimed=0, open=60_000, capacity=794, haulers=3, trips=76,
        rates=[RateView(window_hours=3, tonnes=900, per_hour=300.0, eta=NOW + timedelta(hours=200)),
               RateView(window_hours=24, tonnes=0, per_hour=0.0, eta=None)],
        carriers=[3_700_000_000 + i for i in range(40)],
        lines=[BoardLineView(name=f"c{i}", name_localised=LONG_EVIL, remaining=1000, on_carriers=0,
                             in_ships=0, claimed=0, open=1000, to_load_on_carriers=1000) for i in range(60)],
        claims=[claim(i) for i in range(80)],
    )  # fmt: skip
    embed = render.board_embed(board, now=NOW)
    reply = Reply.of(embed)
    assert limits.violations(list(reply.embeds)) == []
    text = embed.description or ""
    assert "No deliveries in the last 24 h" in text
    assert "more commodities" in text
    assert "@everyone" not in text


def test_the_carrier_gap_is_shown_when_snapshots_disagree() -> None:
    carrier = CarrierStockView(
        carrier_id=3_710_508_288, name="SPONSORED BY THARGOIDS", callsign="H5L-69X", system_name="Col 285",
        snapshot_at=NOW, previous_snapshot_at=NOW - timedelta(hours=1), cargo_used=5000, sites=[1],
        lines=[CarrierStockLineView(name="titanium", name_localised="Titanium", tonnes=4000, snapshot=4000,
                                    gap=-204),
               CarrierStockLineView(name="steel", tonnes=1552, snapshot=0, gap=0)],
    )  # fmt: skip
    embed = render.carrier_stock_embed(carrier, site_names={1: "Orbital Construction Site: Vela"})
    text = embed.description or ""
    assert "Serves: Orbital Construction Site: Vela" in text
    assert "**Titanium** 4,000 t" in text
    assert "**Steel** 1,552 t (snapshot 0, +1,552 since)" in text
    (gap,) = embed.fields
    assert (gap.value or "").splitlines()[0] == "Titanium -204 t"


def test_a_linked_carriers_job_is_said_once_beside_what_is_open() -> None:
    linked = BoardLineView(name="steel", name_localised="Steel", remaining=1000, on_carriers=400,
                           in_ships=300, claimed=100, open=200, to_load_on_carriers=200)  # fmt: skip
    text = render._line(linked)
    assert text == (
        "**Steel** 1,000 t left · in ships 300 · claimed 100 · on carriers 400 · "
        "open **200** (to load on carriers)"
    )
    unlinked = linked.model_copy(update={"on_carriers": 0, "open": 600, "to_load_on_carriers": None})
    assert render._line(unlinked).endswith("claimed 100 · open **600**")
