"""The hauling schema: migrations 0002 and 0003 over an existing database keep its data, the trades
and snapshots look-ups use their partial indexes (a carrier's found by the carrier, what was stored
since a number by the number), and `colony-bot rebuild` leaves claims and carrier links (user data)
alone."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bot.services.rebuild import rebuild
from bot.store.db import Database, migrations, on_thread
from bot.store.hauling import HaulStore

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
CARRIER, OTHER = 3710508288, 3710508289


def _schema(path: Path, version: int) -> None:
    with sqlite3.connect(path) as conn:
        for number, _, sql in migrations()[:version]:
            conn.executescript(f"{sql}\nPRAGMA user_version = {number};")


def _event(conn: sqlite3.Connection, event_id: str, kind: str, minutes: int, payload: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO events (guild_id, id, kind, known, ts, user_id, token_id, batch_id, received_at, "
        "payload) VALUES (1, ?, ?, 1, ?, 2, 3, 'b', 'now', ?)",
        (event_id, kind, (T0 + timedelta(minutes=minutes)).isoformat(), orjson.dumps(payload).decode()),
    )


def _schema_one(path: Path) -> None:
    _schema(path, 1)
    with sqlite3.connect(path) as conn:
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
            assert [m.payload for m in await HaulStore().moves(conn, 1, T0 - timedelta(seconds=1))] == ["{}"]
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


async def test_migrating_a_schema_two_database_finds_its_trades_by_carrier(tmp_path: Path) -> None:
    """Migration 0003 indexes the rows already stored: a trade at the carrier, a transfer docked at it
    and its snapshot are found by the carrier; another carrier's are not."""
    path = tmp_path / "colony.db"
    _schema(path, 2)
    with sqlite3.connect(path) as conn:
        _event(conn, "buy", "market_buy", 1, {"market_id": CARRIER, "at_market_id": CARRIER})
        _event(conn, "load", "cargo_transfer", 2, {"at_market_id": CARRIER})
        _event(conn, "snap", "market", 3, {"market_id": CARRIER, "at_market_id": CARRIER})
        _event(conn, "elsewhere", "market_buy", 4, {"market_id": OTHER, "at_market_id": OTHER})
        _event(conn, "jump", "fsd_jump", 5, {"at_market_id": CARRIER})
    db = Database(path)
    await db.open()
    try:
        assert db.schema_version == len(migrations()) >= 3
        store = HaulStore()
        # Rows 1 to 5 in storing order: the buy and the transfer, not the snapshot or the other carrier.
        assert sorted(m.seq for m in await store.carrier_moves(db.conn, 1, CARRIER, T0)) == [1, 2]
        assert len(await store.carrier_moves(db.conn, 1, CARRIER, T0, until=T0 + timedelta(minutes=2))) == 1
        assert await store.market_snapshots(db.conn, 1, CARRIER, T0 + timedelta(hours=1)) == [
            orjson.dumps({"market_id": CARRIER, "at_market_id": CARRIER}).decode()
        ]
        last = await store.last_seq(db.conn)
        assert [m.seq for m in await store.moves_after(db.conn, 1, 0)] == [1, 2, 4]  # no snapshot, no jump
        assert await store.moves_after(db.conn, 1, last) == []
    finally:
        await db.close()


async def _plan(db: Database, call: Callable[[], Awaitable[object]]) -> str:
    """The query plan of the statement `call` sends (its values bound in the text)."""
    statements: list[str] = []
    await on_thread(db.conn, lambda conn: conn.set_trace_callback(statements.append))
    try:
        await call()
    finally:
        await on_thread(db.conn, lambda conn: conn.set_trace_callback(None))
    (sql,) = statements
    async with db.conn.execute("EXPLAIN QUERY PLAN " + sql) as cur:
        return " ".join(str(row[-1]) for row in await cur.fetchall())


async def test_a_carriers_rows_are_found_by_the_carrier_and_new_rows_by_their_number(tmp_path: Path) -> None:
    """With the carrier only a filter on the payload, finding one carrier's snapshots walked every
    carrier's Market snapshot before the time asked for (all of them for a carrier seen once, for
    each carrier `carrier_stock` lists). And what was stored since the board last looked is found
    by its number, not by walking the guild's trades."""
    db = Database(tmp_path / "colony.db")
    await db.open()
    store = HaulStore()
    try:
        plan = await _plan(db, lambda: store.market_snapshots(db.conn, 1, CARRIER, T0))
        assert "events_haul_by_carrier (guild_id=? AND kind=? AND <expr>=? AND ts<?)" in plan, plan
        plan = await _plan(db, lambda: store.carrier_moves(db.conn, 1, CARRIER, T0, T0 + timedelta(days=1)))
        assert "events_haul_by_carrier (guild_id=? AND kind=? AND <expr>=? AND ts>? AND ts<?)" in plan, plan
        plan = await _plan(db, lambda: store.moves_after(db.conn, 1, 1234))
        assert "events_haul_stored (guild_id=? AND seq>?)" in plan, plan
        plan = await _plan(db, lambda: store.moves(db.conn, 1, T0, T0 + timedelta(days=1)))
        assert "events_haul_moves (guild_id=? AND kind=? AND ts>? AND ts<?)" in plan, plan
    finally:
        await db.close()
