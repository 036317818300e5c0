"""What each `/colony` command answers: plain async methods over the core's services.

The cog's callbacks, the offline console and the tests all call these, so there is one command
logic. Nothing here touches a Discord connection: inputs are ids and strings, the answer is a
`Reply` (embeds fitted to Discord's limits, content, ephemeral or not). A `CommandError` carries
the one sentence the user sees; the command tree's error handler shows it ephemerally.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.domain.aggregates import commodity_totals
from bot.ids import typed_id
from bot.notify.channels import ChannelUpdates, FollowTarget
from bot.render import embeds, limits
from bot.render.reply import Reply
from bot.render.text import plural, safe
from bot.services.queries import QueryService
from bot.services.tokens import TokenError, TokenService
from bot.views import CarrierView, LeaderboardEntry, SiteView

# Choices offered while typing: Discord takes at most 25, each name and value at most 100 chars.
MAX_CHOICES = 25
MAX_CHOICE_LENGTH = 100

PERIODS: dict[str, timedelta | None] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}
PERIOD_NAMES = {"24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days", "all": "all time"}


class CommandError(Exception):
    """A problem the user can fix; the message is shown to them as is (one sentence)."""


@dataclass(frozen=True, slots=True)
class Choice:
    name: str
    value: str


def _choice(name: str, value: str) -> Choice:
    return Choice(limits.clip(name, MAX_CHOICE_LENGTH), value[:MAX_CHOICE_LENGTH])


def plain_site_name(site: SiteView) -> str:
    """The display name without markdown escapes (autocomplete shows text as is)."""
    name = site.station_name or ""
    if name.startswith("$EXT_PANEL_ColonisationShip"):
        own = name.split(";", 1)[1].strip() if ";" in name else ""
        name = f"System Colonisation Ship {own}".strip()
    return " ".join(name.split()) or f"Site {site.market_id}"


def _matches(current: str, *texts: str | None) -> bool:
    wanted = current.casefold().strip()
    return not wanted or any(t is not None and wanted in t.casefold() for t in texts)


def site_choices(sites: Sequence[SiteView], current: str) -> list[Choice]:
    """Sites whose name or system contains what was typed, active ones first."""
    ordered = sorted(sites, key=lambda s: (s.complete or s.failed, plain_site_name(s).casefold()))
    return [
        _choice(f"{plain_site_name(s)} ({s.system_name or '?'})", str(s.market_id))
        for s in ordered
        if _matches(current, plain_site_name(s), s.system_name, str(s.market_id))
    ][:MAX_CHOICES]


def system_choices(sites: Sequence[SiteView], current: str) -> list[Choice]:
    systems = sorted({s.system_name for s in sites if s.system_name}, key=str.casefold)
    return [_choice(name, name) for name in systems if _matches(current, name)][:MAX_CHOICES]


def target_choices(sites: Sequence[SiteView], current: str) -> list[Choice]:
    """Systems first (a system covers all its sites), then single sites."""
    systems = [_choice(f"System: {c.name}", f"system:{c.value}") for c in system_choices(sites, current)]
    return (systems + site_choices(sites, current))[:MAX_CHOICES]


def carrier_choices(carriers: Sequence[CarrierView], current: str) -> list[Choice]:
    return [
        _choice(f"{c.name or 'Fleet carrier'} ({c.callsign or c.carrier_id})", str(c.carrier_id))
        for c in carriers
        if _matches(current, c.name, c.callsign, str(c.carrier_id))
    ][:MAX_CHOICES]


def find_carrier(carriers: Sequence[CarrierView], text: str) -> CarrierView:
    """A squadron carrier from an autocomplete value (its id), its callsign or its name."""
    wanted = text.strip().casefold()
    hits = [] if not wanted else [
        c
        for c in carriers
        if wanted in {str(c.carrier_id), (c.callsign or "").casefold(), (c.name or "").casefold()}
    ]
    if len(hits) != 1:
        raise CommandError(
            f"No squadron carrier matches \u201c{safe(text)}\u201d: pick one from the list while "
            "typing (`/colony carrier` alone lists them)."
        )
    return hits[0]


def find_site(sites: Sequence[SiteView], text: str) -> SiteView:
    """A site from an autocomplete value (its MarketID) or a typed name; re-validated here because
    Discord lets users send anything."""
    wanted = text.strip()
    market_id = typed_id(wanted)
    if market_id is not None:
        for site in sites:
            if site.market_id == market_id:
                return site
    folded = wanted.casefold()
    exact = [s for s in sites if plain_site_name(s).casefold() == folded]
    partial = exact or [s for s in sites if folded and folded in plain_site_name(s).casefold()]
    if len(partial) == 1:
        return partial[0]
    if len(partial) > 1:
        raise CommandError(
            f"{len(partial)} sites match \u201c{safe(wanted)}\u201d: pick one from the list while typing."
        )
    raise CommandError(
        f"No construction site matches \u201c{safe(wanted, fallback='')}\u201d: pick one from "
        "the list while typing, or see `/colony status`."
    )


class ColonyReplies:
    def __init__(
        self,
        queries: QueryService,
        tokens: TokenService,
        channels: ChannelUpdates | None,
        *,
        public_url: str,
        uploader_source: str | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.queries = queries
        self.tokens = tokens
        self.channels = channels
        self.public_url = public_url
        self.uploader_source = uploader_source
        self.now = now

    def _install_line(self) -> str:
        # No package index has ED Colony: the operator says where the squadron's copy is.
        if self.uploader_source:
            spec = f"ed-colony[uploader] @ {self.uploader_source}"
            return f'Install it with Python 3.11+ and pipx: `pipx install "{spec}"`.'
        return "Ask the server's operator how to install it (Python 3.11+ and pipx)."

    async def _recent(self, guild_id: int, site: SiteView, now: datetime) -> list[LeaderboardEntry]:
        return await self.queries.leaderboard(guild_id, site.market_id, since=now - timedelta(hours=24))

    async def _capacity(self, guild_id: int) -> int:
        return await self.queries.hold_capacity(guild_id)

    async def _scope(self, guild_id: int, text: str) -> tuple[str, SiteView | None, list[SiteView]]:
        """A site or a system named by `text` ("system:NAME" from autocomplete, a system name, a
        MarketID or a site name): (display name, the site or None, the sites covered)."""
        sites = await self.queries.sites(guild_id)
        wanted = text.strip()
        system_name = wanted.removeprefix("system:")
        system = await self.queries.system(guild_id, system_name)
        if system is not None:
            return system.name, None, list(system.sites)
        if wanted.startswith("system:"):
            raise CommandError(f"No construction site known in {safe(system_name)}: see `/colony status`.")
        site = find_site(sites, wanted)
        return plain_site_name(site), site, [site]

    # -- the commands ----------------------------------------------------------------------------

    async def status(self, guild_id: int, system: str | None = None) -> Reply:
        now = self.now()
        if system:
            found = await self.queries.system(guild_id, system.strip())
            if found is None:
                raise CommandError(
                    f"No construction site known in {safe(system)}: check the spelling, "
                    "or use `/colony status` alone for every active site."
                )
            shown, title = list(found.sites), found.name
        else:  # every site, for the counts; the finished ones are not listed
            shown, title = list(await self.queries.sites(guild_id)), None
        listed = shown if title else [s for s in shown if not (s.complete or s.failed)]
        recent = {s.market_id: await self._recent(guild_id, s, now) for s in listed}
        return Reply.of(embeds.status_embed(shown, recent, now=now, system=title))

    async def site(self, guild_id: int, site: str) -> Reply:
        now = self.now()
        found = find_site(await self.queries.sites(guild_id), site)
        recent = await self._recent(guild_id, found, now)
        return Reply.of(embeds.site_embed(found, recent, now=now, capacity=await self._capacity(guild_id)))

    async def needs(self, guild_id: int, target: str | None = None) -> Reply:
        now = self.now()
        capacity = await self._capacity(guild_id)
        if not target:
            rows = await self.queries.commodities(guild_id) or []
            return Reply.of(embeds.needs_embed(rows, scope="every active site", now=now, capacity=capacity))
        name, _, sites = await self._scope(guild_id, target)
        return Reply.of(embeds.needs_embed(commodity_totals(sites), scope=name, now=now, capacity=capacity))

    async def contributors(self, guild_id: int, site: str | None = None, period: str = "all") -> Reply:
        if period not in PERIODS:
            raise CommandError(
                f"Unknown period \u201c{safe(period)}\u201d: choose one of {', '.join(PERIODS)}."
            )
        now = self.now()
        window = PERIODS[period]
        since = now - window if window is not None else None
        market_id, scope = None, "every site"
        if site:
            found = find_site(await self.queries.sites(guild_id), site)
            market_id, scope = found.market_id, plain_site_name(found)
        rows = await self.queries.leaderboard(guild_id, market_id, since=since)
        return Reply.of(embeds.contributors_embed(rows, scope=scope, period=PERIOD_NAMES[period], now=now))

    async def link(self, guild_id: int, user_id: int, user_name: str) -> Reply:
        try:
            token, _ = await self.tokens.issue(guild_id, user_id, label=user_name[:200] or None)
        except TokenError as exc:
            raise CommandError(f"Cannot issue a token: {exc}.") from exc
        setup = f"COLONY_UPLOADER_URL={self.public_url}\nCOLONY_UPLOADER_TOKEN={token}\ncolony-uploader run"
        text = (
            "Your uploader token, shown only this once. Set these two variables where the uploader "
            "runs (or answer `colony-uploader init`), then start it:\n"
            f"```\n{setup}\n```\n"
            "It sends your journal's colonisation events to this server. `/colony unlink` revokes it; "
            "`/colony help` says how to install the uploader."
        )
        return Reply.of(embeds.message_embed("Link your journal", text), ephemeral=True)

    async def unlink(self, guild_id: int, user_id: int) -> Reply:
        mine = [r for r in await self.tokens.list(guild_id) if r.user_id == user_id and not r.revoked]
        if not mine:
            raise CommandError("You have no active uploader token on this server: `/colony link` issues one.")
        for record in mine:
            await self.tokens.revoke(record.prefix)
        text = (
            f"Revoked {plural(len(mine), 'token')}. Your uploader can no longer send; "
            "what it already sent stays."
        )
        return Reply.of(embeds.message_embed("Unlinked", text), ephemeral=True)

    def _updates(self, can_manage: bool) -> ChannelUpdates:
        if not can_manage:
            raise CommandError("Only members with the Manage Server permission can set up channel updates.")
        if self.channels is None:
            raise CommandError("Channel updates are not running on this bot.")
        return self.channels

    async def follow(self, guild_id: int, channel_id: int, target: str, *, can_manage: bool) -> Reply:
        channels = self._updates(can_manage)
        name, site, _ = await self._scope(guild_id, target)
        follow = (
            FollowTarget(channel_id=channel_id, market_id=site.market_id)
            if site is not None
            else FollowTarget(channel_id=channel_id, system=name)
        )
        covered = await channels.follow(guild_id, follow, await self.queries.sites(guild_id))
        what = f"site {safe(name)}" if site is not None else f"system {safe(name)}"
        text = (
            f"<#{channel_id}> now follows {what}: one live progress message per site "
            f"({plural(len(covered), 'site')} now), a line per delivery and announcements at 25, 50, 75 "
            "and 100 %. `/colony unfollow` stops it."
        )
        return Reply.of(embeds.message_embed("Following", text), ephemeral=True)

    async def unfollow(
        self, guild_id: int, channel_id: int, target: str | None = None, *, can_manage: bool
    ) -> Reply:
        channels = self._updates(can_manage)
        if target:
            wanted = target.strip().removeprefix("system:")
            follows = [f for f in channels.follows(guild_id) if f.channel_id == channel_id]
            by_id = {s.market_id: s for s in await self.queries.sites(guild_id)}
            # As stored: a system's name, a MarketID, a site's name (also a site that is gone).
            exact = [
                f
                for f in follows
                if (f.system or "").casefold() == wanted.casefold()
                or (
                    f.market_id is not None
                    and (
                        str(f.market_id) == wanted
                        or (
                            f.market_id in by_id
                            and plain_site_name(by_id[f.market_id]).casefold() == wanted.casefold()
                        )
                    )
                )
            ]
            try:  # as `follow` took the same text: a system name cut by autocomplete, part of a name
                name, site, _ = await self._scope(guild_id, target)
            except CommandError:
                if len(exact) > 1:
                    raise  # several followed sites of that name: which one?
                resolved = exact
            else:
                resolved = [
                    f
                    for f in follows
                    if (f.market_id == site.market_id if site is not None
                        else (f.system or "").casefold() == name.casefold())
                ] or exact  # fmt: skip
            if not resolved:
                raise CommandError(
                    f"This channel does not follow \u201c{safe(wanted)}\u201d: "
                    "`/colony unfollow` without a target stops them all."
                )
            hit = resolved[0]
            removed = await channels.unfollow(
                guild_id, channel_id, market_id=hit.market_id, system=hit.system
            )
        else:
            removed = await channels.unfollow(guild_id, channel_id)
        if not removed:
            raise CommandError("This channel follows nothing: `/colony follow` starts updates.")
        return Reply.of(
            embeds.message_embed("Unfollowed", f"Stopped {plural(removed, 'follow')} in <#{channel_id}>."),
            ephemeral=True,
        )

    async def carrier(self, guild_id: int, carrier: str | None = None) -> Reply:
        now = self.now()
        carriers = await self.queries.carriers(guild_id)
        if not carrier:
            return Reply.of(embeds.carriers_embed(carriers, now=now))
        return Reply.of(embeds.carrier_embed(find_carrier(carriers, carrier), now=now))

    def help(self) -> Reply:
        lines = [
            "`/colony status [system]` every site of a system, or every active site: progress, tonnes "
            "left, the most-needed goods, ETA and the top hauler of the last 24 h",
            "`/colony site <site>` one site: every commodity, trips left, contributors, unattributed",
            "`/colony needs [site or system]` the shopping list, biggest first",
            "`/colony contributors [site] [period]` the leaderboard in tonnes and deliveries",
            "`/colony carrier [carrier]` a squadron carrier's location, jump and stock",
            "`/colony link` / `/colony unlink` get (shown once, only to you) or revoke your uploader token",
            "`/colony follow <site or system> [channel]` / `/colony unfollow` live updates in a channel "
            "(Manage Server)",
            "`/haul board` / `claim` / `release` / `mine` / `plan` / `carrier` / `expiry` squadron hauling: "
            "what is still needed once cargo in ships, claims and carriers are counted, and who brings what",
            "",
            "**The uploader** runs on your PC next to the game and sends the colonisation events of "
            f"your journal. {self._install_line()} Then `/colony link` gives you the lines to start it.",
            f"Server: {self.public_url}",
        ]
        return Reply.of(embeds.message_embed("ED Colony commands", "\n".join(lines)), ephemeral=True)
