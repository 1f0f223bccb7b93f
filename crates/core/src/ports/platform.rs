//! Accounts, sessions, server secrets, leases, actors and health checks: what every area uses.

use super::*;

/// A SHA-256 digest of a secret (recovery key, refresh token, access token). Secrets themselves
/// are never stored.
pub type SecretHash = [u8; 32];

/// A new account, written together with its first session.
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub user_id: UserId,
    pub nickname: String,
    /// The nickname after NFKC and case folding: the uniqueness key.
    pub nickname_key: String,
    pub recovery_key_hash: SecretHash,
    pub created_at: Timestamp,
}

/// One refresh token and the access token minted beside it.
#[derive(Clone, Debug)]
pub struct NewRefreshToken {
    pub family_id: SessionFamilyId,
    pub user_id: UserId,
    pub token_hash: SecretHash,
    pub expires_at: Timestamp,
    pub access_token_hash: SecretHash,
    pub access_expires_at: Timestamp,
    pub created_at: Timestamp,
}

/// A new session family (a login), with its first refresh token.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub family_id: SessionFamilyId,
    /// The family's absolute end: no refresh extends a session past it.
    pub family_expires_at: Timestamp,
    pub first_token: NewRefreshToken,
}

/// A stored refresh token as the auth service needs to judge it.
#[derive(Clone, Debug)]
pub struct RefreshTokenRecord {
    pub family_id: SessionFamilyId,
    pub user_id: UserId,
    pub expires_at: Timestamp,
    pub spent_at: Option<Timestamp>,
    pub family_expires_at: Timestamp,
    pub family_revoked_at: Option<Timestamp>,
}

/// An entry of the access-token revocation list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// One access token, by its hash; the entry is useless (and purged) after `expires_at`.
    Token {
        token_hash: SecretHash,
        expires_at: Timestamp,
    },
    /// Every access token of a user issued at or before `revoked_at` (account deletion).
    Subject {
        user_id: UserId,
        revoked_at: Timestamp,
    },
}

/// A revocation with its position in the list, so that a process can ask for what is new.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevocationEntry {
    pub sequence: i64,
    pub revocation: Revocation,
}

/// What the auth service needs from the relational store.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// Creates the user and its first session in one transaction.
    /// `Conflict(Conflict::Nickname)` when the nickname key is taken.
    async fn create_account(
        &self,
        account: &NewAccount,
        session: &NewSession,
    ) -> Result<(), StoreError>;

    /// The recovery-key hash of a user, or `None` if there is no such user.
    async fn recovery_key_hash(&self, user_id: UserId) -> Result<Option<SecretHash>, StoreError>;

    /// Starts a session for an existing user and clears any deactivation (login reactivates).
    async fn start_session(&self, session: &NewSession) -> Result<(), StoreError>;

    async fn find_refresh_token(
        &self,
        token_hash: &SecretHash,
    ) -> Result<Option<RefreshTokenRecord>, StoreError>;

    /// Spends `old_hash` and stores `replacement` in one transaction. Returns `false` (and writes
    /// nothing) if the old token was already spent or its family revoked: a lost race.
    async fn rotate_refresh_token(
        &self,
        old_hash: &SecretHash,
        replacement: &NewRefreshToken,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Revokes a session family and every unexpired access token minted in it. Returns the
    /// revocations written.
    async fn revoke_family(
        &self,
        family_id: SessionFamilyId,
        now: Timestamp,
    ) -> Result<Vec<Revocation>, StoreError>;

    /// Logout: revokes the presented access token and the session family that minted it.
    async fn revoke_session_of_access_token(
        &self,
        access_token_hash: &SecretHash,
        access_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<Revocation>, StoreError>;

    /// Replaces the recovery-key hash and revokes every other session family of the user (the
    /// one that minted `keep_access_token_hash` survives). Returns the revocations written.
    async fn replace_recovery_key(
        &self,
        user_id: UserId,
        new_hash: &SecretHash,
        keep_access_token_hash: &SecretHash,
        now: Timestamp,
    ) -> Result<Vec<Revocation>, StoreError>;

    /// Revocations with a sequence above `after`, oldest first, at most `limit`.
    async fn revocations_since(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RevocationEntry>, StoreError>;

    /// Deletes revocations and sessions that can no longer matter. Returns rows removed.
    async fn purge_expired(
        &self,
        now: Timestamp,
        subject_horizon: Timestamp,
    ) -> Result<u64, StoreError>;
}

/// A user's profile as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub id: UserId,
    pub nickname: String,
    pub status_message: String,
    /// The storage key of the avatar's thumbnail (what `/media/{key}` serves), if any.
    pub avatar_media_id: Option<String>,
    pub created_at: Timestamp,
    pub deactivated_at: Option<Timestamp>,
    pub followers_count: i64,
    pub following_count: i64,
    pub posts_count: i64,
}

/// A change to a profile; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ProfileChange {
    pub nickname: Option<(String, String)>,
    pub status_message: Option<String>,
    /// An upload of the user's (a ready image, not on a post) to show as their avatar; the
    /// previous avatar's upload is discarded. `NotFound` if it is not such an upload.
    pub avatar: Option<MediaId>,
}

