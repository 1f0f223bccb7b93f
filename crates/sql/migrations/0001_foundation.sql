-- Shared by both engines; {bytes} and {serial_primary_key} are spelled per engine by
-- `store::render_migration`.
-- Foundation: accounts, session families, refresh tokens, the access-token revocation list.
-- Instants are BIGINT UTC milliseconds; ids are UUID text; secrets are stored only as SHA-256.
CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    nickname          TEXT NOT NULL,
    nickname_key      TEXT NOT NULL,
    status_message    TEXT NOT NULL DEFAULT '',
    avatar_media_id   TEXT,
    recovery_key_hash {bytes} NOT NULL,
    created_at        BIGINT NOT NULL,
    deactivated_at    BIGINT,
    followers_count   BIGINT NOT NULL DEFAULT 0,
    following_count   BIGINT NOT NULL DEFAULT 0,
    posts_count       BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX users_nickname_key ON users (nickname_key);

CREATE TABLE session_families (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX session_families_user ON session_families (user_id);

CREATE TABLE refresh_tokens (
    token_hash        {bytes} PRIMARY KEY,
    family_id         TEXT NOT NULL REFERENCES session_families (id) ON DELETE CASCADE,
    user_id           TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    spent_at          BIGINT,
    access_token_hash {bytes} NOT NULL,
    access_expires_at BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
-- Unique: tokens carry no iat or jti, so two minted for one user in the same second would be
-- identical; the auth service re-mints with an earlier exp when this index says so.
CREATE UNIQUE INDEX refresh_tokens_access_token_hash ON refresh_tokens (access_token_hash);

-- Exactly one of token_hash / user_id is set. Rows are append-only; sequence orders them.
CREATE TABLE access_revocations (
    sequence   {serial_primary_key},
    token_hash {bytes},
    user_id    TEXT,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX access_revocations_revoked_at ON access_revocations (revoked_at);

-- Profiles changed, in order: every process tails this to evict its profile cache.
CREATE TABLE user_changes (
    sequence   {serial_primary_key},
    user_id    TEXT NOT NULL,
    changed_at BIGINT NOT NULL
);
CREATE INDEX user_changes_changed_at ON user_changes (changed_at);
