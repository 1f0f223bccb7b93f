-- Shared by both engines; {bytes} and {serial_primary_key} are spelled per engine by
-- `store::render_migration`.
-- Social core: posts, hashtags, mentions, likes, reports, follows, blocks, idempotency keys, and
-- the transactional outbox with the embedded event log.
CREATE TABLE posts (
    id               TEXT PRIMARY KEY,          -- UUID v7: text order is time order
    author_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    text             TEXT NOT NULL,
    visibility       TEXT NOT NULL,             -- 'public' | 'followers'
    anonymous_thread BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    edited_at        BIGINT,
    like_count       BIGINT NOT NULL DEFAULT 0,
    comment_count    BIGINT NOT NULL DEFAULT 0,
    moderation_state TEXT NOT NULL DEFAULT 'visible',
    -- The post's hashtags, space-separated: read with the row. post_hashtags indexes them.
    hashtags         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX posts_author ON posts (author_id, id);

CREATE TABLE post_hashtags (
    post_id TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    PRIMARY KEY (post_id, tag)
);
CREATE INDEX post_hashtags_tag ON post_hashtags (tag, post_id);

CREATE TABLE post_mentions (
    post_id TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (post_id, user_id)
);

CREATE TABLE post_likes (
    post_id    TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (post_id, user_id)
);
CREATE INDEX post_likes_user ON post_likes (user_id);

CREATE TABLE reports (
    id          TEXT PRIMARY KEY,
    target_kind TEXT NOT NULL,                  -- 'post' | 'comment'
    target_id   TEXT NOT NULL,
    reporter_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason      TEXT NOT NULL,
    note        TEXT,
    created_at  BIGINT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'open'
);
CREATE UNIQUE INDEX reports_once ON reports (target_kind, target_id, reporter_id);

CREATE TABLE follows (
    follower_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX follows_followee ON follows (followee_id, follower_id);

CREATE TABLE blocks (
    blocker_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
);
CREATE INDEX blocks_blocked ON blocks (blocked_id, blocker_id);

-- Idempotency-Key: the first answer to (user, key), kept for 24 hours.
CREATE TABLE idempotency_keys (
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash {bytes} NOT NULL,
    resource_id  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (user_id, scope, key)
);

-- Events written in the same transaction as the change they describe.
CREATE TABLE outbox (
    id          TEXT PRIMARY KEY,               -- UUID v7
    event_type  TEXT NOT NULL,
    version     BIGINT NOT NULL,
    occurred_at BIGINT NOT NULL,
    actor_id    TEXT,
    payload     TEXT NOT NULL
);

-- The embedded durable event log: the relay appends, consumers read by offset.
CREATE TABLE event_log (
    log_offset  {serial_primary_key},
    id          TEXT NOT NULL UNIQUE,
    event_type  TEXT NOT NULL,
    version     BIGINT NOT NULL,
    occurred_at BIGINT NOT NULL,
    actor_id    TEXT,
    payload     TEXT NOT NULL
);

CREATE TABLE consumer_offsets (
    consumer   TEXT PRIMARY KEY,
    log_offset BIGINT NOT NULL
);
