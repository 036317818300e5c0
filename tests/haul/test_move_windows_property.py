"""The board's windows of trades (`MoveWindows`) against a full reread of the store: 400 random
steps of rows stored in any order of game time, windows moving both ways, carriers dropped and
asked for again, and one-off wider reads (`keep_others`)."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bot.domain.hauling import Move
from bot.services.haul_moves import MoveWindows, _parsed
from bot.store.db import Database
from bot.store.hauling import HaulStore

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
CARRIERS = [3710508288, 3710508289, 3710508290]
KINDS = ["market_buy", "market_sell", "cargo_transfer", "market"]


def _row(rng: random.Random, offset: int) -> tuple[str, str, str, str]:
    ts = T0 + timedelta(minutes=rng.randint(0, 300))  # any game time: late uploads included
    carrier = rng.choice([*CARRIERS, 123])
    kind = rng.choice(KINDS)
    base: dict[str, Any] = {
        "id": f"{rng.getrandbits(128):032x}", "timestamp": ts.isoformat(), "source": "J", "offset": offset,
        "commander": rng.choice(["A", "B"]), "at_market_id": carrier, "kind": kind,
    }  # fmt: skip
    if kind == "cargo_transfer":
        payload = base | {"transfers": [{"commodity": "steel", "count": 1, "direction": "tocarrier"}]}
    elif kind == "market":
        payload = base | {"market_id": carrier, "items": []}
    else:
        payload = base | {"market_id": carrier, "commodity": "steel", "count": 1}
    return base["id"], kind, ts.isoformat(), orjson.dumps(payload).decode()


def _insert(path: Path, first_offset: int, rng: random.Random) -> None:
    """A few rows stored by another connection, as the intake's writer does."""
    with sqlite3.connect(path) as conn:
        for n in range(rng.randint(0, 6)):
            conn.execute(
                "INSERT INTO events (guild_id, id, kind, known, ts, user_id, token_id, batch_id, received_at,"
                " payload) VALUES (1, ?, ?, 1, ?, 2, 3, 'b', 'now', ?)",
                _row(rng, first_offset + n),
            )


def _counted(moves: Sequence[Move], since: datetime, market: int | None = None) -> Counter[Any]:
    return Counter(
        (m.key, m.commodity, m.ship, m.carrier, m.market_id)
        for m in moves
        if m.key.ts >= since and (market is None or m.market_id == market)
    )


async def test_windows_equal_a_full_reread(tmp_path: Path) -> None:
    db = Database(tmp_path / "colony.db")
    await db.open()
    store = HaulStore()
    windows = MoveWindows(store)
    rng = random.Random(7)
    try:
        for step in range(400):
            _insert(db.path, step * 10, rng)
            holds = None if rng.random() < 0.2 else T0 + timedelta(minutes=rng.randint(0, 300))
            asked = [c for c in CARRIERS if rng.random() < 0.6]
            carriers = {c: T0 + timedelta(minutes=rng.randint(0, 300)) for c in asked}
            keep = rng.random() < 0.3
            got = await windows.read(db.reader, 1, None if keep else holds, carriers, keep_others=keep)
            everything = _parsed(await store.moves(db.reader, 1, T0 - timedelta(days=1)))
            if not keep and holds is not None:
                assert _counted(got.holds, holds) == _counted(everything, holds), step
            for c, since in carriers.items():
                assert _counted(got.carriers[c], since) == _counted(everything, since, c), (step, c)
    finally:
        await db.close()
