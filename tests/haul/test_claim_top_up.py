"""A second /haul claim of the same goods for the same site adds to the first: one delivery is
never credited to two claims. Through the real intake and HaulService over a real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.render.haul import claim_embed
from tests.bot._helpers import Journal, batch, make_settings, running_bot

SITE = 3958981890
GUILD, USER, OTHER = 111, 222, 333


def _at(event: dict[str, Any], when: datetime) -> dict[str, Any]:
    return event | {"timestamp": when.isoformat().replace("+00:00", "Z")}


async def test_a_second_claim_adds_to_the_first_and_one_delivery_counts_once(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    async with running_bot(make_settings(tmp_path)) as bot:
        token = await bot.token(guild=GUILD, user=USER)
        j = Journal("Alice")
        start = now - timedelta(minutes=10)
        events = [
            _at(j.docked(0, SITE, "Orbital Construction Site: Vela"), start),
            _at(j.depot(0, SITE, {"steel": (5000, 0), "titanium": (800, 0)}), start),
        ]
        assert (await bot.post(token, batch(events)))[0] == 200
        hauling = bot.services.hauling
        first = await hauling.claim(GUILD, USER, "steel", 1000, SITE)
        other = await hauling.claim(GUILD, OTHER, "steel", 500, SITE)  # another member's: its own
        titanium = await hauling.claim(GUILD, USER, "titanium", 300, SITE)  # other goods: its own

        later = now + timedelta(seconds=5)
        events = [
            _at(j.contribution(0, SITE, {"steel": 400}), later),
            _at(j.depot(0, SITE, {"steel": (5000, 400), "titanium": (800, 0)}), later),
        ]
        assert (await bot.post(token, batch(events)))[0] == 200
        second = await hauling.claim(GUILD, USER, "steel", 1000, SITE)
        assert second.id == first.id
        assert (second.tonnes, second.delivered, second.remaining) == (2000, 400, 1600)
        assert second.expires_at > first.expires_at
        text = claim_embed(second).description or ""
        assert text.startswith("You bring 1,600 t of Steel to")
        assert "(400 t of the claim's 2,000 t already delivered)" in text

        last = later + timedelta(seconds=5)
        events = [
            _at(j.contribution(0, SITE, {"steel": 1000}), last),
            _at(j.depot(0, SITE, {"steel": (5000, 1400), "titanium": (800, 0)}), last),
        ]
        assert (await bot.post(token, batch(events)))[0] == 200
        claims = {c.id: c for c in await hauling.claims(GUILD, closed_within=timedelta(hours=1))}
        assert set(claims) == {first.id, other.id, titanium.id}
        assert (claims[first.id].status, claims[first.id].delivered) == ("open", 1400)
        assert claims[first.id].remaining == 600
        assert (claims[other.id].delivered, claims[titanium.id].delivered) == (0, 0)
