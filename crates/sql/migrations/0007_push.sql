-- Devices registered for push delivery: a provider token, or a Web Push subscription (endpoint
-- and keys). One device belongs to one user: registering it again moves it.

CREATE TABLE push_devices (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    platform    TEXT NOT NULL,
    token       TEXT NOT NULL,
    p256dh      TEXT,
    auth        TEXT,
    created_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX push_devices_token ON push_devices (platform, token);
CREATE INDEX push_devices_user ON push_devices (user_id);
