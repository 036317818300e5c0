"""The in-memory colony state of every guild, loaded from the projections at start."""

from __future__ import annotations

from bot.domain.guild import GuildState
from bot.store.db import Database
from bot.store.events import EventStore
from bot.store.projections import ProjectionStore


class ColonyState:
    """Every guild's `GuildState`. Writes go through the intake service, under the store's lock."""

    def __init__(self, db: Database, projections: ProjectionStore, events: EventStore) -> None:
        self.db = db
        self.projections = projections
        self.events = events
        self.guilds: dict[int, GuildState] = {}

    def get(self, guild_id: int) -> GuildState:
        state = self.guilds.get(guild_id)
        if state is None:
            state = self.guilds[guild_id] = GuildState(guild_id)
        return state

    async def load(self) -> None:
        async with self.db.lock:
            await self._load_all()

    async def _load_all(self) -> None:
        conn = self.db.conn
        self.guilds = await self.projections.load(conn)
        for guild_id, count in (await self.events.counts(conn)).items():
            self.get(guild_id).events_stored = count
        for state in self.guilds.values():
            state.site_views()  # warm the view cache: the first change then knows what was shown

    async def reload_locked(self) -> None:
        """After a failed transaction, back to what the database holds (caller holds the lock)."""
        await self._load_all()
