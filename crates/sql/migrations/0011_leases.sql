-- Leases: one holder at a time for a named piece of work (a consumer group, the outbox relay,
-- a periodic task), taken over by another process once the holder stops renewing.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