/// One session as shown in a data export (no secrets, no hashes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSummary {
    pub family_id: SessionFamilyId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// One entry of the profile change feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserChange {
    pub sequence: i64,
    pub user_id: UserId,
}

/// What the users service needs from the relational store.
#[async_trait]
pub trait ProfileStore: Send + Sync {
    async fn user(&self, user_id: UserId) -> Result<Option<UserRecord>, StoreError>;

    /// Applies a change and returns the profile after it. `NotFound` for an unknown user,
    /// `Conflict(Conflict::Nickname)` when the new nickname key is taken.
    async fn update_profile(
        &self,
        user_id: UserId,
        change: &ProfileChange,
    ) -> Result<UserRecord, StoreError>;

    /// Hides the account and ends every session it has. Returns the revocations written.
    async fn deactivate(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> Result<Vec<Revocation>, StoreError>;

    /// Erases the account (its nickname becomes free) and revokes every access token issued to it
    /// up to `now`, in one transaction. `NotFound` for an unknown user. Posts, likes, follows and
    /// blocks go with it; counters of other users and posts are adjusted; `event`
    /// (`user.deleted`) is appended to the outbox.
    async fn delete_account(
        &self,
        user_id: UserId,
        now: Timestamp,
        event: &EventEnvelope,
    ) -> Result<Revocation, StoreError>;

    async fn sessions(&self, user_id: UserId) -> Result<Vec<SessionSummary>, StoreError>;

    /// Profiles changed (by any process) with a sequence above `after`, oldest first. Every
    /// write above, and a login that reactivates an account, appends to this feed.
    async fn user_changes_since(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<UserChange>, StoreError>;

    /// Forgets feed entries older than `before`. Returns rows removed.
    async fn purge_user_changes(&self, before: Timestamp) -> Result<u64, StoreError>;
}

/// Whether a dependency answers; used by `/readyz`.
#[async_trait]
pub trait HealthCheck: Send + Sync {
    fn name(&self) -> &'static str;
    async fn check(&self) -> Result<(), StoreError>;
}

/// Server-wide secrets (keys for thread aliases, feed cursors, client-address hashing), kept in
/// the relational store so that every process shares them.
#[async_trait]
pub trait ServerSecrets: Send + Sync {
    /// The secret named `name` (32 random bytes), created on first use; every process gets the
    /// first writer's value.
    async fn server_secret(&self, name: &str) -> Result<Vec<u8>, StoreError>;

    /// The value named `name`, stored as `fresh` by whichever process asks first (a key pair
    /// made in advance, say); every process gets that first value.
    async fn server_value(&self, name: &str, fresh: Vec<u8>) -> Result<Vec<u8>, StoreError>;

    /// Destroys a secret (a key that must not outlive its period).
    async fn forget_server_secret(&self, name: &str) -> Result<(), StoreError>;

    /// The value named `name` if one was stored (read only: nothing is made).
    async fn stored_server_value(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Replaces the value named `name` with `new` if it is still `expected` (compare and swap);
    /// answers whether it did.
    async fn replace_server_value(
        &self,
        name: &str,
        expected: &[u8],
        new: Vec<u8>,
    ) -> Result<bool, StoreError>;
}

/// Who does something that is not one's own business: a moderator, or the system itself (an
/// automatic moderation consumer, a periodic task).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    User(UserId),
    System,
}

impl Actor {
    /// The account, when a person acted (an event's `actor`).
    pub const fn user(self) -> Option<UserId> {
        match self {
            Self::User(user) => Some(user),
            Self::System => None,
        }
    }

    /// How a record names it: the account id, or `system`.
    pub fn recorded(self) -> String {
        self.user()
            .map_or_else(|| "system".to_owned(), |user| user.to_string())
    }
}

/// Leases: one holder at a time for a named piece of work (a consumer group, a periodic task),
/// taken over by another holder once the first stops renewing.
#[async_trait]
pub trait Leases: Send + Sync {
    /// Takes or renews `name` for `holder` until `now + ttl`, unless another holder's lease on it
    /// is still running; answers whether `holder` holds it now.
    async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Gives `name` up if `holder` holds it (on shutdown), so another takes over at once.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
}
