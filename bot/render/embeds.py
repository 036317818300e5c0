"""Embed builders: read models in, `discord.Embed` out, always within Discord's limits.

Pure functions of their arguments (the current time included), so tests compare them by value.
Every name that came from a journal or a user goes through `text.safe`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import discord

from bot.domain.hauling import DEFAULT_CAPACITY as HAULER_DEFAULT_CAPACITY
from bot.render import figures, limits
from bot.render.text import absolute, bar, percent, plural, relative, safe, tonnes
from bot.views import CarrierView, CommodityTotalView, LeaderboardEntry, SiteView

COMPLETE = discord.Colour(0x2ECC71)
FAILED = discord.Colour(0xE74C3C)
ACTIVE = discord.Colour(0xF1C40F)
FRESH = discord.Colour(0x95A5A6)  # nothing delivered yet
INFO = discord.Colour(0x5865F2)
ERROR = discord.Colour(0xE67E22)

# "Trips left" use the active haulers' mean hold; this when none is known (one number everywhere).
DEFAULT_CAPACITY = HAULER_DEFAULT_CAPACITY
_SHIP_PREFIX = "$EXT_PANEL_ColonisationShip"


def site_name(site: SiteView) -> str:
    """The station's display name, safe. The colonisation ship's name is a symbol (quirk 15)."""
    name = site.station_name or ""
    if name.startswith(_SHIP_PREFIX):
        own = name.split(";", 1)[1].strip() if ";" in name else ""
        name = f"System Colonisation Ship {own}".strip()
    return safe(name, fallback=f"Site {site.market_id}")


def state_colour(site: SiteView) -> discord.Colour:
    if site.failed:
        return FAILED
    if site.complete:
        return COMPLETE
    return ACTIVE if site.progress > 0 else FRESH


def state_word(site: SiteView) -> str:
    if site.failed:
        return "failed"
    if site.complete:
        return "complete"
    return "in progress"


def progress_line(site: SiteView) -> str:
    if site.complete:
        return f"`{bar(1.0)}` complete"
    return f"`{bar(site.progress)}` {percent(site.progress)}"


def _commodity_line(c_name: str, required: int, provided: int, remaining: int, capacity: int) -> str:
    if remaining <= 0:
        return f"~~{c_name}~~ {provided:,}/{required:,} \u2713"
    return (
        f"**{c_name}** {provided:,}/{required:,} · {remaining:,} left · "
        f"{plural(figures.trips(remaining, capacity), 'trip')}"
    )


# A site known from a docking, before any depot reading: no 0.0% and "0 t of 0 t left".
NOT_READ_YET = "Requirements not read yet: they come with the depot's first reading"


def site_embed(
    site: SiteView, recent: Sequence[LeaderboardEntry], *, now: datetime, capacity: int = DEFAULT_CAPACITY
) -> discord.Embed:
    """`/colony site`: one site with every commodity, its contributors and unattributed tonnes.
    `recent` is the site's leaderboard over the last 24 hours (the delivery rate)."""
    header = [
        f"{safe(site.system_name)} · {safe(site.station_type, fallback='site')} · {state_word(site)}",
        progress_line(site),
    ]
    left = site.remaining_total
    if not site.commodities and not site.complete and not site.failed:
        # Seen docked, before its first depot reading (the game writes one seconds after docking).
        header[1] = NOT_READ_YET
    elif not site.complete and not site.failed:
        header.append(
            f"{tonnes(left)} of {tonnes(site.required_total)} left · "
            f"{plural(figures.trips(left, capacity), 'trip')} of {capacity:,} t"
        )
        provisional = sum(c.provisional for c in site.commodities)
        if provisional and site.snapshot_progress is not None:
            header.append(
                f"Last depot reading {percent(site.snapshot_progress)}, "
                f"plus {tonnes(provisional)} delivered since"
            )
        rate = figures.rate_per_hour(recent)
        when = figures.eta(left, rate, now)
        if when is not None:
            header.append(f"ETA {relative(when)} at {rate:,.0f} t/h")
    if site.updated_at is not None:
        header.append(f"Updated {relative(site.updated_at)}")

    rows = sorted(site.commodities, key=lambda c: (c.remaining <= 0, -c.remaining, c.name))
    lines = [
        _commodity_line(
            safe(figures.commodity_name(c.name, c.name_localised)),
            c.required,
            c.provided,
            c.remaining,
            capacity,
        )
        for c in rows
    ]
    head = "\n".join(header)
    body = limits.join_lines(lines, limits.DESCRIPTION - len(head) - 2, noun="more commodities")
    embed = discord.Embed(
        title=site_name(site), description=f"{head}\n\n{body}" if body else head, colour=state_colour(site)
    )

    by_commander: dict[str, int] = {}
    for c in site.contributions:
        by_commander[c.commander] = by_commander.get(c.commander, 0) + c.tonnes
    if by_commander:
        leaders = sorted(by_commander.items(), key=lambda kv: (-kv[1], kv[0]))
        embed.add_field(
            name="Contributors",
            value=limits.join_lines(
                [f"CMDR {safe(k)} · {tonnes(v)}" for k, v in leaders],
                limits.FIELD_VALUE,
                noun="more commanders",
            ),
            inline=False,
        )
    if site.unattributed:
        total = sum(u.tonnes for u in site.unattributed)
        local = {c.name: figures.commodity_name(c.name, c.name_localised) for c in site.commodities}
        unexplained = sorted(site.unattributed, key=lambda u: (-u.tonnes, u.commodity))
        embed.add_field(
            name=f"Unattributed · {tonnes(total)}",
            value=limits.join_lines(
                [
                    f"{safe(local.get(u.commodity) or figures.commodity_name(u.commodity, None))} · "
                    f"{tonnes(u.tonnes)}"
                    for u in unexplained
                ],
                limits.FIELD_VALUE,
                noun="more commodities",
            ),
            inline=False,
        )
    embed.set_footer(
        text=f"MarketID {site.market_id} · delivered by commanders without the uploader shows as unattributed"
    )
    return limits.fit_embed(embed)


