"""SQL for the projections: write what a batch changed, load every guild's state, wipe for rebuild.

Rows are written from the in-memory state only, so the same state always gives the same bytes;
the JSON `state` columns carry the event order keys that make loading and re-applying exact.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiosqlite
import orjson

from bot.domain.carriers import (
    CarrierPlace,
    CarrierState,
    CarrierStats,
    Fuel,
    JumpPlan,
    Stock,
    StockLine,
    TradeOrder,
)
from bot.domain.claims import Beacon, ClaimMark, ClaimState
from bot.domain.commanders import (
    Cargo,
    CargoLine,
    CommanderState,
    Fid,
    Inventory,
    Ship,
    Uploader,
    Whereabouts,
)
from bot.domain.guild import Changes, GuildState
from bot.domain.keys import Key
from bot.domain.sites import Identity, LedgerEntry, Resource, SiteState, Snapshot
from bot.store.db import insert_rows

PROJECTION_TABLES: tuple[tuple[str, str], ...] = (
    ("stations", "guild_id, market_id"),
    ("sites", "guild_id, market_id"),
    ("site_commodities", "guild_id, market_id, position"),
    ("ledger", "guild_id, event_id, item"),
    ("commanders", "guild_id, name"),
    ("carriers", "guild_id, carrier_id"),
    ("claims", "guild_id, system_address"),
    ("beacons", "guild_id, event_id"),
)


# --- codec ----------------------------------------------------------------------------------------


def _ts(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _dt(text: Any) -> datetime | None:
    return None if text is None else datetime.fromisoformat(str(text))


def key_json(key: Key) -> list[Any]:
    return [key.ts.isoformat(), key.source, key.offset, key.id]


def key_from(value: Any) -> Key:
    ts, source, offset, event_id = value
    return Key(datetime.fromisoformat(ts), source, int(offset), event_id)


def _key_text(key: Key) -> str:
    return orjson.dumps(key_json(key)).decode()


def _opt_key_text(key: Key | None) -> str | None:
    return None if key is None else _key_text(key)


def _opt_key(value: Any) -> Key | None:
    return None if value is None else key_from(value)


def commander_json(c: CommanderState) -> dict[str, Any]:
    return {
        "uploader": c.uploader and [key_json(c.uploader.key), c.uploader.user_id, c.uploader.token_id],
        "fid": c.fid and [key_json(c.fid.key), c.fid.fid],
        "where": c.where
        and [
            key_json(c.where.key),
            c.where.system_name,
            c.where.system_address,
            c.where.station_name,
            c.where.market_id,
        ],
        "ship": c.ship and [key_json(c.ship.key), c.ship.ship, c.ship.cargo_capacity],
        "cargo": c.cargo and [key_json(c.cargo.key), c.cargo.count],
        "inventory": c.inventory
        and [key_json(c.inventory.key), [[i.name, i.name_localised, i.count] for i in c.inventory.items]],
        "last_seen": _ts(c.last_seen),
    }


def commander_from(name: str, d: dict[str, Any]) -> CommanderState:
    c = CommanderState(name)
    if (u := d["uploader"]) is not None:
        c.uploader = Uploader(key_from(u[0]), u[1], u[2])
    if (f := d["fid"]) is not None:
        c.fid = Fid(key_from(f[0]), f[1])
    if (w := d["where"]) is not None:
        c.where = Whereabouts(key_from(w[0]), w[1], w[2], w[3], w[4])
    if (s := d["ship"]) is not None:
        c.ship = Ship(key_from(s[0]), s[1], s[2])
    if (g := d["cargo"]) is not None:
        c.cargo = Cargo(key_from(g[0]), g[1])
    if (i := d["inventory"]) is not None:
        c.inventory = Inventory(key_from(i[0]), tuple(CargoLine(*line) for line in i[1]))
    c.last_seen = _dt(d["last_seen"])
    return c


def carrier_json(c: CarrierState) -> dict[str, Any]:
    s = c.stats
    return {
        "stats": s
        and [
            key_json(s.key),
            s.carrier_type,
            s.callsign,
            s.name,
            s.docking_access,
            s.cargo_used,
            s.total_capacity,
            s.free_space,
        ],
        "place": c.place
        and [key_json(c.place.key), c.place.system_name, c.place.system_address, c.place.body_id],
        "jump": c.jump
        and [key_json(c.jump.key), c.jump.system_name, c.jump.body, _ts(c.jump.departure_time)],
        "stock": c.stock
        and [key_json(c.stock.key), [[i.name, i.name_localised, i.stock, i.demand] for i in c.stock.items]],
        "fuel": c.fuel and [key_json(c.fuel.key), c.fuel.level],
        "orders": [
            [key_json(o.key), o.commodity, o.commodity_localised, o.purchase, o.sale, o.price, o.cancelled]
            for o in sorted(c.orders.values(), key=lambda o: o.commodity)
        ],
    }


def carrier_from(carrier_id: int, d: dict[str, Any]) -> CarrierState:
    c = CarrierState(carrier_id)
    if (s := d["stats"]) is not None:
        c.stats = CarrierStats(key_from(s[0]), *s[1:])
    if (p := d["place"]) is not None:
        c.place = CarrierPlace(key_from(p[0]), p[1], p[2], p[3])
    if (j := d["jump"]) is not None:
        c.jump = JumpPlan(key_from(j[0]), j[1], j[2], _dt(j[3]))
    if (k := d["stock"]) is not None:
        c.stock = Stock(key_from(k[0]), tuple(StockLine(*line) for line in k[1]))
    if (f := d["fuel"]) is not None:
        c.fuel = Fuel(key_from(f[0]), f[1])
    for o in d["orders"]:
        c.orders[o[1]] = TradeOrder(key_from(o[0]), *o[1:])
    return c


def claim_json(c: ClaimState) -> dict[str, Any]:
    return {
        "claimed": c.claimed and [key_json(c.claimed.key), c.claimed.commander],
        "released": c.released and [key_json(c.released.key), c.released.commander],
    }


def claim_from(address: int, name: str, d: dict[str, Any]) -> ClaimState:
    c = ClaimState(address, name)
    if (m := d["claimed"]) is not None:
        c.claimed = ClaimMark(key_from(m[0]), m[1])
    if (m := d["released"]) is not None:
        c.released = ClaimMark(key_from(m[0]), m[1])
    return c


def _json(value: dict[str, Any]) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def full_changes(state: GuildState) -> Changes:
    """Every entity of a state, as if one batch had created them all (rebuild writes this)."""
    return Changes(
        sites=set(state.sites),
        stations=set(state.stations),
        ledger=[entry for site in state.sites.values() for entry in site.ledger],
        commanders=set(state.commanders),
        carriers=set(state.carriers),
        claims=set(state.claims),
        beacons=list(state.beacons.items()),
    )


ProjectionRows = list[tuple[str, list[tuple[Any, ...]]]]


Written = dict[tuple[int, int], tuple[tuple[Any, ...], ...]]  # (guild, market) -> commodity rows


def projection_rows(state: GuildState, changes: Changes, written: Written | None = None) -> ProjectionRows:
    """The statements and parameters that write `changes` of `state`, taken now.

    Taking the values at once (not when the statements run) lets the intake prepare the next batch
    in memory while this one is still being written. `written` (what the database holds, kept up to
    date here) lets a site's commodity rows be rewritten only where they changed.
    """
    g = state.guild_id
    out: ProjectionRows = []
    if changes.stations:
        out.append(
            (
                "INSERT OR REPLACE INTO stations (guild_id, market_id, station_name, station_type, "
                "system_name, system_address, seen_key, type_key, address_key) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        g,
                        m,
                        i.station_name,
                        i.station_type,
                        i.system_name,
                        i.system_address,
                        _key_text(i.key),
                        _opt_key_text(i.type_key),
                        _opt_key_text(i.address_key),
                    )
                    for m in sorted(changes.stations)
                    for i in (state.stations[m],)
                ],
            )
        )
    if changes.sites:
        ordered = sorted(changes.sites)
        out.append(
            (
                "INSERT OR REPLACE INTO sites (guild_id, market_id, known, flagged, complete, completed_at, "
                "updated_at, snapshot_key, progress, snapshot_complete, failed) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_site_row(g, state.sites[m]) for m in ordered],
            )
        )
        # Only the commodity rows that differ from what was last written (usually one or two of a
        # site's ~20), then the rows past the end when the list got shorter.
        upserts: list[tuple[Any, ...]] = []
        tails: list[tuple[Any, ...]] = []
        for m in ordered:
            snap = state.sites[m].snapshot
            rows = tuple(
                (r.name, r.name_localised, r.required, r.provided, r.payment)
                for r in (snap.resources if snap else ())
            )
            old = written.get((g, m)) if written is not None else None
            for pos, row in enumerate(rows):
                if old is None or pos >= len(old) or old[pos] != row:
                    upserts.append((g, m, pos, *row))
            if old is None or len(old) > len(rows):
                tails.append((g, m, len(rows)))
            if written is not None:
                written[(g, m)] = rows
        if tails:
            out.append(
                ("DELETE FROM site_commodities WHERE guild_id = ? AND market_id = ? AND position >= ?", tails)
            )
        if upserts:
            out.append(
                (
                    "INSERT OR REPLACE INTO site_commodities (guild_id, market_id, position, name, "
                    "name_localised, required, provided, payment) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    upserts,
                )
            )
    if changes.ledger:
        out.append(
            (
                "INSERT INTO ledger (guild_id, event_id, item, market_id, commander, commodity, "
                'name_localised, tonnes, ts, source, "offset", user_id) '
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        g,
                        e.key.id,
                        e.item,
                        e.market_id,
                        e.commander,
                        e.commodity,
                        e.name_localised,
                        e.tonnes,
                        e.key.ts.isoformat(),
                        e.key.source,
                        e.key.offset,
                        e.user_id,
                    )
                    for e in changes.ledger
                ],
            )
        )
    if changes.commanders:
        out.append(
            (
                "INSERT OR REPLACE INTO commanders (guild_id, name, fid, user_id, token_id, last_seen, "
                "system_name, station_name, cargo_capacity, cargo_count, state) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_commander_row(g, state.commanders[n]) for n in sorted(changes.commanders)],
            )
        )
    if changes.carriers:
        out.append(
            (
                "INSERT OR REPLACE INTO carriers (guild_id, carrier_id, callsign, name, system_name, state) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        g,
                        c.carrier_id,
                        c.stats and c.stats.callsign,
                        c.stats and c.stats.name,
                        c.place and c.place.system_name,
                        _json(carrier_json(c)),
                    )
                    for cid in sorted(changes.carriers)
                    for c in (state.carriers[cid],)
                ],
            )
        )
    if changes.claims:
        out.append(
            (
                "INSERT OR REPLACE INTO claims (guild_id, system_address, system_name, active, state) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (g, c.system_address, c.system_name, int(c.active), _json(claim_json(c)))
                    for a in sorted(changes.claims)
                    for c in (state.claims[a],)
                ],
            )
        )
    if changes.beacons:
        out.append(
            (
                "INSERT OR REPLACE INTO beacons (guild_id, event_id, commander, system_name, system_address, "
                "seen_key) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (g, event_id, b.commander, b.system_name, b.system_address, _key_text(b.key))
                    for event_id, b in changes.beacons
                ],
            )
        )
    return out


# --- SQL ------------------------------------------------------------------------------------------


class ProjectionStore:
    """Statements run inside the caller's transaction (`Database.transaction()`).

    Remembers the commodity rows it wrote or loaded, to write only the changed ones next time;
    `load` and `clear` reset that memory, so after a rolled-back transaction (followed by a load)
    it matches the database again.
    """

    def __init__(self) -> None:
        self.written: Written = {}

    def rows(self, state: GuildState, changes: Changes) -> ProjectionRows:
        return projection_rows(state, changes, self.written)

    async def write(self, conn: aiosqlite.Connection, state: GuildState, changes: Changes) -> None:
        await self.write_rows(conn, self.rows(state, changes))

    async def write_rows(self, conn: aiosqlite.Connection, rows: ProjectionRows) -> None:
        for sql, params in rows:
            await conn.executemany(sql, params)

    def write_rows_now(self, conn: sqlite3.Connection, rows: ProjectionRows) -> None:
        """`write_rows` on the connection's own thread (inside `Database.run_transaction`)."""
        for sql, params in rows:
            insert_rows(conn, sql, params)

    async def clear(self, conn: aiosqlite.Connection) -> None:
        self.written = {}
        for table, _ in PROJECTION_TABLES:
            await conn.execute(f"DELETE FROM {table}")

    async def dump(self, conn: aiosqlite.Connection) -> dict[str, list[tuple[Any, ...]]]:
        """Every projection row in primary-key order: what `rebuild` must reproduce byte for byte."""
        out: dict[str, list[tuple[Any, ...]]] = {}
        for table, order in PROJECTION_TABLES:
            async with conn.execute(f"SELECT * FROM {table} ORDER BY {order}") as cursor:
                out[table] = [tuple(row) for row in await cursor.fetchall()]
        return out

    async def load(self, conn: aiosqlite.Connection) -> dict[int, GuildState]:
        states: dict[int, GuildState] = {}

        def guild(g: int) -> GuildState:
            if g not in states:
                states[g] = GuildState(g)
            return states[g]

        async with conn.execute("SELECT * FROM stations") as cur:
            for g, m, name, stype, system, address, key, tkey, akey in await cur.fetchall():
                guild(g).stations[m] = Identity(
                    key_from(orjson.loads(key)), name, system,
                    _opt_key(tkey and orjson.loads(tkey)), stype,
                    _opt_key(akey and orjson.loads(akey)), address,
                )  # fmt: skip
        resources: dict[tuple[int, int], list[Resource]] = {}
        async with conn.execute(
            "SELECT * FROM site_commodities ORDER BY guild_id, market_id, position"
        ) as cur:
            for g, m, _pos, name, loc, req, prov, pay in await cur.fetchall():
                resources.setdefault((g, m), []).append(Resource(name, loc, req, prov, pay))
        async with conn.execute("SELECT * FROM sites") as cur:
            for row in await cur.fetchall():
                (
                    g,
                    m,
                    _known,
                    flagged,
                    complete,
                    completed_at,
                    updated_at,
                    skey,
                    progress,
                    scomplete,
                    failed,
                ) = row
                site = guild(g).site(m)
                site.flagged = bool(flagged)
                site.complete = bool(complete)
                site.completed_at = _dt(completed_at)
                site.updated_at = _dt(updated_at)
                if skey is not None:
                    site.snapshot = Snapshot(
                        key_from(orjson.loads(skey)),
                        float(progress),
                        bool(scomplete),
                        bool(failed),
                        tuple(resources.get((g, m), ())),
                    )
        async with conn.execute(
            'SELECT * FROM ledger ORDER BY guild_id, ts, source, "offset", event_id, item'
        ) as cur:
            for (
                g,
                eid,
                item,
                m,
                cmdr,
                commodity,
                loc,
                tonnes,
                ts,
                source,
                offset,
                user,
            ) in await cur.fetchall():
                key = Key(datetime.fromisoformat(ts), source, offset, eid)
                guild(g).site(m).add_entry(LedgerEntry(key, item, m, cmdr, commodity, loc, tonnes, user))
        async with conn.execute("SELECT guild_id, name, state FROM commanders") as cur:
            for g, name, state in await cur.fetchall():
                guild(g).commanders[name] = commander_from(name, orjson.loads(state))
        async with conn.execute("SELECT guild_id, carrier_id, state FROM carriers") as cur:
            for g, cid, state in await cur.fetchall():
                guild(g).carriers[cid] = carrier_from(cid, orjson.loads(state))
        async with conn.execute("SELECT guild_id, system_address, system_name, state FROM claims") as cur:
            for g, address, name, state in await cur.fetchall():
                guild(g).claims[address] = claim_from(address, name, orjson.loads(state))
        async with conn.execute("SELECT * FROM beacons") as cur:
            for g, eid, cmdr, system, address, key in await cur.fetchall():
                guild(g).beacons[eid] = Beacon(key_from(orjson.loads(key)), cmdr, system, address)
        for state in states.values():
            state.discard_changes()
        self.written = {
            (g, m): tuple((r.name, r.name_localised, r.required, r.provided, r.payment) for r in rows)
            for (g, m), rows in resources.items()
        }
        return states


def _site_row(g: int, s: SiteState) -> tuple[Any, ...]:
    snap = s.snapshot
    return (
        g,
        s.market_id,
        int(s.known),
        int(s.flagged),
        int(s.complete),
        _ts(s.completed_at),
        _ts(s.updated_at),
        _key_text(snap.key) if snap else None,
        snap.progress if snap else None,
        int(snap.complete) if snap else None,
        int(snap.failed) if snap else None,
    )


def _commander_row(g: int, c: CommanderState) -> tuple[Any, ...]:
    return (
        g,
        c.name,
        c.fid.fid if c.fid else None,
        c.uploader.user_id if c.uploader else None,
        c.uploader.token_id if c.uploader else None,
        _ts(c.last_seen),
        c.where.system_name if c.where else None,
        c.where.station_name if c.where else None,
        c.ship.cargo_capacity if c.ship else None,
        c.cargo.count if c.cargo else None,
        _json(commander_json(c)),
    )


def guild_ids(states: Sequence[GuildState]) -> list[int]:
    return sorted(s.guild_id for s in states)
