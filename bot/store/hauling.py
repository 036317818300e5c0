"""SQL for squadron hauling: claims, carrier links, and the trades and snapshots the board reads.

Writes run inside the caller's transaction. Reads run there too, or on the read connection
(`Database.reader`): the board's look-ups change nothing, and there they never hold up an upload.
Reads fetch all their rows in one call on the connection's thread (`execute_fetchall`): a statement
left open between calls would pin what other look-ups on the read connection see meanwhile to when
it began.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

import aiosqlite

from bot.domain.hauling import Claim
from bot.haul_views import ClaimStatus

# Must repeat the partial indexes' WHERE term word for word, or SQLite will not use the indexes.
_MOVE_KINDS = "kind IN ('market_buy', 'market_sell', 'cargo_transfer', 'market')"
# The carrier a row is at, word for word as `events_haul_by_carrier` (migration 0003) indexes it: a
# transfer's is where it was docked, a trade's or a snapshot's its market.
_CARRIER = (
    "CASE kind WHEN 'cargo_transfer' THEN json_extract(payload, '$.at_market_id') "
    "ELSE json_extract(payload, '$.market_id') END"
)

_CLAIM_COLUMNS = (
    "id, market_id, user_id, commodity, tonnes, created_at, expires_at, status, closed_at, delivered"
)


def _claim(row: Any) -> Claim:
    status: ClaimStatus = row[7]  # the table's CHECK constraint keeps it one of them
    return Claim(
        id=int(row[0]),
        market_id=int(row[1]),
        user_id=int(row[2]),
        commodity=str(row[3]),
        tonnes=int(row[4]),
        created_at=datetime.fromisoformat(str(row[5])),
        expires_at=datetime.fromisoformat(str(row[6])),
        status=status,
        closed_at=None if row[8] is None else datetime.fromisoformat(str(row[8])),
        delivered_at_close=int(row[9]),
    )


class StoredMove(NamedTuple):
    """A stored trade or transfer: its number in storing order (`events.seq`) and the wire event."""

    seq: int
    payload: str


class HaulStore:
    async def insert_claim(
        self,
        conn: aiosqlite.Connection,
        guild_id: int,
        market_id: int,
        user_id: int,
        commodity: str,
        tonnes: int,
        created_at: datetime,
        expires_at: datetime,
    ) -> Claim:
        async with conn.execute(
            "INSERT INTO haul_claims (guild_id, market_id, user_id, commodity, tonnes, created_at, "
            f"expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_CLAIM_COLUMNS}",
            (guild_id, market_id, user_id, commodity, tonnes, created_at.isoformat(), expires_at.isoformat()),
        ) as cursor:
            row = await cursor.fetchone()
        assert row is not None
        return _claim(row)

    async def top_up_claim(
        self, conn: aiosqlite.Connection, claim_id: int, tonnes: int, expires_at: datetime
    ) -> Claim | None:
        """Adds `tonnes` to an open claim and moves its expiry; None when it is no longer open."""
        async with conn.execute(
            "UPDATE haul_claims SET tonnes = tonnes + ?, expires_at = ? WHERE id = ? AND status = 'open' "
            f"RETURNING {_CLAIM_COLUMNS}",
            (tonnes, expires_at.isoformat(), claim_id),
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _claim(row)

    async def open_claims(self, conn: aiosqlite.Connection, guild_id: int) -> list[Claim]:
        rows = await conn.execute_fetchall(
            f"SELECT {_CLAIM_COLUMNS} FROM haul_claims WHERE guild_id = ? AND status = 'open' ORDER BY id",
            (guild_id,),
        )
        return [_claim(r) for r in rows]

    async def claims(
        self, conn: aiosqlite.Connection, guild_id: int, *, closed_since: datetime | None = None
    ) -> list[Claim]:
        """Open claims and, given `closed_since`, the ones closed since then too."""
        if closed_since is None:
            return await self.open_claims(conn, guild_id)
        rows = await conn.execute_fetchall(
            f"SELECT {_CLAIM_COLUMNS} FROM haul_claims WHERE guild_id = ? "
            "AND (status = 'open' OR closed_at >= ?) ORDER BY id",
            (guild_id, closed_since.isoformat()),
        )
        return [_claim(r) for r in rows]

    async def claim(self, conn: aiosqlite.Connection, guild_id: int, claim_id: int) -> Claim | None:
        async with conn.execute(
            f"SELECT {_CLAIM_COLUMNS} FROM haul_claims WHERE guild_id = ? AND id = ?", (guild_id, claim_id)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _claim(row)

    async def close_claim(
        self,
        conn: aiosqlite.Connection,
        claim_id: int,
        status: ClaimStatus,
        closed_at: datetime,
        delivered: int,
    ) -> bool:
        """Closes an open claim; False when it was closed already (someone else got there first)."""
        cursor = await conn.execute(
            "UPDATE haul_claims SET status = ?, closed_at = ?, delivered = ? "
            "WHERE id = ? AND status = 'open'",
            (status, closed_at.isoformat(), delivered, claim_id),
        )
        return cursor.rowcount == 1

    async def links(self, conn: aiosqlite.Connection, guild_id: int) -> dict[int, tuple[int, ...]]:
        """carrier id -> the sites it serves."""
        found: dict[int, list[int]] = {}
        rows = await conn.execute_fetchall(
            "SELECT carrier_id, market_id FROM haul_carrier_links WHERE guild_id = ? "
            "ORDER BY carrier_id, market_id",
            (guild_id,),
        )
        for carrier_id, market_id in rows:
            found.setdefault(int(carrier_id), []).append(int(market_id))
        return {c: tuple(m) for c, m in found.items()}

    async def link(
        self, conn: aiosqlite.Connection, guild_id: int, carrier_id: int, market_id: int, at: datetime
    ) -> bool:
        cursor = await conn.execute(
            "INSERT OR IGNORE INTO haul_carrier_links (guild_id, carrier_id, market_id, linked_at) "
            "VALUES (?, ?, ?, ?)",
            (guild_id, carrier_id, market_id, at.isoformat()),
        )
        return cursor.rowcount == 1

    async def unlink(
        self, conn: aiosqlite.Connection, guild_id: int, carrier_id: int, market_id: int
    ) -> bool:
        cursor = await conn.execute(
            "DELETE FROM haul_carrier_links WHERE guild_id = ? AND carrier_id = ? AND market_id = ?",
            (guild_id, carrier_id, market_id),
        )
        return cursor.rowcount == 1

    async def last_seq(self, conn: aiosqlite.Connection) -> int:
        """The newest stored event's number: an event stored later gets a larger one (the table is
        append-only, so numbers are never reused)."""
        ((seq,),) = await conn.execute_fetchall("SELECT coalesce(max(seq), 0) FROM events")
        return int(seq)

    async def moves_after(self, conn: aiosqlite.Connection, guild_id: int, seq: int) -> list[StoredMove]:
        """The guild's buys, sells and cargo transfers stored after event `seq`, whatever their game
        time, in storing order."""
        rows = await conn.execute_fetchall(
            f"SELECT seq, payload FROM events WHERE guild_id = ? AND {_MOVE_KINDS} AND kind != 'market' "
            "AND seq > ? ORDER BY seq",
            (guild_id, seq),
        )
        return [StoredMove(int(r[0]), str(r[1])) for r in rows]

    async def moves(
        self, conn: aiosqlite.Connection, guild_id: int, since: datetime, until: datetime | None = None
    ) -> list[StoredMove]:
        """The guild's buys, sells and cargo transfers from game time `since` on (and before `until`),
        in no particular order."""
        bound, values = _before(until)
        rows = await conn.execute_fetchall(
            f"SELECT seq, payload FROM events WHERE guild_id = ? AND {_MOVE_KINDS} AND kind != 'market' "
            f"AND ts >= ?{bound}",
            (guild_id, _ts(since), *values),
        )
        return [StoredMove(int(r[0]), str(r[1])) for r in rows]

    async def carrier_moves(
        self,
        conn: aiosqlite.Connection,
        guild_id: int,
        carrier_id: int,
        since: datetime,
        until: datetime | None = None,
    ) -> list[StoredMove]:
        """The buys and sells at a carrier and the cargo transfers docked at it, from game time `since`
        on (and before `until`), in no particular order."""
        bound, values = _before(until)
        rows = await conn.execute_fetchall(
            f"SELECT seq, payload FROM events WHERE guild_id = ? AND {_MOVE_KINDS} AND kind != 'market' "
            f"AND {_CARRIER} = ? AND ts >= ?{bound}",
            (guild_id, carrier_id, _ts(since), *values),
        )
        return [StoredMove(int(r[0]), str(r[1])) for r in rows]

    async def market_snapshots(
        self, conn: aiosqlite.Connection, guild_id: int, carrier_id: int, until: datetime, limit: int = 4
    ) -> list[str]:
        """Payloads of a carrier's newest Market snapshots up to game time `until`, newest first."""
        rows = await conn.execute_fetchall(
            f"SELECT payload FROM events WHERE guild_id = ? AND {_MOVE_KINDS} AND kind = 'market' "
            f"AND {_CARRIER} = ? AND ts <= ? ORDER BY ts DESC LIMIT ?",
            (guild_id, carrier_id, _ts(until), limit),
        )
        return [str(r[0]) for r in rows]


def _ts(moment: datetime) -> str:
    """A game time as the events table holds it (UTC, ISO 8601), so that text order is time order."""
    return moment.astimezone(UTC).isoformat()


def _before(until: datetime | None) -> tuple[str, tuple[str, ...]]:
    """The SQL term (and its value) bounding a game-time range above, when it is."""
    return ("", ()) if until is None else (" AND ts < ?", (_ts(until),))
