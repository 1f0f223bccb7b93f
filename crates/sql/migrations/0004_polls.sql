-- Shared by both engines; {bytes} and {serial_primary_key} are spelled per engine by
-- `store::render_migration`.
-- Polls: created with their post; one vote per user; tallies kept on the options. Who voted for
-- what is stored only to enforce one vote and answer `my_vote`; nothing lists it.
CREATE TABLE polls (
    id          TEXT PRIMARY KEY,
    post_id     TEXT NOT NULL UNIQUE REFERENCES posts (id) ON DELETE CASCADE,
    closes_at   BIGINT NOT NULL,
    total_votes BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE poll_options (
    poll_id      TEXT NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
    option_index BIGINT NOT NULL,
    text         TEXT NOT NULL,
    votes        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (poll_id, option_index)
);

CREATE TABLE poll_votes (
    poll_id      TEXT NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    option_index BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (poll_id, user_id)
);
CREATE INDEX poll_votes_user ON poll_votes (user_id);
