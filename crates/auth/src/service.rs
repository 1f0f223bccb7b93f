//! `AuthService`: the auth operations of API.md, on top of the `CredentialStore` port.

use crate::keys::KeyRing;
use crate::revocations::RevocationList;
use crate::secrets::{
    access_token_digest, digests_match, generate_refresh_token, refresh_token_digest, RecoveryKey,
};
use crate::tokens::{AccessTokens, TokenError, TokenSettings};
use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use veilgram_core::cache::{Cache, CacheError, CacheKey};
use veilgram_core::error::Conflict;
use veilgram_core::ports::{
    CredentialStore, NewAccount, NewRefreshToken, NewSession, Revocation, SecretHash, ServerSecrets,
};
use veilgram_core::{SessionFamilyId, StoreError, Timestamp, UserId};

#[derive(Clone, Debug)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    /// Lifetime of an access token.
    pub access_ttl: Duration,
    /// Lifetime of one refresh token (each refresh mints a new one).
    pub refresh_ttl: Duration,
    /// Absolute lifetime of a session family: refreshing never extends a login past it.
    pub session_lifetime: Duration,
    /// A spent refresh token presented again within this window is refused without revoking its
    /// family: it is taken for a client's concurrent retry, not theft.
    pub refresh_reuse_grace: Duration,
    /// A key file every process that serves the same users mounts; `None` keeps the signing
    /// keys in the relational store, where every process reads them.
    pub key_file: Option<PathBuf>,
    /// How often revocations written by other processes are read.
    pub revocation_sync_interval: Duration,
}

/// What sign-up, login and refresh hand back.
#[derive(Clone, Debug)]
pub struct IssuedTokens {
    pub user_id: UserId,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

#[derive(Clone, Debug)]
pub struct SignedUp {
    pub tokens: IssuedTokens,
    /// Shown once; only its digest is stored.
    pub recovery_key: String,
}

/// The caller of an authenticated request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub token_hash: SecretHash,
    pub expires_at: Timestamp,
}

/// A token whose signature and expiry hold and which this process's revocation mirror does not
/// list, not yet checked against the list shared through the cache (another process may have
/// revoked it a moment ago): [`AuthService::confirm`] finishes the check. Split from
/// [`AuthService::authenticate`] so that a caller can send that check together with its other
/// cache reads, and use the signed user id (to key a rate-limit budget, say) meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unconfirmed(Principal);

impl Unconfirmed {
    /// The account the token was issued to (its signature proves that much; not that the
    /// session still holds).
    pub fn user_id(&self) -> UserId {
        self.0.user_id
    }
}

/// With the cache down, the store-synced mirror is trusted while its last sync is younger than
/// this many sync intervals.
const FALLBACK_SYNCS: u32 = 5;

fn revoked_token_key(token_hash: &SecretHash) -> CacheKey {
    CacheKey::named(&format!("revoked:{}", veilgram_core::hex(token_hash)))
}

fn revoked_subject_key(user_id: UserId) -> CacheKey {
    CacheKey::of_user(user_id, "revoked-before")
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong user id or recovery key; deliberately the same for both.
    #[error("invalid user id or recovery key")]
    InvalidCredentials,
    #[error("the recovery key is not in the expected format")]
    MalformedRecoveryKey,
    #[error("{0}")]
    InvalidToken(#[from] TokenError),
    #[error("the refresh token is invalid or expired")]
    InvalidRefreshToken,
    /// A spent refresh token came back: its whole family has been revoked.
    #[error("the refresh token was already used; the session has been ended")]
    RefreshTokenReused,
    #[error("that nickname is taken")]
    NicknameTaken,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AuthError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(Conflict::Nickname) => Self::NicknameTaken,
            other => Self::Store(other),
        }
    }
}

/// Access tokens carry no `iat` or `jti`: two minted for one user in the same second would be
/// identical. The store refuses a duplicate, and the token is minted again expiring a random
/// number of seconds earlier (within a tenth of its lifetime, at most a minute).
const MINT_ATTEMPTS: u32 = 8;

pub struct AuthService {
    store: Arc<dyn CredentialStore>,
    tokens: AccessTokens,
    revocations: RevocationList,
    /// Where revocations are shared with other processes at once (the store remains the
    /// durable list every process also syncs from).
    cache: Option<Arc<dyn Cache>>,
    settings: AuthSettings,
    /// Compared against when the user does not exist, so both paths do the same work.
    decoy_hash: SecretHash,
    /// With the keys in the store: where, and the stored ring last read.
    shared_keys: Option<SharedKeys>,
}

