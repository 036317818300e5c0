"""Read services: plain async methods returning `bot.views` models, for HTTP and Discord alike.

They read the in-memory state, so answers are fast and never touch the database. Every method takes
the guild id: a guild sees only its own data.
"""

from __future__ import annotations

from datetime import datetime

from bot.domain import aggregates
from bot.domain.hauling import DEFAULT_CAPACITY
from bot.services.intake import IntakeStats
from bot.services.state import ColonyState
from bot.views import (
    CarrierView,
    ClaimView,
    CommanderView,
    CommodityTotalView,
    LeaderboardEntry,
    SiteView,
    StatsView,
    StatusView,
    SystemMatchView,
    SystemSummaryView,
    SystemView,
)


class QueryService:
    def __init__(self, state: ColonyState, intake_stats: IntakeStats | None = None) -> None:
        self.state = state
        self.intake_stats = intake_stats or IntakeStats()

    async def sites(self, guild_id: int) -> list[SiteView]:
        return self.state.get(guild_id).site_views()

    async def site(self, guild_id: int, market_id: int) -> SiteView | None:
        return self.state.get(guild_id).site_view(market_id)

    async def systems(self, guild_id: int) -> list[SystemSummaryView]:
        return aggregates.system_summaries(await self.sites(guild_id))

    async def search_systems(self, guild_id: int, query: str, limit: int = 25) -> list[SystemMatchView]:
        return aggregates.search_systems(query, await self.sites(guild_id), limit)

    async def system(self, guild_id: int, name: str) -> SystemView | None:
        found = aggregates.find_system(name, await self.sites(guild_id))
        if found is None:
            return None
        return aggregates.system_view(*found)

    async def commodities(self, guild_id: int, system: str | None = None) -> list[CommodityTotalView] | None:
        """Totals over the sites in progress; None when `system` names no system of this guild."""
        sites = await self.sites(guild_id)
        if system is not None:
            found = aggregates.find_system(system, sites)
            if found is None:
                return None
            sites = found[1]
        return aggregates.commodity_totals(sites)

    async def leaderboard(
        self, guild_id: int, market_id: int | None = None, since: datetime | None = None
    ) -> list[LeaderboardEntry]:
        return aggregates.leaderboard(self.state.get(guild_id), market_id, since)

    async def commanders(self, guild_id: int) -> list[CommanderView]:
        return aggregates.commander_views(self.state.get(guild_id))

    async def hold_capacity(self, guild_id: int) -> int:
        """The hold trips are counted in: the squadron's biggest known one (`Loadout`)."""
        holds = [c.cargo_capacity for c in await self.commanders(guild_id) if c.cargo_capacity]
        return max(holds, default=DEFAULT_CAPACITY)

    async def carriers(self, guild_id: int) -> list[CarrierView]:
        return aggregates.carrier_views(self.state.get(guild_id))

    async def claims(self, guild_id: int) -> list[ClaimView]:
        return aggregates.claim_views(self.state.get(guild_id))

    async def stats(self, guild_id: int) -> StatsView:
        state = self.state.get(guild_id)
        return aggregates.stats(state, state.site_views())

    async def status(self, guild_id: int, top: int = 10) -> StatusView:
        """The `/colony status` data: systems, sites in progress, the most-needed commodities."""
        state = self.state.get(guild_id)
        sites = state.site_views()
        return StatusView(
            systems=aggregates.system_summaries(sites),
            sites_in_progress=[s for s in sites if aggregates.in_progress(s)],
            most_needed=[c for c in aggregates.commodity_totals(sites) if c.remaining > 0][:top],
            stats=aggregates.stats(state, sites),
        )
