"""Helpers for the bot's tests: builders of wire events shaped like the normaliser's output, and a
running bot API (the real aiohttp app on 127.0.0.1 over a real SQLite file)."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bot.http import create_app
from bot.services.bundle import Services, build_services
from bot.settings import Settings
from bot.store.db import Database
from bot.store.projections import ProjectionStore

T0 = datetime(2025, 4, 8, 21, 0, 0, tzinfo=UTC)
_batch_ids = itertools.count(1)
BOUND = 10.0  # seconds any awaited condition may take before the test fails


async def until(condition: Callable[[], bool], what: str, bound: float = BOUND) -> None:
    """Awaits `condition()` with a bound; the loop yields to the bot between checks."""
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.001)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


@dataclass
class Journal:
    """Builds one commander's wire events in file order (source = a journal file name)."""

    commander: str
    source: str = "Journal.2025-04-08T215854.01.log"
    fid: str | None = None
    offset: int = 0
    at_system: str | None = "Col 285 Sector GF-F b12-5"
    at_market_id: int | None = None
    at_station: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def _base(self, kind: str, minutes: float) -> dict[str, Any]:
        self.offset += 100
        ident = hashlib.sha256(f"{self.commander}|{self.source}|{self.offset}".encode()).hexdigest()[:32]
        base: dict[str, Any] = {
            "kind": kind,
            "id": ident,
            "timestamp": at(minutes),
            "source": self.source,
            "offset": self.offset,
            "commander": self.commander,
            "at_system": self.at_system,
            "at_station": self.at_station,
            "at_market_id": self.at_market_id,
        }
        if self.fid:
            base["fid"] = self.fid
        return base

    def docked(
        self, minutes: float, market_id: int, station: str, *, site: bool = True, **kw: Any
    ) -> dict[str, Any]:
        self.at_market_id, self.at_station = market_id, station
        self.at_system = kw.get("system", self.at_system)
        return self._base("docked", minutes) | {
            "market_id": market_id,
            "station_name": station,
            "station_type": kw.get("station_type", "SpaceConstructionDepot"),
            "system_name": self.at_system,
            "system_address": kw.get("system_address", 6680653861562),
            "construction_site": site,
        }

    def depot(
        self,
        minutes: float,
        market_id: int,
        resources: dict[str, tuple[int, int]],
        *,
        complete: bool = False,
        progress: float | None = None,
    ) -> dict[str, Any]:
        required = sum(r for r, _ in resources.values())
        provided = sum(p for _, p in resources.values())
        return self._base("depot", minutes) | {
            "market_id": market_id,
            "progress": progress if progress is not None else round(provided / required, 6),
            "complete": complete,
            "failed": False,
            "resources": [
                {"name": n, "name_localised": n.title(), "required": r, "provided": p, "payment": 1000}
                for n, (r, p) in sorted(resources.items())
            ],
        }

    def contribution(self, minutes: float, market_id: int, items: dict[str, int]) -> dict[str, Any]:
        return self._base("contribution", minutes) | {
            "market_id": market_id,
            "items": [{"name": n, "name_localised": n.title(), "amount": a} for n, a in items.items()],
        }

    def event(self, kind: str, minutes: float, **fields: Any) -> dict[str, Any]:
        return self._base(kind, minutes) | fields


def batch(events: list[dict[str, Any]], batch_id: str | None = None) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "batch_id": batch_id or f"batch-{next(_batch_ids)}",
        "uploader_version": "test",
        "platform": "linux",
        "events": events,
    }


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"db_path": tmp_path / "colony.db", "http_port": 0} | overrides
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Bot:
    """A running bot API: the real app on a loopback port over a real SQLite file."""

    settings: Settings
    db: Database
    services: Services
    client: TestClient[Any, Any]

    async def token(self, guild: int = 111, user: int = 222, label: str | None = None) -> str:
        token, _ = await self.services.tokens.issue(guild, user, label)
        return token

    async def post(self, token: str, body: dict[str, Any]) -> tuple[int, Any]:
        resp = await self.client.post(
            "/api/v1/events", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        return resp.status, await resp.json()

    async def get(self, token: str, path: str) -> tuple[int, Any]:
        resp = await self.client.get(path, headers={"Authorization": f"Bearer {token}"})
        return resp.status, await resp.json()

    async def snapshot(self) -> tuple[int, dict[str, list[tuple[Any, ...]]]]:
        """Stored events and every projection row: compared before and after a refused request."""
        async with self.db.conn.execute("SELECT count(*) FROM events") as cur:
            row = await cur.fetchone()
        assert row is not None
        return int(row[0]), await ProjectionStore().dump(self.db.conn)


@asynccontextmanager
async def running_bot(settings: Settings, **app_kw: Any) -> AsyncIterator[Bot]:
    db = Database(settings.db_path)
    await db.open()
    try:
        services = await build_services(db)
        client: TestClient[Any, Any] = TestClient(
            TestServer(create_app(services, settings, **app_kw), host="127.0.0.1")
        )
        await client.start_server()
        try:
            yield Bot(settings, db, services, client)
        finally:
            await client.close()
            await services.intake.close()
            services.feed.close()
    finally:
        await db.close()
