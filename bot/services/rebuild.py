"""`colony-bot rebuild`: every projection recomputed from the events table, in one transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError

from bot.domain.guild import GuildState
from bot.domain.keys import Envelope
from bot.store.db import Database
from bot.store.events import EventStore
from bot.store.projections import ProjectionStore, full_changes
from wire import AnyEvent, UnknownEvent
from wire.errors import describe_event_errors

logger = logging.getLogger(__name__)

_EVENT = TypeAdapter[AnyEvent](AnyEvent)


class RebuildError(Exception):
    """A stored event the projections were built from cannot be read by this version: nothing was
    changed (the rebuild is one transaction)."""


@dataclass(frozen=True, slots=True)
class RebuildResult:
    guilds: int
    events: int


async def rebuild(db: Database) -> RebuildResult:
    """Replays every stored event of a kind this version knows; the projections end as if built
    live. Events an older version stored as unknown kinds are used too, once this one knows them.

    Run it with the bot stopped: a running bot keeps its own in-memory state.
    """
    events = EventStore()
    projections = ProjectionStore()
    states: dict[int, GuildState] = {}
    count = unusable = 0
    async with db.transaction() as conn:
        await projections.clear(conn)
        async for stored in events.stored_events(conn):
            try:
                event = _EVENT.validate_json(stored.payload)
            except ValidationError as exc:
                if stored.known:  # used live, in today's projections: never dropped quietly
                    why = describe_event_errors(exc.errors(include_url=False, include_input=False))
                    raise RebuildError(
                        f"event {stored.event_id} of guild {stored.guild_id} cannot be read by this "
                        f"version ({why}); nothing was changed"
                    ) from exc
                # Stored as an unknown kind by an older version, from an uploader whose shape of
                # the kind this version does not share: kept, not used.
                unusable += 1
                logger.debug("stored event not used by the rebuild: %s", exc)
                continue
            if isinstance(event, UnknownEvent):  # still a kind this version does not know
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
    if unusable:
        logger.warning("%d event(s) stored as unknown kinds cannot be read by this version: not used",
                       unusable)
    logger.info("rebuilt the projections of %d guilds from %d events", len(states), count)
    return RebuildResult(len(states), count)
