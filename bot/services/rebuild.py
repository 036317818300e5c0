"""`colony-bot rebuild`: every projection recomputed from the events table, in one transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import TypeAdapter

from bot.domain.guild import GuildState
from bot.domain.keys import Envelope
from bot.store.db import Database
from bot.store.events import EventStore
from bot.store.projections import ProjectionStore, full_changes
from wire import AnyEvent, UnknownEvent

logger = logging.getLogger(__name__)

_EVENT = TypeAdapter[AnyEvent](AnyEvent)


@dataclass(frozen=True, slots=True)
class RebuildResult:
    guilds: int
    events: int


async def rebuild(db: Database) -> RebuildResult:
    """Replays every stored event of a known kind; the projections end as if built live.

    Run it with the bot stopped: a running bot keeps its own in-memory state.
    """
    events = EventStore()
    projections = ProjectionStore()
    states: dict[int, GuildState] = {}
    count = 0
    async with db.transaction() as conn:
        await projections.clear(conn)
        async for stored in events.known_events(conn):
            event = _EVENT.validate_json(stored.payload)
            if isinstance(event, UnknownEvent):  # stored as known by an older version: skip
                continue
            state = states.get(stored.guild_id)
            if state is None:
                state = states[stored.guild_id] = GuildState(stored.guild_id)
            state.apply(Envelope(event, stored.user_id, stored.token_id))
            count += 1
        for guild_id in sorted(states):
            state = states[guild_id]
            state.discard_changes()
            await projections.write(conn, state, full_changes(state))
    logger.info("rebuilt the projections of %d guilds from %d events", len(states), count)
    return RebuildResult(len(states), count)
