-- Shared by both engines; {bytes} and {serial_primary_key} are spelled per engine by
-- `store::render_migration`.
-- Threaded comments, their likes, and per-thread pseudonyms for anonymous threads.
CREATE TABLE comments (
    id           TEXT PRIMARY KEY,               -- UUID v7: text order is time order
    post_id      TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    parent_id    TEXT,                           -- NULL for top-level comments
    depth        BIGINT NOT NULL,
    author_id    TEXT REFERENCES users (id) ON DELETE SET NULL,
    -- In an anonymous thread: 0 for the post's author ("OP"), n for "#n"; NULL otherwise.
    alias_number BIGINT,
    text         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    deleted_at   BIGINT,                         -- set: shown as [deleted] (it has replies)
    like_count   BIGINT NOT NULL DEFAULT 0,
    reply_count  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX comments_thread ON comments (post_id, parent_id, id);
CREATE INDEX comments_author ON comments (author_id);

CREATE TABLE comment_likes (
    comment_id TEXT NOT NULL REFERENCES comments (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (comment_id, user_id)
);
CREATE INDEX comment_likes_user ON comment_likes (user_id);

-- Who is "#n" in a thread, keyed by HMAC(thread key, post id, user id): the table alone does not
-- say which account an alias belongs to.
CREATE TABLE thread_aliases (
    post_id      TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    alias_key    {bytes} NOT NULL,
    alias_number BIGINT NOT NULL,
    PRIMARY KEY (post_id, alias_key)
);
CREATE UNIQUE INDEX thread_aliases_number ON thread_aliases (post_id, alias_number);

-- Server-wide secrets shared by every process (e.g. the thread-alias key).
CREATE TABLE server_secrets (
    name  TEXT PRIMARY KEY,
    value {bytes} NOT NULL
);
