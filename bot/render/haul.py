"""Embeds of `/haul`: the board, claims, a commander's hauls, the plan. Pure, within Discord's limits.

Every name from a journal or a user goes through `text.safe`; the four parts of a board line always
add up to its remaining need (`bot.domain.hauling`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import discord

from bot.haul_views import (
    BoardLineView,
    BoardView,
    CargoView,
    CarrierStockView,
    HaulClaimView,
    MineView,
    PlanView,
)
from bot.render import figures, limits
from bot.render.embeds import ACTIVE, COMPLETE, FRESH, INFO
from bot.render.text import plural, relative, safe, tonnes
from bot.views import CarrierView, TradeOrderView

_SHIP_PREFIX = "$EXT_PANEL_ColonisationShip"


def site_title(name: str | None, market_id: int) -> str:
    """A site's display name, safe (the colonisation ship's name is a symbol: quirk 15)."""
    text = name or ""
    if text.startswith(_SHIP_PREFIX):
        own = text.split(";", 1)[1].strip() if ";" in text else ""
        text = f"System Colonisation Ship {own}".strip()
    return safe(text, fallback=f"Site {market_id}")


def commodity(name: str, localised: str | None) -> str:
    return safe(figures.commodity_name(name, localised))


def _line(line: BoardLineView) -> str:
    parts = [f"**{commodity(line.name, line.name_localised)}** {tonnes(line.remaining)} left"]
    for label, value in (
        ("in ships", line.in_ships),
        ("claimed", line.claimed),
        ("on carriers", line.on_carriers),
    ):
        if value:
            parts.append(f"{label} {value:,}")
    # A linked carrier's job is what is open: said once, beside it.
    parts.append(f"open **{line.open:,}**" + (" (to load on carriers)" if line.to_load_on_carriers else ""))
    if line.surplus:
        parts.append(f"surplus in ships {line.surplus:,}")
    return " · ".join(parts)


ETA_STEP = 600  # seconds: a live board is not edited just because "now" moved the ETA a little


def _rounded(moment: datetime) -> datetime:
    return datetime.fromtimestamp(round(moment.timestamp() / ETA_STEP) * ETA_STEP, tz=moment.tzinfo)


def pace_lines(board: BoardView) -> list[str]:
    """The ETA "at this pace", per rolling window; nothing for a site without deliveries yet."""
    out = []
    for rate in board.rates:
        window = f"last {rate.window_hours} h"
        if rate.eta is not None:
            out.append(
                f"At this pace ({window}: {rate.per_hour:,.0f} t/h) done {relative(_rounded(rate.eta))}"
            )
        elif board.remaining > 0:
            out.append(f"No deliveries in the {window}")
    return out


def claim_line(claim: HaulClaimView, *, with_site: bool = False) -> str:
    what = f"{tonnes(claim.remaining)} {commodity(claim.commodity, claim.name_localised)}"
    if claim.remaining != claim.tonnes:
        what += f" (of {claim.tonnes:,})"
    text = f"`#{claim.id}` <@{claim.discord_user_id}> {what}"
    if with_site:
        text += f" to {site_title(claim.site_name, claim.market_id)}"
    if claim.in_ships:
        text += f" · {claim.in_ships:,} t loaded"
    if claim.status == "open":
        text += f" · expires {relative(claim.expires_at)}"
    else:
        text += f" · {claim.status.replace('_', ' ')}"
    return text


def cargo_line(cargo: CargoView) -> str:
    """One hold on its way: who, what, where they were last seen."""
    text = (
        f"CMDR {safe(cargo.commander)} · {tonnes(cargo.tonnes)} {commodity(cargo.name, cargo.name_localised)}"
    )
    if cargo.station_name:
        text += f" · docked at {site_title(cargo.station_name, 0)}"
    elif cargo.system_name:
        text += f" · in {safe(cargo.system_name)}"
    return text


def board_embed(board: BoardView, *, now: datetime) -> discord.Embed:
    """`/haul board` and the second live message of a followed site."""
    title = f"Haul board: {site_title(board.site_name, board.market_id)}"
    if board.complete:
        embed = discord.Embed(
            title=title,
            description=f"{safe(board.system_name)} · complete: nothing left to haul.",
            colour=COMPLETE,
        )
        return limits.fit_embed(embed)
    header = [
        f"{safe(board.system_name)} · {tonnes(board.remaining)} remaining = "
        f"{board.in_ships:,} in ships + {board.claimed:,} claimed + {board.on_carriers:,} on carriers "
        f"+ **{board.open:,} open**",
        f"{plural(board.trips, 'trip')} left at {board.capacity:,} t"
        + (
            f" (mean hold of {plural(board.haulers, 'active hauler')})"
            if board.haulers
            else " (no active hauler's ship known yet)"
        ),
        *pace_lines(board),
    ]
    head = "\n".join(header)
    body = limits.join_lines(
        [_line(line) for line in board.lines], limits.DESCRIPTION - len(head) - 2, noun="more commodities"
    )
    embed = discord.Embed(
        title=title,
        description=f"{head}\n\n{body}" if body else head,
        colour=ACTIVE if board.remaining else FRESH,
    )
    if board.claims:
        embed.add_field(
            name=f"Claims · {len(board.claims):,}",
            value=limits.join_lines(
                [claim_line(c) for c in board.claims], limits.FIELD_VALUE, noun="more claims"
            ),
            inline=False,
        )
    if board.cargo:
        embed.add_field(
            name="In ships",
            value=limits.join_lines(
                [cargo_line(c) for c in sorted(board.cargo, key=lambda c: (-c.tonnes, c.commander, c.name))],
                limits.FIELD_VALUE,
                noun="more holds",
            ),
            inline=False,
        )
    footer = f"MarketID {board.market_id}"
    if board.carriers:
        footer += f" · carriers {', '.join(str(c) for c in board.carriers)}"
    embed.set_footer(text=footer + " · /haul claim reserves a haul")
    return limits.fit_embed(embed)


def claim_embed(claim: HaulClaimView) -> discord.Embed:
    # A second claim of the same goods for the same site adds to the first: say what is left.
    done = (
        f" ({tonnes(claim.delivered)} of the claim's {tonnes(claim.tonnes)} already delivered)"
        if claim.delivered
        else ""
    )
    text = (
        f"You bring {tonnes(claim.remaining)} of {commodity(claim.commodity, claim.name_localised)} to "
        f"{site_title(claim.site_name, claim.market_id)} ({safe(claim.system_name)}){done}. "
        f"The claim shrinks as you deliver and closes when covered; it expires {relative(claim.expires_at)}. "
        f"`/haul release {claim.id}` gives it back."
    )
    return limits.fit_embed(discord.Embed(title=f"Claim #{claim.id}", description=text, colour=INFO))


def released_embed(claims: Sequence[HaulClaimView]) -> discord.Embed:
    lines = [claim_line(c, with_site=True) for c in claims]
    return limits.fit_embed(
        discord.Embed(
            title=f"Released {plural(len(claims), 'claim')}",
            description=limits.join_lines(lines, limits.DESCRIPTION, noun="more claims"),
            colour=INFO,
        )
    )


def mine_embed(mine: MineView, *, site_names: dict[int, str | None]) -> discord.Embed:
    who = ", ".join(f"CMDR {safe(n)}" for n in mine.commanders) or "no commander linked yet (`/colony link`)"
    where = (
        site_title(site_names.get(mine.hauling_for), mine.hauling_for)
        if mine.hauling_for is not None
        else "no site (not docked at one, no claim, no recent delivery)"
    )
    embed = discord.Embed(title="Your hauls", description=f"{who}\nHauling for: {where}", colour=INFO)
    embed.add_field(
        name="Claims",
        value=limits.join_lines(
            [claim_line(c, with_site=True) for c in mine.claims], limits.FIELD_VALUE, noun="more claims"
        )
        or "none: `/haul claim` reserves a haul",
        inline=False,
    )
    cargo = [
        f"CMDR {safe(c.commander)} · {tonnes(c.tonnes)} {commodity(c.name, c.name_localised)}"
        + (f" → {site_title(site_names.get(c.market_id), c.market_id)}" if c.market_id is not None else "")
        for c in mine.cargo
    ]
    embed.add_field(
        name="In your holds",
        value=limits.join_lines(cargo, limits.FIELD_VALUE, noun="more lines") or "nothing known",
        inline=False,
    )
    return limits.fit_embed(embed)


def plan_embed(plan: PlanView) -> discord.Embed:
    lines = [
        f"<@{line.discord_user_id}> CMDR {safe(line.commander)}: {tonnes(line.tonnes)} "
        f"{commodity(line.commodity, line.name_localised)} ({line.capacity:,} t hold)"
        if line.discord_user_id
        else f"CMDR {safe(line.commander)}: {tonnes(line.tonnes)} "
        f"{commodity(line.commodity, line.name_localised)}"
        for line in plan.lines
    ]
    text = limits.join_lines(lines, limits.DESCRIPTION - 300, noun="more haulers") or (
        "No active hauler without a claim here (seen in the last 24 h with a known ship)."
    )
    notes = []
    if plan.unassigned:
        notes.append(f"{tonnes(plan.unassigned)} still without a hauler after this round.")
    if plan.already_claimed:
        notes.append(f"Already claimed here: {', '.join(f'<@{u}>' for u in plan.already_claimed)}.")
    notes.append("A suggestion: the button claims your own line.")
    embed = discord.Embed(
        title=f"Haul plan: {site_title(plan.site_name, plan.market_id)}",
        description=text + "\n\n" + "\n".join(notes),
        colour=INFO,
    )
    return limits.fit_embed(embed)


def _order_line(order: TradeOrderView) -> str:
    side = "Buying" if order.purchase else "Selling"
    price = f" at {order.price:,} cr" if order.price else ""
    amount = tonnes(order.purchase or order.sale or 0)
    return f"{side} {commodity(order.commodity, order.commodity_localised)} {amount}{price}"


def carrier_stock_embed(
    carrier: CarrierStockView, *, site_names: dict[int, str | None], plans: CarrierView | None = None
) -> discord.Embed:
    """`/haul carrier <carrier>`: the tracked stock, the snapshot it starts from, and the gap; with
    `plans` (the core's carrier view), its pending jump and its buy and sell orders too."""
    title = f"Carrier {safe(carrier.name, fallback=str(carrier.carrier_id))}"
    if carrier.callsign:
        title += f" ({safe(carrier.callsign)})"
    head = [f"In {safe(carrier.system_name)}"]
    if plans is not None and plans.jump_to:
        when = f" {relative(plans.departure_time)}" if plans.departure_time else ""
        head.append(f"Jumping to {safe(plans.jump_to)}{when}")
    if carrier.snapshot_at is not None:
        head.append(
            f"Stock from the owner's Market snapshot {relative(carrier.snapshot_at)}, moved by the "
            "squadron's buys, sells and transfers since"
        )
    else:
        head.append("No Market snapshot yet: the owner opens the carrier's market with the uploader running")
    if carrier.cargo_used is not None:
        head.append(f"Cargo in use (CarrierStats): {tonnes(carrier.cargo_used)}")
    serves = [site_title(site_names.get(m), m) for m in carrier.sites]
    head.append(
        "Serves: " + (", ".join(serves) if serves else "no site yet (`/haul carrier <carrier> <site>`)")
    )
    lines = []
    for line in carrier.lines:
        text = f"**{commodity(line.name, line.name_localised)}** {tonnes(line.tonnes)}"
        if line.tonnes != line.snapshot:
            text += f" (snapshot {line.snapshot:,}, {line.tonnes - line.snapshot:+,} since)"
        lines.append(text)
    gaps = [
        f"{commodity(line.name, line.name_localised)} {line.gap:+,} t" for line in carrier.lines if line.gap
    ]
    head_text = "\n".join(head)
    body = limits.join_lines(lines, limits.DESCRIPTION - len(head_text) - 2, noun="more commodities")
    embed = discord.Embed(
        title=title, description=f"{head_text}\n\n{body}" if body else head_text, colour=INFO
    )
    if plans is not None and plans.orders:
        embed.add_field(
            name="Orders",
            value=limits.join_lines(
                [_order_line(o) for o in plans.orders],
                limits.FIELD_VALUE,
                noun="more orders",
            ),
            inline=False,
        )
    if gaps:
        embed.add_field(
            name="Gap to the previous snapshot",
            value=limits.join_lines(
                [
                    *gaps,
                    "(moved by someone without the uploader, or by the owner's orders: the snapshot wins)",
                ],
                limits.FIELD_VALUE,
                noun="more commodities",
            ),
            inline=False,
        )
    return limits.fit_embed(embed)


def expiry_note(claim: HaulClaimView) -> str:
    """The line posted in the followed channels when a claim expires."""
    return (
        f"\u231b Claim `#{claim.id}` of <@{claim.discord_user_id}> expired: "
        f"{tonnes(max(0, claim.tonnes - claim.delivered))} "
        f"{commodity(claim.commodity, claim.name_localised)} "
        f"for {site_title(claim.site_name, claim.market_id)} is open again."
    )
