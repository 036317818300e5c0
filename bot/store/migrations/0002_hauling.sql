-- Schema 2: squadron hauling. Claims and carrier links are what users typed (not projections:
-- `colony-bot rebuild` leaves them alone). The partial index serves the board's look-up of trades
-- and transfers after a snapshot, without slowing the insert of every other event kind.

CREATE TABLE haul_claims (
    id              INTEGER PRIMARY KEY,
    guild_id        INTEGER NOT NULL,
    market_id       INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    commodity       TEXT NOT NULL,
    tonnes          INTEGER NOT NULL CHECK (tonnes > 0),
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'covered', 'released', 'expired', 'site_complete')),
    closed_at       TEXT,
    delivered       INTEGER NOT NULL DEFAULT 0   -- toward the claim when it closed
);
CREATE INDEX haul_claims_by_guild ON haul_claims (guild_id, status, market_id);

CREATE TABLE haul_carrier_links (
    guild_id        INTEGER NOT NULL,
    carrier_id      INTEGER NOT NULL,
    market_id       INTEGER NOT NULL,
    linked_at       TEXT NOT NULL,
    PRIMARY KEY (guild_id, carrier_id, market_id)
) WITHOUT ROWID;

CREATE INDEX events_haul_moves ON events (guild_id, kind, ts)
    WHERE kind IN ('market_buy', 'market_sell', 'cargo_transfer', 'market');