struct SharedKeys {
    secrets: Arc<dyn ServerSecrets>,
    last: std::sync::Mutex<Vec<u8>>,
}

impl SharedKeys {
    /// The ring as stored (made when the service opened, so it is there).
    async fn stored_ring(&self) -> anyhow::Result<Vec<u8>> {
        self.secrets
            .stored_server_value(KEY_RING)
            .await?
            .context("the signing key ring is missing from the store")
    }
}

/// The server value the signing key ring is kept under.
const KEY_RING: &str = "signing-key-ring";
/// How often a process reads the shared key ring.
pub const KEY_SYNC_INTERVAL: Duration = Duration::from_millis(250);
/// How long after a rotation through the store the new key starts signing: every process has
/// read it by then (three sync intervals), so none meets a token signed by a key it lacks.
pub const KEY_ACTIVATION_DELAY: Duration = Duration::from_millis(750);

impl AuthService {
    /// With the signing keys in `settings.key_file`: loads (or creates) the ring there.
    pub fn new(store: Arc<dyn CredentialStore>, settings: AuthSettings) -> anyhow::Result<Self> {
        let path = settings
            .key_file
            .clone()
            .context("AuthService::new needs a key file; AuthService::open reads the store")?;
        let ring = KeyRing::load_or_create(&path)?;
        Ok(Self::with_ring(store, settings, ring, Some(path), None))
    }

    /// The service on the configured keys: the key file if one is named, else the ring every
    /// process shares in the store (made on first start; from the key file at `import`, when
    /// one is there, so that a deployment's existing keys carry over).
    pub async fn open(
        store: Arc<dyn CredentialStore>,
        secrets: Arc<dyn ServerSecrets>,
        settings: AuthSettings,
        import: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        if settings.key_file.is_some() {
            return Self::new(store, settings);
        }
        let fresh = match import {
            Some(path) => KeyRing::file_bytes(path)?.unwrap_or_else(KeyRing::fresh_bytes),
            None => KeyRing::fresh_bytes(),
        };
        let stored = secrets
            .server_value(KEY_RING, fresh)
            .await
            .context("cannot read the signing keys from the store")?;
        let ring = KeyRing::from_bytes(&stored)?;
        let shared = SharedKeys {
            secrets,
            last: std::sync::Mutex::new(stored),
        };
        Ok(Self::with_ring(store, settings, ring, None, Some(shared)))
    }

    fn with_ring(
        store: Arc<dyn CredentialStore>,
        settings: AuthSettings,
        ring: KeyRing,
        key_file: Option<PathBuf>,
        shared_keys: Option<SharedKeys>,
    ) -> Self {
        let tokens = AccessTokens::new(
            TokenSettings {
                issuer: settings.issuer.clone(),
                audience: settings.audience.clone(),
                access_ttl: settings.access_ttl,
            },
            ring,
            key_file,
        );
        Self {
            store,
            cache: None,
            tokens,
            revocations: RevocationList::new(settings.access_ttl),
            decoy_hash: RecoveryKey::generate().digest(),
            settings,
            shared_keys,
        }
    }

    /// Reads the shared key ring again and uses it if it changed (a rotation through another
    /// process); answers whether it changed. Nothing to do with a key file (re-read on change).
    pub async fn sync_signing_keys(&self) -> anyhow::Result<bool> {
        let Some(shared) = &self.shared_keys else {
            return Ok(false);
        };
        let stored = shared.stored_ring().await?;
        {
            let mut last = shared
                .last
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if *last == stored {
                return Ok(false);
            }
            *last = stored.clone();
        }
        self.tokens.replace_ring(KeyRing::from_bytes(&stored)?);
        Ok(true)
    }

    /// Retires the signing key for a new one; answers its `kid`. In the store the new key
    /// signs from [`KEY_ACTIVATION_DELAY`] on, in every process; in a key file, at once.
    pub async fn rotate_signing_key(&self) -> anyhow::Result<String> {
        let ttl = self.settings.access_ttl;
        let Some(shared) = &self.shared_keys else {
            let path = self
                .settings
                .key_file
                .as_deref()
                .context("no key file and no store")?;
            return KeyRing::rotate(path, ttl);
        };
        loop {
            let current = shared.stored_ring().await?;
            let (rotated, kid) = KeyRing::rotated_bytes(&current, ttl, KEY_ACTIVATION_DELAY)?;
            // Another process rotating at the same moment: start again from its ring.
            if shared
                .secrets
                .replace_server_value(KEY_RING, &current, rotated)
                .await?
            {
                self.sync_signing_keys().await?;
                return Ok(kid);
            }
        }
    }

