"""The services of one running bot, built once at start-up from one open database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.notify.feed import ChangeFeed
from bot.services.hauling import HaulService
from bot.services.intake import IntakeService
from bot.services.queries import QueryService
from bot.services.state import ColonyState
from bot.services.tokens import TokenService
from bot.store.db import Database
from bot.store.events import EventStore
from bot.store.projections import ProjectionStore
from bot.store.tokens import TokenStore


@dataclass(frozen=True, slots=True)
class Services:
    db: Database
    state: ColonyState
    feed: ChangeFeed
    tokens: TokenService
    intake: IntakeService
    queries: QueryService
    hauling: HaulService


async def build_services(db: Database, clock: Callable[[], datetime] | None = None) -> Services:
    """Services over an open database, with every guild's state loaded from the projections."""
    events = EventStore()
    projections = ProjectionStore()
    state = ColonyState(db, projections, events)
    await state.load()
    feed = ChangeFeed()
    intake = IntakeService(db, events, projections, state, feed, clock)
    return Services(
        db=db,
        state=state,
        feed=feed,
        tokens=TokenService(TokenStore(db), clock),
        intake=intake,
        queries=QueryService(state, intake.stats),
        hauling=HaulService(db, state, clock=clock),
    )
