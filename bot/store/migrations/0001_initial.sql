-- Schema 1: tokens, the append-only events table (the source of truth), accepted batches, and the
-- projections `colony-bot rebuild` recomputes from the events.

CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    label       TEXT,
    prefix      TEXT NOT NULL,           -- the first characters, to name it in `token list/revoke`
    token_hash  TEXT NOT NULL UNIQUE,    -- sha256 of the token; the token itself is never stored
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX tokens_by_guild ON tokens (guild_id);

CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    id          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    known       INTEGER NOT NULL,        -- 0: a kind this version does not know (stored, not used)
    ts          TEXT NOT NULL,           -- game time, UTC ISO 8601
    user_id     INTEGER NOT NULL,        -- the uploading token's Discord user
    token_id    INTEGER NOT NULL,
    batch_id    TEXT NOT NULL,
    received_at TEXT NOT NULL,
    payload     TEXT NOT NULL,           -- the wire event as JSON
    UNIQUE (guild_id, id)
);

CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TABLE batches (
    guild_id    INTEGER NOT NULL,
    batch_id    TEXT NOT NULL,
    token_id    INTEGER NOT NULL,
    accepted    INTEGER NOT NULL,
    duplicates  INTEGER NOT NULL,
    ignored     INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (guild_id, batch_id)
) WITHOUT ROWID;

CREATE TABLE guild_settings (
    guild_id    INTEGER NOT NULL,
    name        TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (guild_id, name)
) WITHOUT ROWID;

-- Projections. `*_key` columns hold the event order key as JSON: [time, source, offset, id].

CREATE TABLE stations (
    guild_id        INTEGER NOT NULL,
    market_id       INTEGER NOT NULL,
    station_name    TEXT,
    station_type    TEXT,
    system_name     TEXT,
    system_address  INTEGER,
    seen_key        TEXT NOT NULL,       -- of the name and system
    type_key        TEXT,
    address_key     TEXT,
    PRIMARY KEY (guild_id, market_id)
) WITHOUT ROWID;

CREATE TABLE sites (
    guild_id        INTEGER NOT NULL,
    market_id       INTEGER NOT NULL,
    known           INTEGER NOT NULL,
    flagged         INTEGER NOT NULL,
    complete        INTEGER NOT NULL,
    completed_at    TEXT,
    updated_at      TEXT,
    snapshot_key    TEXT,
    progress        REAL,
    snapshot_complete INTEGER,
    failed          INTEGER,
    PRIMARY KEY (guild_id, market_id)
) WITHOUT ROWID;

CREATE TABLE site_commodities (
    guild_id        INTEGER NOT NULL,
    market_id       INTEGER NOT NULL,
    position        INTEGER NOT NULL,
    name            TEXT NOT NULL,
    name_localised  TEXT,
    required        INTEGER NOT NULL,
    provided        INTEGER NOT NULL,
    payment         INTEGER NOT NULL,
    PRIMARY KEY (guild_id, market_id, position)
) WITHOUT ROWID;

CREATE TABLE ledger (
    guild_id        INTEGER NOT NULL,
    event_id        TEXT NOT NULL,
    item            INTEGER NOT NULL,
    market_id       INTEGER NOT NULL,
    commander       TEXT NOT NULL,
    commodity       TEXT NOT NULL,
    name_localised  TEXT,
    tonnes          INTEGER NOT NULL,
    ts              TEXT NOT NULL,
    source          TEXT NOT NULL,
    "offset"        INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    PRIMARY KEY (guild_id, event_id, item)
) WITHOUT ROWID;
CREATE INDEX ledger_by_site ON ledger (guild_id, market_id);

CREATE TABLE commanders (
    guild_id        INTEGER NOT NULL,
    name            TEXT NOT NULL,
    fid             TEXT,
    user_id         INTEGER,
    token_id        INTEGER,
    last_seen       TEXT,
    system_name     TEXT,
    station_name    TEXT,
    cargo_capacity  INTEGER,
    cargo_count     INTEGER,
    state           TEXT NOT NULL,       -- the full state with its order keys (JSON)
    PRIMARY KEY (guild_id, name)
) WITHOUT ROWID;

CREATE TABLE carriers (
    guild_id        INTEGER NOT NULL,
    carrier_id      INTEGER NOT NULL,
    callsign        TEXT,
    name            TEXT,
    system_name     TEXT,
    state           TEXT NOT NULL,       -- identity, location, jump plan, orders, stock (JSON)
    PRIMARY KEY (guild_id, carrier_id)
) WITHOUT ROWID;

CREATE TABLE claims (
    guild_id        INTEGER NOT NULL,
    system_address  INTEGER NOT NULL,
    system_name     TEXT NOT NULL,
    active          INTEGER NOT NULL,
    state           TEXT NOT NULL,
    PRIMARY KEY (guild_id, system_address)
) WITHOUT ROWID;

CREATE TABLE beacons (
    guild_id        INTEGER NOT NULL,
    event_id        TEXT NOT NULL,
    commander       TEXT NOT NULL,
    system_name     TEXT,
    system_address  INTEGER,
    seen_key        TEXT NOT NULL,
    PRIMARY KEY (guild_id, event_id)
) WITHOUT ROWID;
