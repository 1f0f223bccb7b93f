-- Appeals: an author asks the moderators to look again at a warning or a hide on their post or
-- comment, once per decision (the moderation log entry that made it). The appeal itself
-- reaches the queue as a report with no reporter and the reason 'appeal'.
CREATE TABLE appeals (
    decision_id TEXT PRIMARY KEY,                -- the moderation_log entry appealed
    target_kind TEXT NOT NULL,                   -- 'post' | 'comment'
    target_id   TEXT NOT NULL,
    author_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    note        TEXT,
    created_at  BIGINT NOT NULL
);

-- A reporter's record (reports upheld and dismissed) weighs their next report.
CREATE INDEX reports_reporter ON reports (reporter_id, status);
