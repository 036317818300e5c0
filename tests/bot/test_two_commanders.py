"""Two commanders, two tokens, interleaved journals, one of them arriving days late."""

from __future__ import annotations

from typing import Any

from tests.bot._helpers import Bot, Journal, batch

SITE = 3958981890
OTHER = 3958345730


async def test_interleaved_and_late_journals_converge_on_the_newest_snapshots(bot_api: Bot) -> None:
    alice_token = await bot_api.token(user=1, label="Alice")
    bob_token = await bot_api.token(user=2, label="Bob")
    alice = Journal("Alice", source="Journal.2025-04-08T215854.01.log")
    bob = Journal("Bob", source="Journal.2025-04-08T220000.01.log")

    # The game's numbers: every depot snapshot counts both commanders' deliveries.
    steel = titanium = 0
    alice_events: list[dict[str, Any]] = [alice.docked(0, SITE, "Ship")]
    bob_events: list[dict[str, Any]] = [bob.docked(0.5, SITE, "Ship")]
    for step in range(10):
        t = step * 10
        steel += 100
        alice_events.append(alice.contribution(t + 1, SITE, {"steel": 100}))
        alice_events.append(alice.depot(t + 1, SITE, {"steel": (5000, steel), "titanium": (2000, titanium)}))
        titanium += 40
        steel += 10
        bob_events.append(bob.contribution(t + 5, SITE, {"titanium": 40, "steel": 10}))
        bob_events.append(bob.depot(t + 5, SITE, {"steel": (5000, steel), "titanium": (2000, titanium)}))
    bob_events.append(bob.docked(200, OTHER, "Orbital Construction Site: Newton Vision"))
    bob_events.append(bob.depot(200, OTHER, {"water": (100, 0)}))

    # Alice uploads live; Bob's PC was offline and his whole week arrives after.
    for start in range(0, len(alice_events), 4):
        assert (await bot_api.post(alice_token, batch(alice_events[start : start + 4])))[0] == 200
    _, early = await bot_api.get(alice_token, f"/api/v1/sites/{SITE}")
    assert early["snapshot_progress"] == alice_events[-1]["progress"]
    assert (await bot_api.post(bob_token, batch(bob_events)))[0] == 200
    # Alice's uploader retries an old batch: nothing moves.
    assert (await bot_api.post(alice_token, batch(alice_events[:5])))[1]["duplicates"] == 5

    _, site = await bot_api.get(bob_token, f"/api/v1/sites/{SITE}")
    newest = bob_events[-3]  # Bob's last snapshot at this site is the newest of all
    assert site["snapshot_progress"] == newest["progress"]
    assert {c["name"]: (c["required"], c["provided"]) for c in site["commodities"]} == {
        "steel": (5000, steel),
        "titanium": (2000, titanium),
    }
    # The ledger splits by commander, and explains every tonne: nothing unattributed, nothing twice.
    assert site["contributions"] == [
        {"commander": "Alice", "commodity": "steel", "tonnes": 1000},
        {"commander": "Bob", "commodity": "steel", "tonnes": 100},
        {"commander": "Bob", "commodity": "titanium", "tonnes": 400},
    ]
    assert site["unattributed"] == []
    assert all(c["provisional"] == 0 for c in site["commodities"])
    _, board = await bot_api.get(alice_token, "/api/v1/leaderboard")
    assert [(e["commander"], e["tonnes"]) for e in board["entries"]] == [("Alice", 1000), ("Bob", 500)]
    _, board = await bot_api.get(alice_token, f"/api/v1/leaderboard?market_id={OTHER}")
    assert board["entries"] == []
    _, cmdrs = await bot_api.get(alice_token, "/api/v1/commanders")
    where = {c["name"]: (c["station_name"], c["discord_user_id"]) for c in cmdrs["commanders"]}
    assert where == {"Alice": ("Ship", "1"), "Bob": ("Orbital Construction Site: Newton Vision", "2")}
