-- Blocked addresses and networks, kept only as keyed hashes. A block is stored once per day it
-- lasts, each hash under that day's address key (the key the rate limits use), so a day's hash
-- cannot be linked to an address once that day's key is destroyed two days later. The block
-- row names the family and prefix length, never the address.
CREATE TABLE address_blocks (
    id         TEXT PRIMARY KEY,                 -- UUID v7
    kind       TEXT NOT NULL,                    -- 'manual' or 'flood'
    family     TEXT NOT NULL,                    -- 'ipv4' or 'ipv6'
    prefix     BIGINT NOT NULL,                  -- the network's prefix length
    reason     TEXT NOT NULL,
    until      BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE address_block_hashes (
    block_id TEXT NOT NULL REFERENCES address_blocks (id) ON DELETE CASCADE,
    day      BIGINT NOT NULL,
    hash     TEXT NOT NULL,
    PRIMARY KEY (day, hash, block_id)
);
CREATE INDEX address_block_hashes_block ON address_block_hashes (block_id);
