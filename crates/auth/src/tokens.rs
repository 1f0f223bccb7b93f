//! Access tokens: compact JWS (RFC 7515) with `alg: EdDSA`, claims `iss aud typ exp sub` only and
//! the key id in the header. Verification is strict and cached per token string.
//!
//! The cache is what lets an authenticated read run near the speed of an unauthenticated one: an
//! Ed25519 verification costs ~30 µs, a cache hit well under a microsecond. A hit still checks
//! expiry (and the caller checks revocation), so caching never extends a token's life.

use crate::keys::KeyRing;
use crate::secrets::access_token_digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};
use veilgram_core::ports::SecretHash;
use veilgram_core::{Timestamp, UserId};

/// The `typ` claim of an access token. Refresh tokens are opaque and never JWTs, so the two can
/// never be confused, but the claim makes the intent explicit to other verifiers too.
pub const ACCESS_TOKEN_TYPE: &str = "access";
const MAX_TOKEN_LENGTH: usize = 2048;
const CACHE_SHARDS: usize = 16;
const CACHE_ENTRIES_PER_SHARD: usize = 8192;

#[derive(Clone, Debug)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    alg: String,
    kid: String,
    #[serde(default)]
    typ: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Claims {
    iss: String,
    aud: String,
    typ: String,
    exp: i64,
    sub: String,
}

/// Why a token was refused. The gateway answers 401 for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm or key is not accepted")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token was not issued for this service")]
    WrongClaims,
    #[error("the token has expired")]
    Expired,
    #[error("the token has been revoked")]
    Revoked,
}

/// A token whose signature and claims checked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    pub user_id: UserId,
    pub expires_at: Timestamp,
    pub token_hash: SecretHash,
}

/// Mints and verifies access tokens.
pub struct AccessTokens {
    settings: TokenSettings,
    ring: RwLock<Arc<KeyRing>>,
    key_file: Option<PathBuf>,
    last_reload: Mutex<Instant>,
    /// When the key file was last looked at, and its modification time then.
    last_rotation_check: Mutex<(Instant, Option<SystemTime>)>,
    cache: Vec<Mutex<HashMap<Box<str>, VerifiedToken>>>,
    cache_hasher: RandomState,
}