    /// Shares revocations through `cache`, so that every process sees them at once.
    #[must_use]
    pub fn with_cache(mut self, cache: Arc<dyn Cache>) -> Self {
        self.cache = Some(cache);
        self
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// How many seconds earlier than the full lifetime the `attempt`-th try expires.
    fn shortening(&self, attempt: u32) -> i64 {
        use rand::Rng;
        let window = (self.settings.access_ttl.as_secs() / 10).clamp(1, 60) as i64;
        if attempt == 0 {
            0
        } else {
            rand::thread_rng().gen_range(1..=window)
        }
    }

    fn mint(
        &self,
        user_id: UserId,
        family_id: SessionFamilyId,
        family_expires_at: Timestamp,
        now: Timestamp,
        shortened_by: i64,
    ) -> (IssuedTokens, NewRefreshToken) {
        let (access_token, access_expires_at) = self.tokens.mint(user_id, now, shortened_by);
        let refresh_token = generate_refresh_token();
        let record = NewRefreshToken {
            family_id,
            user_id,
            token_hash: refresh_token_digest(&refresh_token),
            expires_at: now.plus(self.settings.refresh_ttl).min(family_expires_at),
            access_token_hash: access_token_digest(&access_token),
            access_expires_at,
            created_at: now,
        };
        let issued = IssuedTokens {
            user_id,
            access_token,
            refresh_token,
            expires_in: self.settings.access_ttl.as_secs(),
        };
        (issued, record)
    }

    fn new_session(
        &self,
        user_id: UserId,
        now: Timestamp,
        shortened_by: i64,
    ) -> (IssuedTokens, NewSession) {
        let family_id = SessionFamilyId::random();
        let family_expires_at = now.plus(self.settings.session_lifetime);
        let (issued, first_token) =
            self.mint(user_id, family_id, family_expires_at, now, shortened_by);
        (
            issued,
            NewSession {
                family_id,
                family_expires_at,
                first_token,
            },
        )
    }

    /// Creates an anonymous account with an already validated nickname (display form and
    /// uniqueness key). Nothing is written if any part fails.
    pub async fn sign_up(
        &self,
        nickname: String,
        nickname_key: String,
    ) -> Result<SignedUp, AuthError> {
        let now = Timestamp::now();
        let user_id = UserId::random();
        let recovery_key = RecoveryKey::generate();
        let account = NewAccount {
            user_id,
            nickname,
            nickname_key,
            recovery_key_hash: recovery_key.digest(),
            created_at: now,
        };
        let (tokens, session) = self.new_session(user_id, now, 0);
        self.store.create_account(&account, &session).await?;
        Ok(SignedUp {
            tokens,
            recovery_key: recovery_key.display(),
        })
    }

    /// Logs in with a user id and recovery key. Unknown users and wrong keys get the same error
    /// after the same work. Logging in reactivates a deactivated account.
    pub async fn login(
        &self,
        user_id: UserId,
        recovery_key: &str,
    ) -> Result<IssuedTokens, AuthError> {
        let presented = RecoveryKey::parse(recovery_key).ok_or(AuthError::MalformedRecoveryKey)?;
        let presented_hash = presented.digest();
        let stored = self.store.recovery_key_hash(user_id).await?;
        let (expected, exists) = match stored {
            Some(hash) => (hash, true),
            None => (self.decoy_hash, false),
        };
        if !(digests_match(&presented_hash, &expected) & exists) {
            return Err(AuthError::InvalidCredentials);
        }
        let now = Timestamp::now();
        for attempt in 0..MINT_ATTEMPTS {
            let (tokens, session) = self.new_session(user_id, now, self.shortening(attempt));
            match self.store.start_session(&session).await {
                Ok(()) => return Ok(tokens),
                Err(StoreError::Conflict(Conflict::AccessToken)) => continue,
                // Deleted between the two statements: indistinguishable from a wrong key.
                Err(StoreError::NotFound) => return Err(AuthError::InvalidCredentials),
                Err(error) => return Err(error.into()),
            }
        }
        Err(StoreError::Unavailable("could not mint a unique access token".into()).into())
    }

    /// Spends a refresh token and mints a new pair in the same family.
    pub async fn refresh(&self, refresh_token: &str) -> Result<IssuedTokens, AuthError> {
        let now = Timestamp::now();
        let hash = refresh_token_digest(refresh_token);
        let record = self
            .store
            .find_refresh_token(&hash)
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        if record.family_revoked_at.is_some()
            || record.expires_at <= now
            || record.family_expires_at <= now
        {
            return Err(AuthError::InvalidRefreshToken);
        }
        if let Some(spent_at) = record.spent_at {
            return Err(self
                .on_spent_token_presented(record.family_id, spent_at, now)
                .await);
        }
        for attempt in 0..MINT_ATTEMPTS {
            let (tokens, replacement) = self.mint(
                record.user_id,
                record.family_id,
                record.family_expires_at,
                now,
                self.shortening(attempt),
            );
            match self
                .store
                .rotate_refresh_token(&hash, &replacement, now)
                .await
            {
                Ok(true) => return Ok(tokens),
                // Lost a race with a concurrent refresh of the same token (or a revocation).
                Ok(false) => {
                    return Err(self
                        .on_spent_token_presented(record.family_id, now, now)
                        .await)
                }
                Err(StoreError::Conflict(Conflict::AccessToken)) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(StoreError::Unavailable("could not mint a unique access token".into()).into())
    }

    async fn on_spent_token_presented(
        &self,
        family_id: SessionFamilyId,
        spent_at: Timestamp,
        now: Timestamp,
    ) -> AuthError {
        if now < spent_at.plus(self.settings.refresh_reuse_grace) {
            return AuthError::InvalidRefreshToken;
        }
        match self.store.revoke_family(family_id, now).await {
            Ok(revocations) => {
                self.revoke(&revocations).await;
                tracing::warn!(family = %family_id, "spent refresh token reused; session family revoked");
                AuthError::RefreshTokenReused
            }
            Err(error) => error.into(),
        }
    }

    /// Verifies a bearer token and checks it against the revocation list: this process's
    /// mirror, then the list shared through the cache. With the cache down, the mirror (synced
    /// from the relational store) decides while it is fresh; once it is not, authentication
    /// fails closed (503) rather than let a revoked token through.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        self.confirm(self.verify(bearer)?).await
    }

    /// The first half of [`authenticate`](Self::authenticate), without a round trip: the
    /// token's signature and expiry, and this process's revocation mirror.
    pub fn verify(&self, bearer: &str) -> Result<Unconfirmed, AuthError> {
        let verified = self.tokens.verify(bearer, Timestamp::now())?;
        let principal = Principal {
            user_id: verified.user_id,
            token_hash: verified.token_hash,
            expires_at: verified.expires_at,
        };
        self.not_revoked_here(&principal)?;
        Ok(Unconfirmed(principal))
    }

    /// The second half: the revocation list shared through the cache (see
    /// [`authenticate`](Self::authenticate) for when the cache is down).
    pub async fn confirm(&self, token: Unconfirmed) -> Result<Principal, AuthError> {
        let Unconfirmed(principal) = token;
        self.not_revoked_in_cache(&principal).await?;
        Ok(principal)
    }

    /// Whether a principal authenticated earlier (a long-lived socket's) still holds: not
    /// expired, not revoked since. The signature is not verified again.
    pub async fn recheck(&self, principal: &Principal) -> Result<(), AuthError> {
        if principal.expires_at <= Timestamp::now() {
            return Err(TokenError::Expired.into());
        }
        self.not_revoked_here(principal)?;
        self.not_revoked_in_cache(principal).await
    }

    /// This process's mirror of the revocation list.
    fn not_revoked_here(&self, principal: &Principal) -> Result<(), AuthError> {
        if self.revocations.is_revoked(principal) {
            return Err(TokenError::Revoked.into());
        }
        Ok(())
    }

    /// The revocation list shared through the cache; with the cache down, the mirror decides
    /// while fresh.
    async fn not_revoked_in_cache(&self, principal: &Principal) -> Result<(), AuthError> {
        if let Some(cache) = &self.cache {
            match self.revoked_in_cache(cache.as_ref(), principal).await {
                Ok(true) => return Err(TokenError::Revoked.into()),
                Ok(false) => {}
                Err(error) => {
                    let fresh = self.settings.revocation_sync_interval * FALLBACK_SYNCS;
                    if !self.revocations.synced_within(fresh) {
                        return Err(AuthError::Store(StoreError::Unavailable(format!(
                            "revocation list: cache down ({error}) and store mirror stale"
                        ))));
                    }
                }
            }
        }
        Ok(())
    }

    /// Ends the caller's session: its access token and its family's refresh tokens.
    pub async fn logout(&self, principal: &Principal) -> Result<(), AuthError> {
        let revocations = self
            .store
            .revoke_session_of_access_token(
                &principal.token_hash,
                principal.expires_at,
                Timestamp::now(),
            )
            .await?;
        self.revoke(&revocations).await;
        Ok(())
    }

    /// Replaces the caller's recovery key. Every other session of the account ends; the
    /// caller's own continues.
    pub async fn rotate_recovery_key(&self, principal: &Principal) -> Result<String, AuthError> {
        let recovery_key = RecoveryKey::generate();
        let revocations = self
            .store
            .replace_recovery_key(
                principal.user_id,
                &recovery_key.digest(),
                &principal.token_hash,
                Timestamp::now(),
            )
            .await?;
        self.revoke(&revocations).await;
        Ok(recovery_key.display())
    }

    /// Applies revocations written by another service of this process (deactivate, delete).
    pub async fn apply_revocations(&self, revocations: &[Revocation]) {
        self.revoke(revocations).await;
    }

    /// Applies revocations the store has durably written: at once in this process, and through
    /// the cache for every other process. If the cache cannot take them, other processes still
    /// read them from the store at their next sync.
    async fn revoke(&self, revocations: &[Revocation]) {
        self.revocations.apply(revocations);
        let Some(cache) = &self.cache else { return };
        let now = Timestamp::now();
        for revocation in revocations {
            let written = match *revocation {
                Revocation::Token {
                    token_hash,
                    expires_at,
                } => {
                    let left = (expires_at.as_millis() - now.as_millis()).max(1000) as u64;
                    cache
                        .set(
                            &revoked_token_key(&token_hash),
                            b"1",
                            Some(Duration::from_millis(left)),
                        )
                        .await
                }
                Revocation::Subject {
                    user_id,
                    revoked_at,
                } => {
                    // After one token lifetime, every token issued before it has expired.
                    let ttl = self.settings.access_ttl + Duration::from_secs(60);
                    cache
                        .set(
                            &revoked_subject_key(user_id),
                            revoked_at.as_millis().to_string().as_bytes(),
                            Some(ttl),
                        )
                        .await
                }
            };
            if let Err(error) = written {
                tracing::warn!(error = %error, "revocation not shared through the cache; other processes read it from the store");
            }
        }
    }

    /// Whether the shared list in the cache revokes `token` (a revocation made by another
    /// process moments ago).
    async fn revoked_in_cache(
        &self,
        cache: &dyn Cache,
        token: &Principal,
    ) -> Result<bool, CacheError> {
        let keys = [
            revoked_token_key(&token.token_hash),
            revoked_subject_key(token.user_id),
        ];
        let [by_token, by_subject]: [Option<veilgram_core::cache::Bytes>; 2] = cache
            .get_many(&keys)
            .await?
            .try_into()
            .map_err(|_| CacheError("the cache answered the wrong number of values".into()))?;
        if by_token.is_some() {
            return Ok(true);
        }
        let Some(revoked_at) =
            by_subject.and_then(|bytes| std::str::from_utf8(&bytes).ok()?.parse::<i64>().ok())
        else {
            return Ok(false);
        };
        // Tokens carry no `iat`; `exp - ttl` is when it was issued (rounded down).
        Ok(token.expires_at.minus(self.settings.access_ttl).as_millis() <= revoked_at)
    }

    pub fn jwks(&self) -> serde_json::Value {
        self.tokens.jwks(Timestamp::now())
    }

    /// One round of maintenance: read other processes' revocations; purge what has expired.
    /// Exposed as a single step so tests can drive it deterministically.
    pub async fn sync_revocations(&self) -> Result<usize, StoreError> {
        self.revocations.sync(self.store.as_ref()).await
    }

    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        let now = Timestamp::now();
        self.revocations.prune(now);
        self.store
            .purge_expired(now, now.minus(self.settings.access_ttl))
            .await
    }

    /// Runs the revocation sync (every `revocation_sync_interval`), the shared key ring's sync
    /// (every [`KEY_SYNC_INTERVAL`]) and an hourly purge until the returned task is aborted.
    pub fn spawn_maintenance(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let service = Arc::clone(self);
        tokio::spawn(async move {
            let mut sync = tokio::time::interval(service.settings.revocation_sync_interval);
            sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut purge = tokio::time::interval(Duration::from_secs(3600));
            let mut keys = tokio::time::interval(KEY_SYNC_INTERVAL);
            keys.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = keys.tick(), if service.shared_keys.is_some() => {
                        if let Err(error) = service.sync_signing_keys().await {
                            tracing::warn!(error = %error, "signing key sync failed");
                        }
                    }
                    _ = sync.tick() => {
                        if let Err(error) = service.sync_revocations().await {
                            tracing::warn!(error = %error, "revocation sync failed");
                        }
                    }
                    _ = purge.tick() => {
                        match service.purge_expired().await {
                            Ok(removed) => tracing::debug!(removed, "purged expired sessions and revocations"),
                            Err(error) => tracing::warn!(error = %error, "purge failed"),
                        }
                    }
                }
            }
        })
    }
}
