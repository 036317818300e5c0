"""What each `/haul` command answers: plain async methods over the hauling service.

The cog's callbacks, the plan's button, the offline console and the tests call these. A refusal is
a `CommandError` whose sentence the user reads (ephemeral, through the tree's error handler).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from bot.discord.replies import CommandError, find_carrier, find_site, plain_site_name
from bot.haul_views import BoardView
from bot.ids import typed_id
from bot.render import embeds
from bot.render import haul as render
from bot.render.reply import Reply
from bot.render.text import safe
from bot.services import hauling as service
from bot.services.hauling import HaulService
from bot.services.queries import QueryService
from bot.views import SiteView


def refusal(exc: service.HaulError) -> str:
    """The sentence a user reads for a refused haul request."""
    match exc:
        case service.ClaimTooLargeError():
            name = render.commodity(exc.commodity, exc.name_localised)
            where = render.site_title(exc.site.station_name, exc.site.market_id)
            numbers = f"{exc.remaining:,} t remaining, {exc.in_ships:,} t in ships, {exc.claimed:,} t claimed"
            if exc.available <= 0:
                return f"Nothing of {name} is left unclaimed at {where}: {numbers}."
            return (
                f"Only {exc.available:,} t of {name} is left unclaimed at {where}: {numbers}. "
                f"Claim at most {exc.available:,} t."
            )
        case service.NotNeededError():
            site = render.site_title(exc.site.station_name, exc.site.market_id)
            return f"{site} does not need {safe(exc.commodity)}: `/haul board` shows what it needs."
        case service.SiteDoneError():
            site = render.site_title(exc.site.station_name, exc.site.market_id)
            return f"{site} is complete: nothing left to claim."
        case service.NoSiteError():
            return (
                "Name the site: you are not docked at a construction site and have no claim or recent "
                "delivery to go by."
            )
        case service.NoClaimError():
            if exc.claim_id is None:
                return "You have no open claim: `/haul claim` reserves a haul."
            return f"You have no open claim #{exc.claim_id}: `/haul mine` lists yours."
        case service.NoPlanLineError():
            site = render.site_title(exc.site.station_name, exc.site.market_id)
            return (
                f"The plan for {site} has no line for you: it needs a commander of yours seen in the last "
                "24 h with a known ship, and no claim of yours there."
            )
        case service.BadTonnesError():
            return "Claim at least 1 t."
        case service.BadExpiryError():
            return (
                f"Claims can expire after {service.MIN_EXPIRY_HOURS:g} to "
                f"{service.MAX_EXPIRY_HOURS:g} hours, not {exc.hours:g}."
            )
    return "That cannot be done."


class HaulReplies:
    def __init__(
        self,
        hauling: HaulService,
        queries: QueryService,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.hauling = hauling
        self.queries = queries
        self.now = now

    async def _site(self, guild_id: int, text: str) -> SiteView:
        return find_site(await self.queries.sites(guild_id), text)

    async def _default_site(self, guild_id: int, user_id: int) -> SiteView:
        mine = await self.hauling.mine(guild_id, user_id)
        if mine.hauling_for is None:
            raise CommandError(refusal(service.NoSiteError()))
        site = await self.queries.site(guild_id, mine.hauling_for)
        if site is None:
            raise CommandError(refusal(service.NoSiteError()))
        return site

    # -- the commands ----------------------------------------------------------------------------

    async def board(self, guild_id: int, user_id: int, target: str | None = None) -> Reply:
        now = self.now()
        if target:
            wanted = target.strip()
            system = await self.queries.system(guild_id, wanted.removeprefix("system:"))
            if system is not None:
                building = [s.market_id for s in system.sites if not (s.complete or s.failed)]
                boards = await self.hauling.boards(guild_id, building) if building else []
                if not boards:
                    raise CommandError(
                        f"Every site of {safe(system.name)} is complete: nothing left to haul."
                    )
                return Reply.of(*(render.board_embed(b, now=now) for b in boards))
            if wanted.startswith("system:"):
                raise CommandError(f"No construction site known in {safe(wanted[7:])}: see `/colony status`.")
            site = await self._site(guild_id, wanted)
        else:
            site = await self._default_site(guild_id, user_id)
        board = await self.hauling.board(guild_id, site.market_id)
        assert board is not None  # every known site has a board
        return Reply.of(render.board_embed(board, now=now))

    async def board_view(self, guild_id: int, market_id: int) -> BoardView | None:
        return await self.hauling.board(guild_id, market_id)

    async def claim(
        self, guild_id: int, user_id: int, commodity: str, tonnes: int, site: str | None = None
    ) -> Reply:
        market_id = (await self._site(guild_id, site)).market_id if site else None
        try:
            claim = await self.hauling.claim(guild_id, user_id, commodity, tonnes, market_id)
        except service.HaulError as exc:
            raise CommandError(refusal(exc)) from exc
        return Reply.of(render.claim_embed(claim), ephemeral=True)

    async def release(self, guild_id: int, user_id: int, claim: str | None = None) -> Reply:
        claim_id: int | None = None
        if claim:
            claim_id = typed_id(claim.strip().lstrip("#"))
            if claim_id is None:
                raise CommandError(
                    f"A claim is its number, like 12 (see `/haul mine`), not \u201c{safe(claim)}\u201d."
                )
        try:
            released = await self.hauling.release(guild_id, user_id, claim_id)
        except service.HaulError as exc:
            raise CommandError(refusal(exc)) from exc
        return Reply.of(render.released_embed(released), ephemeral=True)

    async def mine(self, guild_id: int, user_id: int) -> Reply:
        mine = await self.hauling.mine(guild_id, user_id)
        names = {s.market_id: s.station_name for s in await self.queries.sites(guild_id)}
        return Reply.of(render.mine_embed(mine, site_names=names), ephemeral=True)

    async def plan(self, guild_id: int, user_id: int, site: str | None = None) -> tuple[Reply, int]:
        """The plan and its site's MarketID (for the button)."""
        found = await self._site(guild_id, site) if site else await self._default_site(guild_id, user_id)
        if found.complete or found.failed:
            raise CommandError(refusal(service.SiteDoneError(found)))
        plan = await self.hauling.plan(guild_id, found.market_id)
        assert plan is not None
        return Reply.of(render.plan_embed(plan)), found.market_id

    async def claim_planned(self, guild_id: int, user_id: int, market_id: int) -> Reply:
        try:
            claim = await self.hauling.claim_planned(guild_id, user_id, market_id)
        except service.HaulError as exc:
            raise CommandError(refusal(exc)) from exc
        return Reply.of(render.claim_embed(claim), ephemeral=True)

    async def carrier(
        self, guild_id: int, carrier: str, site: str | None = None, *, remove: bool = False, can_manage: bool
    ) -> Reply:
        """Without a site: the carrier's tracked stock and gap. With one: link it (or unlink)."""
        if remove and not site:
            raise CommandError(
                "Name the site to unlink the carrier from: `/haul carrier <carrier> <site> remove:True`."
            )
        if site and not can_manage:
            raise CommandError("Only members with the Manage Server permission can link carriers to sites.")
        chosen = find_carrier(await self.queries.carriers(guild_id), carrier)
        if not site:
            (stock,) = await self.hauling.carrier_stock(guild_id, [chosen.carrier_id])
            names = {s.market_id: s.station_name for s in await self.queries.sites(guild_id)}
            return Reply.of(render.carrier_stock_embed(stock, site_names=names, plans=chosen))
        found = await self._site(guild_id, site)
        changed = await self.hauling.link_carrier(
            guild_id, chosen.carrier_id, found.market_id, remove=remove
        )
        name = safe(chosen.name or chosen.callsign, fallback=str(chosen.carrier_id))
        where = safe(plain_site_name(found))
        if remove:
            text = (
                f"Carrier {name} no longer serves {where}."
                if changed
                else f"Carrier {name} did not serve {where}."
            )
        else:
            text = (
                f"Carrier {name} now serves {where}: its stock shows on the board as on carriers."
                if changed
                else f"Carrier {name} already serves {where}."
            )
        return Reply.of(embeds.message_embed("Carrier link", text), ephemeral=True)

    async def expiry(self, guild_id: int, hours: float | None, *, can_manage: bool) -> Reply:
        if hours is None:
            current = await self.hauling.expiry(guild_id)
            text = f"Claims expire after {current.total_seconds() / 3600:g} hours."
        else:
            if not can_manage:
                raise CommandError("Only members with the Manage Server permission can change claim expiry.")
            try:
                current = await self.hauling.set_expiry(guild_id, hours)
            except service.HaulError as exc:
                raise CommandError(refusal(exc)) from exc
            text = f"New claims now expire after {current.total_seconds() / 3600:g} hours."
        return Reply.of(embeds.message_embed("Claim expiry", text), ephemeral=True)
