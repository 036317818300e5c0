-- Schema 3: the board's look-ups of trades, transfers and Market snapshots bounded by what can still
-- matter, not by the guild's whole history. Partial, like `events_haul_moves`: the other event kinds
-- are inserted as fast as before. Indexes only: no row is changed.

-- A carrier's rows found by the carrier: its Market snapshots, the trades at it, and the transfers
-- made while docked at it (a transfer names its carrier `at_market_id`, a trade or a snapshot
-- `market_id`). Without it the carrier was a filter on the payload, and finding one carrier's
-- snapshots walked every carrier's.
CREATE INDEX events_haul_by_carrier ON events (
    guild_id,
    kind,
    CASE kind WHEN 'cargo_transfer' THEN json_extract(payload, '$.at_market_id')
              ELSE json_extract(payload, '$.market_id') END,
    ts
) WHERE kind IN ('market_buy', 'market_sell', 'cargo_transfer', 'market');

-- The rows stored since the board last looked, in storing order: what it has not parsed yet.
CREATE INDEX events_haul_stored ON events (guild_id, seq)
    WHERE kind IN ('market_buy', 'market_sell', 'cargo_transfer', 'market');
