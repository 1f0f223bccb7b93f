-- In-app notifications. An unread notification of a grouping kind carries a group key (one per
-- recipient and subject), so a burst bumps one row instead of adding many.

CREATE TABLE notifications (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    actor_id    TEXT REFERENCES users (id) ON DELETE SET NULL,
    hide_actor  BIGINT NOT NULL,
    actors      BIGINT NOT NULL,
    post_id     TEXT,
    comment_id  TEXT,
    group_key   TEXT,
    created_at  BIGINT NOT NULL,
    read_at     BIGINT
);
CREATE INDEX notifications_user ON notifications (user_id, id);
CREATE INDEX notifications_unread ON notifications (user_id, read_at);
CREATE UNIQUE INDEX notifications_group ON notifications (user_id, group_key);

-- Events already turned into notifications (the log delivers at least once).
CREATE TABLE notified_events (
    event_id    TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL
);

-- Polls whose closing was announced (a poll.closed event written once).
ALTER TABLE polls ADD COLUMN closed_announced BIGINT NOT NULL DEFAULT 0;
CREATE INDEX polls_closing ON polls (closed_announced, closes_at);
