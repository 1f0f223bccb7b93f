-- Automatic moderation: posts and comments can be warned (shown behind a notice) or hidden
-- pending review, with the category why; the system files reports of its own (no reporter);
-- and the moderation log records every decision that changed something or asks for review.
ALTER TABLE posts ADD COLUMN moderation_reason TEXT;
ALTER TABLE comments ADD COLUMN moderation_state TEXT NOT NULL DEFAULT 'visible';
ALTER TABLE comments ADD COLUMN moderation_reason TEXT;

-- reporter_id becomes optional (NULL: the system), which SQLite can only do by a new table.
CREATE TABLE reports_v13 (
    id          TEXT PRIMARY KEY,
    target_kind TEXT NOT NULL,                  -- 'post' | 'comment'
    target_id   TEXT NOT NULL,
    reporter_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    reason      TEXT NOT NULL,
    note        TEXT,
    created_at  BIGINT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'open',
    resolved_at BIGINT,
    resolved_by TEXT,
    action      TEXT
);
INSERT INTO reports_v13 (id, target_kind, target_id, reporter_id, reason, note, created_at,
                         status, resolved_at, resolved_by, action)
    SELECT id, target_kind, target_id, reporter_id, reason, note, created_at, status,
           resolved_at, resolved_by, action FROM reports;
DROP TABLE reports;
ALTER TABLE reports_v13 RENAME TO reports;
CREATE UNIQUE INDEX reports_once ON reports (target_kind, target_id, reporter_id);
CREATE INDEX reports_open ON reports (status, created_at);
CREATE INDEX reports_target ON reports (target_kind, target_id);

CREATE TABLE moderation_log (
    id          TEXT PRIMARY KEY,                -- UUID v7: text order is time order
    target_kind TEXT NOT NULL,                   -- 'post' | 'comment'
    target_id   TEXT NOT NULL,
    post_id     TEXT NOT NULL,
    decision    TEXT NOT NULL,                   -- queue, warn, hide, allow (a warning lifted), or a moderator's action
    category    TEXT,
    rule        TEXT,
    score       DOUBLE PRECISION,
    actor       TEXT NOT NULL,                   -- 'system' or the moderator's id (never shown)
    created_at  BIGINT NOT NULL
);
CREATE INDEX moderation_log_target ON moderation_log (target_kind, target_id);
