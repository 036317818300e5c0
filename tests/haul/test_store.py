"""The hauling schema: migration 0002 over an existing database keeps its data, the trades look-up
uses its partial index, and `colony-bot rebuild` leaves claims and carrier links (user data) alone."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.services.rebuild import rebuild
from bot.store.db import Database, migrations
from bot.store.hauling import HaulStore

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _schema_one(path: Path) -> None:
    (first, _, sql), *_ = migrations()
    assert first == 1
    with sqlite3.connect(path) as conn:
        conn.executescript(sql + "\nPRAGMA user_version = 1;")
        conn.execute(
            "INSERT INTO events (guild_id, id, kind, known, ts, user_id, token_id, batch_id, received_at, "
            "payload) VALUES (1, 'e1', 'market_buy', 1, '2026-05-01T12:00:00+00:00', 2, 3, 'b', 'now', '{}')"
        )
        conn.execute("INSERT INTO guild_settings VALUES (1, 'channel_updates', '{}')")


async def test_migrating_a_schema_one_database_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "colony.db"
    _schema_one(path)
    db = Database(path)
    await db.open()
    try:
        assert db.schema_version == len(migrations()) >= 2
        async with db.conn.execute("SELECT id, kind FROM events") as cur:
            assert [tuple(r) for r in await cur.fetchall()] == [("e1", "market_buy")]
        async with db.conn.execute("SELECT name FROM guild_settings") as cur:
            assert [tuple(r) for r in await cur.fetchall()] == [("channel_updates",)]
        async with db.conn.execute(
            "EXPLAIN QUERY PLAN SELECT payload FROM events WHERE guild_id = ? AND kind IN "
            "('market_buy', 'market_sell', 'cargo_transfer', 'market') AND kind != 'market' AND ts >= ? "
            "ORDER BY ts",
            (1, "2026"),
        ) as cur:
            plan = " ".join(str(row[-1]) for row in await cur.fetchall())
        assert "events_haul_moves" in plan
        async with db.transaction() as conn:
            assert await HaulStore().moves(conn, 1, T0 - timedelta(seconds=1)) == ["{}"]
            assert await HaulStore().moves(conn, 1, T0 + timedelta(seconds=1)) == []
    finally:
        await db.close()


async def test_rebuild_leaves_claims_and_links_alone(tmp_path: Path) -> None:
    db = Database(tmp_path / "colony.db")
    await db.open()
    try:
        store = HaulStore()
        async with db.transaction() as conn:
            claim = await store.insert_claim(conn, 1, 42, 7, "steel", 500, T0, T0 + timedelta(hours=4))
            assert await store.link(conn, 1, 99, 42, T0)
            assert not await store.link(conn, 1, 99, 42, T0)
        await rebuild(db)
        async with db.transaction() as conn:
            assert await store.open_claims(conn, 1) == [claim]
            assert await store.links(conn, 1) == {99: (42,)}
            assert await store.close_claim(conn, claim.id, "released", T0, 0)
            assert not await store.close_claim(conn, claim.id, "expired", T0, 0)  # closed once only
            assert await store.open_claims(conn, 1) == []
            (closed,) = await store.claims(conn, 1, closed_since=T0)
            assert (closed.status, closed.closed_at) == ("released", T0)
    finally:
        await db.close()