def _status_value(site: SiteView, recent: Sequence[LeaderboardEntry], now: datetime) -> str:
    lines = [progress_line(site)]
    if not site.commodities and not site.complete and not site.failed:
        return NOT_READ_YET
    if site.complete or site.failed:
        # When it was finished, not the newest event: the game keeps writing a finished site's
        # depot while its commanders stay docked at the new port (quirk 22).
        when = site.completed_at if site.complete and site.completed_at is not None else site.updated_at
        if when is not None:
            lines.append(f"{state_word(site).capitalize()} {relative(when)}")
        return "\n".join(lines)
    lines[0] += f" · {tonnes(site.remaining_total)} left"
    top = sorted((c for c in site.commodities if c.remaining > 0), key=lambda c: (-c.remaining, c.name))[:3]
    if top:
        lines.append(
            "Needs: "
            + ", ".join(
                f"{safe(figures.commodity_name(c.name, c.name_localised))} {tonnes(c.remaining)}" for c in top
            )
        )
    rate = figures.rate_per_hour(recent)
    when = figures.eta(site.remaining_total, rate, now)
    lines.append(f"ETA {relative(when)} ({rate:,.0f} t/h)" if when else "ETA: no deliveries in 24 h")
    if recent:
        leader = min(recent, key=lambda e: (-e.tonnes, e.commander))
        lines.append(f"Top 24 h: CMDR {safe(leader.commander)} ({tonnes(leader.tonnes)})")
    return "\n".join(lines)


def status_embed(
    sites: Sequence[SiteView],
    recent: Mapping[int, Sequence[LeaderboardEntry]],
    *,
    now: datetime,
    system: str | None = None,
) -> discord.Embed:
    """`/colony status`: every site of a system (`system`), or else the guild's active sites, the
    finished ones only counted. `recent` maps a MarketID to that site's leaderboard over the last
    24 hours."""
    title = f"Colony status: {safe(system)}" if system else "Colony status: active sites"
    active = [s for s in sites if not (s.complete or s.failed)]
    listed = sites if system else active
    ordered = sorted(listed, key=lambda s: (s.complete or s.failed, -s.progress, s.market_id))
    done = sum(1 for s in sites if s.complete)
    description = (
        f"{plural(len(active), 'site')} in progress · {done:,} complete · "
        f"{tonnes(sum(s.remaining_total for s in active))} left"
    )
    if not sites:
        description = (
            "No construction sites yet. Sites appear once a commander with the uploader "
            "docks at one (`/colony link` to set it up)."
        )
    elif not active and not system:
        failed = len(sites) - done
        description = (
            f"No site in progress: {plural(done, 'site')} complete"
            + (f", {failed:,} failed" if failed else "")
            + ". `/colony status <system>` shows a system's sites."
        )
    embed = discord.Embed(
        title=title,
        description=description,
        colour=COMPLETE if sites and not active else ACTIVE if active else FRESH,
    )
    for site in ordered:
        name = site_name(site) if system else f"{site_name(site)} · {safe(site.system_name)}"
        embed.add_field(
            name=limits.clip(name, limits.FIELD_NAME),
            value=_status_value(site, recent.get(site.market_id, ()), now),
            inline=False,
        )
    embed.set_footer(text="/colony site for one site · /colony needs for the shopping list")
    embed.timestamp = now
    return limits.fit_embed(embed, noun="more sites")


def needs_embed(
    rows: Sequence[CommodityTotalView], *, scope: str, now: datetime, capacity: int = DEFAULT_CAPACITY
) -> discord.Embed:
    """`/colony needs`: the shopping list, biggest first."""
    rows = [r for r in rows if r.remaining > 0]
    lines = [
        f"**{safe(figures.commodity_name(r.name, r.name_localised))}** {tonnes(r.remaining)} · "
        f"{plural(figures.trips(r.remaining, capacity), 'trip')}"
        + (f" · {r.sites_requiring} sites" if r.sites_requiring > 1 else "")
        for r in rows
    ]
    total = sum(r.remaining for r in rows)
    head = f"{tonnes(total)} still to deliver" if rows else "Nothing left to deliver."
    body = limits.join_lines(lines, limits.DESCRIPTION - len(head) - 2, noun="more commodities")
    embed = discord.Embed(
        title=f"Needs: {safe(scope)}",
        description=f"{head}\n\n{body}" if body else head,
        colour=ACTIVE if rows else COMPLETE,
    )
    embed.timestamp = now
    return limits.fit_embed(embed)


