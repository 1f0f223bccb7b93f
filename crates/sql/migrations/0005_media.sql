-- Uploads and their stored files, attached to posts; and the durable job queue.

CREATE TABLE media (
    id             TEXT PRIMARY KEY,
    owner_id       TEXT NOT NULL,
    kind           TEXT NOT NULL,
    status         TEXT NOT NULL,
    width          BIGINT,
    height         BIGINT,
    duration_ms    BIGINT,
    blurhash       TEXT,
    bytes          BIGINT NOT NULL,
    post_id        TEXT,
    position       BIGINT,
    created_at     BIGINT NOT NULL,
    -- When the files are deleted: a day after upload while unattached, at once when the post or
    -- the owner goes; NULL while attached.
    discard_after  BIGINT
);
CREATE INDEX media_owner ON media (owner_id);
CREATE INDEX media_post ON media (post_id, position);
CREATE INDEX media_discard ON media (discard_after);

CREATE TABLE media_objects (
    key            TEXT PRIMARY KEY,
    media_id       TEXT NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    variant        TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    size           BIGINT NOT NULL,
    etag           TEXT NOT NULL
);
CREATE INDEX media_objects_media ON media_objects (media_id);

CREATE TABLE jobs (
    id             TEXT PRIMARY KEY,
    queue          TEXT NOT NULL,
    payload        TEXT NOT NULL,
    state          TEXT NOT NULL,
    attempts       BIGINT NOT NULL,
    max_attempts   BIGINT NOT NULL,
    run_at         BIGINT NOT NULL,
    last_error     TEXT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX jobs_runnable ON jobs (queue, state, run_at);
