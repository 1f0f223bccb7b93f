-- Near-copy detection (spam without personal data): a MinHash signature of each post's and
-- comment's normalised text for a day or two, and its four band values, one of which near
-- copies share.
CREATE TABLE content_fingerprints (
    target_kind TEXT NOT NULL,                   -- 'post' | 'comment'
    target_id   TEXT NOT NULL,
    author_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,                   -- the signature, hexadecimal
    band0       BIGINT NOT NULL,
    band1       BIGINT NOT NULL,
    band2       BIGINT NOT NULL,
    band3       BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (target_kind, target_id)
);
CREATE INDEX content_fingerprints_band0 ON content_fingerprints (band0, created_at);
CREATE INDEX content_fingerprints_band1 ON content_fingerprints (band1, created_at);
CREATE INDEX content_fingerprints_band2 ON content_fingerprints (band2, created_at);
CREATE INDEX content_fingerprints_band3 ON content_fingerprints (band3, created_at);
CREATE INDEX content_fingerprints_age ON content_fingerprints (created_at);
