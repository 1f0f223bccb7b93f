-- Blocks of an alias in an anonymous thread ("#3 in this thread"): the blocker, the thread and
-- the alias number, never the account behind the alias. They hide that alias's comments in that
-- thread from the blocker and stop its notifications there; nothing else changes, so nothing
-- else can tell the blocker who it was.
CREATE TABLE alias_blocks (
    id           TEXT PRIMARY KEY,               -- UUID v7
    blocker_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    post_id      TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    alias_number BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX alias_blocks_alias ON alias_blocks (blocker_id, post_id, alias_number);