fn encode_json<T: Serialize>(value: &T) -> String {
    // Serialising these plain structs cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

impl AccessTokens {
    /// `key_file`, when given, is re-read when a token names a `kid` the ring does not know, so
    /// that a key rotated by another process is picked up without a restart.
    pub fn new(settings: TokenSettings, ring: KeyRing, key_file: Option<PathBuf>) -> Self {
        let key_file_modified = key_file.as_ref().and_then(|path| modified(path));
        Self {
            settings,
            ring: RwLock::new(Arc::new(ring)),
            key_file,
            last_reload: Mutex::new(Instant::now()),
            last_rotation_check: Mutex::new((Instant::now(), key_file_modified)),
            cache: (0..CACHE_SHARDS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            cache_hasher: RandomState::new(),
        }
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    fn current_ring(&self) -> Arc<KeyRing> {
        match self.ring.read() {
            Ok(ring) => Arc::clone(&ring),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Mints an access token for `user_id`, valid for the configured lifetime from `now`, less
    /// `shortened_by` seconds (used to make a token differ from one minted in the same second).
    pub fn mint(&self, user_id: UserId, now: Timestamp, shortened_by: i64) -> (String, Timestamp) {
        self.reload_if_rotated();
        let ring = self.current_ring();
        let key = ring.signing_key(now);
        let ttl_seconds = i64::try_from(self.settings.access_ttl.as_secs()).unwrap_or(i64::MAX);
        let exp = now
            .as_unix_seconds()
            .saturating_add(ttl_seconds)
            .saturating_sub(shortened_by);
        let header = Header {
            alg: "EdDSA".into(),
            kid: key.kid.clone(),
            typ: Some("JWT".into()),
        };
        let claims = Claims {
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            typ: ACCESS_TOKEN_TYPE.into(),
            exp,
            sub: user_id.to_string(),
        };
        let signing_input = format!("{}.{}", encode_json(&header), encode_json(&claims));
        let signature = key.signing.sign(signing_input.as_bytes());
        let token = format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        );
        (token, Timestamp::from_unix_seconds(exp))
    }

    /// Verifies signature and claims (not revocation: see `RevocationList`).
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<VerifiedToken, TokenError> {
        if token.len() > MAX_TOKEN_LENGTH {
            return Err(TokenError::Malformed);
        }
        let shard = &self.cache[(self.cache_hasher.hash_one(token) as usize) % CACHE_SHARDS];
        let cached = shard
            .lock()
            .ok()
            .and_then(|entries| entries.get(token).copied());
        let verified = match cached {
            Some(verified) => verified,
            None => {
                let verified = self.verify_uncached(token, now)?;
                if let Ok(mut entries) = shard.lock() {
                    if entries.len() >= CACHE_ENTRIES_PER_SHARD {
                        entries.retain(|_, entry| entry.expires_at > now);
                        if entries.len() >= CACHE_ENTRIES_PER_SHARD {
                            entries.clear();
                        }
                    }
                    entries.insert(token.into(), verified);
                }
                verified
            }
        };
        if verified.expires_at <= now {
            return Err(TokenError::Expired);
        }
        Ok(verified)
    }

    fn verify_uncached(&self, token: &str, now: Timestamp) -> Result<VerifiedToken, TokenError> {
        let mut parts = token.split('.');
        let (Some(header_part), Some(claims_part), Some(signature_part), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: Header = decode_json(header_part)?;
        if header.alg != "EdDSA" || header.typ.as_deref().is_some_and(|typ| typ != "JWT") {
            return Err(TokenError::UnknownKey);
        }
        let verifying_key = self
            .verifying_key(&header.kid, now)
            .ok_or(TokenError::UnknownKey)?;
        let signature_bytes: [u8; 64] = URL_SAFE_NO_PAD
            .decode(signature_part)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(TokenError::BadSignature)?;
        let signing_input_length = header_part.len() + 1 + claims_part.len();
        verifying_key
            .verify_strict(
                &token.as_bytes()[..signing_input_length],
                &Signature::from_bytes(&signature_bytes),
            )
            .map_err(|_| TokenError::BadSignature)?;

        let claims: Claims = decode_json(claims_part)?;
        if claims.iss != self.settings.issuer
            || claims.aud != self.settings.audience
            || claims.typ != ACCESS_TOKEN_TYPE
        {
            return Err(TokenError::WrongClaims);
        }
        let user_id: UserId = claims.sub.parse().map_err(|_| TokenError::WrongClaims)?;
        let expires_at = Timestamp::from_unix_seconds(claims.exp);
        if expires_at <= now {
            return Err(TokenError::Expired);
        }
        Ok(VerifiedToken {
            user_id,
            expires_at,
            token_hash: access_token_digest(token),
        })
    }

    fn verifying_key(&self, kid: &str, now: Timestamp) -> Option<ed25519_dalek::VerifyingKey> {
        let ttl = self.settings.access_ttl;
        if let Some(key) = self.current_ring().verifying_key(kid, now, ttl) {
            return Some(key);
        }
        // An unknown kid may be a key another process just rotated in: re-read the file, at most
        // once a second so that forged kids cannot turn into a file-reading flood.
        let path = self.key_file.as_ref()?;
        {
            let mut last = self.last_reload.lock().ok()?;
            if last.elapsed() < Duration::from_secs(1) {
                return None;
            }
            *last = Instant::now();
        }
        self.reload(path)
            .and_then(|ring| ring.verifying_key(kid, now, ttl))
    }

    /// Re-reads the key file (at most once a second) when its modification time changed, so that
    /// `veilgram rotate-signing-key` takes effect in running servers.
    fn reload_if_rotated(&self) {
        let Some(path) = self.key_file.as_ref() else {
            return;
        };
        let Ok(mut check) = self.last_rotation_check.lock() else {
            return;
        };
        if check.0.elapsed() < Duration::from_secs(1) {
            return;
        }
        let current = modified(path);
        let changed = current != check.1;
        *check = (Instant::now(), current);
        drop(check);
        if changed {
            self.reload(path);
        }
    }

    fn reload(&self, path: &std::path::Path) -> Option<Arc<KeyRing>> {
        match KeyRing::load_or_create(path) {
            Ok(ring) => Some(self.replace_ring(ring)),
            Err(error) => {
                tracing::error!(error = %error, "cannot reload the signing key file");
                None
            }
        }
    }

    /// Uses `ring` from now on (read again from wherever the keys are kept).
    pub fn replace_ring(&self, ring: KeyRing) -> Arc<KeyRing> {
        let ring = Arc::new(ring);
        if let Ok(mut current) = self.ring.write() {
            *current = Arc::clone(&ring);
        }
        // A key may have been withdrawn: forget what was verified with the old ring.
        for shard in &self.cache {
            if let Ok(mut entries) = shard.lock() {
                entries.clear();
            }
        }
        let kid = &ring.signing_key(Timestamp::now()).kid;
        tracing::info!(%kid, "signing key ring reloaded");
        ring
    }

    /// The public keys as a JWKS document.
    pub fn jwks(&self, now: Timestamp) -> serde_json::Value {
        self.current_ring().jwks(now, self.settings.access_ttl)
    }
}

fn decode_json<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path)
        .and_then(|metadata| metadata.modified())
        .ok()
}
