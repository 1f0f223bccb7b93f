-- Moderation: who may moderate, suspended accounts, and what became of each report.

ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'member';
ALTER TABLE users ADD COLUMN suspended_at BIGINT;
ALTER TABLE reports ADD COLUMN resolved_at BIGINT;
ALTER TABLE reports ADD COLUMN resolved_by TEXT;
ALTER TABLE reports ADD COLUMN action TEXT;
CREATE INDEX reports_open ON reports (status, created_at);