def contributors_embed(
    rows: Sequence[LeaderboardEntry], *, scope: str, period: str, now: datetime
) -> discord.Embed:
    """`/colony contributors`: the leaderboard in tonnes and deliveries."""
    medals = ["\U0001f947", "\U0001f948", "\U0001f949"]
    lines = [
        f"{medals[i] if i < 3 else f'{i + 1}.'} CMDR {safe(r.commander)} · {tonnes(r.tonnes)} in "
        f"{plural(r.deliveries, 'delivery', 'deliveries')}"
        for i, r in enumerate(sorted(rows, key=lambda r: r.rank))
    ]
    head = (
        f"{tonnes(sum(r.tonnes for r in rows))} by {plural(len(rows), 'commander')}"
        if rows
        else "No deliveries recorded in this period."
    )
    body = limits.join_lines(lines, limits.DESCRIPTION - len(head) - 2, noun="more commanders")
    embed = discord.Embed(
        title=f"Contributors: {safe(scope)} · {safe(period)}",
        description=f"{head}\n\n{body}" if body else head,
        colour=INFO,
    )
    embed.set_footer(text="Counts deliveries sent by the uploader; others show as unattributed")
    embed.timestamp = now
    return limits.fit_embed(embed)


def carrier_embed(carrier: CarrierView, *, now: datetime) -> discord.Embed:
    """`/colony carrier`: where a squadron carrier is, where it is going, what it holds."""
    name = safe(carrier.name, fallback="Fleet carrier")
    title = f"{name} ({safe(carrier.callsign)})" if carrier.callsign else name
    lines = [f"In **{safe(carrier.system_name)}**"]
    if carrier.jump_to:
        at = carrier.departure_time
        when = f" {absolute(at)} ({relative(at)})" if at else ""
        body = f", {safe(carrier.jump_body)}" if carrier.jump_body else ""
        lines.append(f"Jumping to **{safe(carrier.jump_to)}**{body}{when}")
    if carrier.docking_access:
        lines.append(f"Docking: {safe(carrier.docking_access)}")
    if carrier.cargo_used is not None and carrier.total_capacity:
        lines.append(f"Cargo {tonnes(carrier.cargo_used)} of {tonnes(carrier.total_capacity)}")
    embed = discord.Embed(title=title, description="\n".join(lines), colour=INFO)
    if carrier.orders:
        embed.add_field(
            name="Orders",
            value=limits.join_lines(
                [
                    f"{'Buying' if o.purchase else 'Selling'} "
                    f"{safe(figures.commodity_name(o.commodity, o.commodity_localised))} "
                    f"{tonnes(o.purchase or o.sale or 0)}" + (f" at {o.price:,} cr" if o.price else "")
                    for o in carrier.orders
                ],
                limits.FIELD_VALUE,
                noun="more orders",
            ),
            inline=False,
        )
    stock = sorted((s for s in carrier.stock if s.count > 0), key=lambda s: (-s.count, s.name))
    embed.add_field(
        name="Stock",
        value=limits.join_lines(
            [f"{safe(figures.commodity_name(s.name, s.name_localised))} {tonnes(s.count)}" for s in stock],
            limits.FIELD_VALUE,
            noun="more commodities",
        )
        if stock
        else "Nothing known in stock",
        inline=False,
    )
    embed.set_footer(text=f"Carrier ID {carrier.carrier_id}")
    embed.timestamp = now
    return limits.fit_embed(embed)


def carriers_embed(carriers: Sequence[CarrierView], *, now: datetime) -> discord.Embed:
    lines = [
        f"**{safe(c.name, fallback='Fleet carrier')}** ({safe(c.callsign)}) in {safe(c.system_name)}"
        + (f" → {safe(c.jump_to)}" if c.jump_to else "")
        for c in carriers
    ]
    embed = discord.Embed(
        title="Squadron carriers",
        colour=INFO,
        description=limits.join_lines(lines, limits.DESCRIPTION, noun="more carriers")
        if lines
        else "No carrier seen yet: carriers appear once their owner's uploader sends their journal.",
    )
    embed.timestamp = now
    return limits.fit_embed(embed)


def message_embed(title: str, text: str, *, colour: discord.Colour = INFO) -> discord.Embed:
    return limits.fit_embed(discord.Embed(title=title, description=text, colour=colour))


def error_embed(text: str) -> discord.Embed:
    """`text` is ours: callers pass names in it through `text.safe`."""
    return message_embed("Cannot do that", text, colour=ERROR)
