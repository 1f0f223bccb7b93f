//! Proof of work for sign-up (and for logins after repeated failures): the server hands out a
//! signed, expiring, single-use challenge, and the client searches for a nonce whose Argon2id
//! hash (memory-hard, so a GPU gains little over a phone) starts with the challenge's number of
//! zero bits. Checking a solution costs the server one hash; finding one costs the client
//! `2^bits` on average.
//!
//! The difficulty adapts: `base_bits`, plus a bit for every sign-up the same keyed address hash
//! made in the last hour, plus a bit for every doubling of all sign-ups over `normal_rate` in the
//! last ten minutes (each capped). Counters live on the cache port, so every process shares them;
//! a cache out of reach is treated as a quiet one (the base difficulty still holds).
//!
//! Challenge token: `base64url(json) "." base64url(HMAC-SHA256(key, json))`; the JSON names its
//! id (16 random bytes, also the Argon2 salt), purpose, bits, memory, iterations and expiry. The
//! hashed password is `"<id>:<nonce>"` (id in base64url, nonce in decimal), the output 32 bytes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;
use veilgram_core::cache::{Cache, CacheKey};
use veilgram_core::Timestamp;

/// What a challenge may be spent on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Signup,
    Login,
}

#[derive(Clone, Debug)]
pub struct ProofSettings {
    /// Off for load tests and benchmarks: sign-up and login then need no proof.
    pub enabled: bool,
    /// Leading zero bits of a quiet day's challenge.
    pub base_bits: u8,
    /// Argon2id memory per hash, in KiB, and passes over it.
    pub memory_kib: u32,
    pub iterations: u32,
    /// How long a challenge may be solved and spent.
    pub ttl: Duration,
    /// Sign-ups in ten minutes (all addresses together) above which each doubling adds a bit.
    pub normal_rate: u64,
    /// Failed logins from one address in fifteen minutes after which its logins need a proof.
    pub failed_logins_before_proof: u64,
}

impl Default for ProofSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            base_bits: 6,
            memory_kib: 4096,
            iterations: 1,
            ttl: Duration::from_secs(600),
            normal_rate: 60,
            failed_logins_before_proof: 3,
        }
    }
}

impl ProofSettings {
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }
}

/// The most bits the load can add, per address and overall.
const MAX_EXTRA_BITS: u8 = 6;
const MAX_BITS: u8 = 24;
const SIGNUP_WINDOW_MS: i64 = 600_000;
const ADDRESS_WINDOW_MS: i64 = 3_600_000;
const LOGIN_WINDOW_MS: i64 = 900_000;
/// Solutions checked at once (each holds `memory_kib`); more wait.
const CONCURRENT_CHECKS: usize = 4;

/// A challenge as handed to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub token: String,
    /// Base64url; decoded, the Argon2 salt.
    pub id: String,
    pub bits: u8,
    pub memory_kib: u32,
    pub iterations: u32,
    pub expires_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    id: String,
    purpose: Purpose,
    bits: u8,
    memory_kib: u32,
    iterations: u32,
    exp: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("this needs a proof of work: solve a challenge from POST /api/v1/auth/challenge")]
    Required,
    #[error("the challenge is malformed, forged or for something else")]
    Forged,
    #[error("the challenge expired; ask for another")]
    Expired,
    #[error("the challenge was already spent; ask for another")]
    Spent,
    #[error("the nonce does not solve the challenge")]
    Wrong,
}

pub struct ProofOfWork {
    key: Vec<u8>,
    cache: Arc<dyn Cache>,
    settings: ProofSettings,
    checks: tokio::sync::Semaphore,
}

impl ProofOfWork {
    /// `key`: a server secret every process shares (challenges made by one are spent on any).
    pub fn new(key: Vec<u8>, cache: Arc<dyn Cache>, settings: ProofSettings) -> Self {
        Self {
            key,
            cache,
            settings,
            checks: tokio::sync::Semaphore::new(CONCURRENT_CHECKS),
        }
    }

    pub const fn enabled(&self) -> bool {
        self.settings.enabled
    }

    /// A challenge for `purpose`, as hard as the recent sign-ups (from `address`, a keyed
    /// address hash, and overall) make it.
    pub async fn challenge(&self, purpose: Purpose, address: &str, now: Timestamp) -> Challenge {
        let bits = if self.settings.enabled {
            self.bits(address, now).await
        } else {
            0
        };
        let mut id = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut id);
        let expires_at = now.plus(self.settings.ttl);
        let claims = Claims {
            id: URL_SAFE_NO_PAD.encode(id),
            purpose,
            bits,
            memory_kib: self.settings.memory_kib,
            iterations: self.settings.iterations,
            exp: expires_at.as_millis(),
        };
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let token = format!(
            "{body}.{}",
            URL_SAFE_NO_PAD.encode(self.sign(body.as_bytes()))
        );
        Challenge {
            token,
            id: claims.id,
            bits,
            memory_kib: claims.memory_kib,
            iterations: claims.iterations,
            expires_at,
        }
    }

    async fn bits(&self, address: &str, now: Timestamp) -> u8 {
        let keys = [
            overall_key(now.as_millis().div_euclid(SIGNUP_WINDOW_MS)),
            address_key(address, now.as_millis().div_euclid(ADDRESS_WINDOW_MS)),
        ];
        let counts = self.cache.counters(&keys).await.unwrap_or_default();
        let count = |index: usize| {
            counts
                .get(index)
                .copied()
                .flatten()
                .map_or(0, |n| u64::try_from(n).unwrap_or(0))
        };
        difficulty(
            self.settings.base_bits,
            count(0),
            count(1),
            self.settings.normal_rate,
        )
    }

    /// Checks and spends a solution for `purpose`: the signature, the purpose, the expiry, that
    /// it was not spent before (across processes, through the cache), and the hash.
    pub async fn redeem(
        &self,
        purpose: Purpose,
        token: &str,
        nonce: u64,
        now: Timestamp,
    ) -> Result<(), ProofError> {
        let claims = self.claims(token)?;
        if claims.purpose != purpose {
            return Err(ProofError::Forged);
        }
        // `exp` is the first instant it is no longer good (a challenge that lives no time never is).
        if now.as_millis() >= claims.exp {
            return Err(ProofError::Expired);
        }
        let salt = URL_SAFE_NO_PAD
            .decode(&claims.id)
            .map_err(|_| ProofError::Forged)?;
        let permit = self.checks.acquire().await.map_err(|_| ProofError::Wrong)?;
        let password = format!("{}:{nonce}", claims.id);
        let (memory_kib, iterations, bits) = (claims.memory_kib, claims.iterations, claims.bits);
        let solved = tokio::task::spawn_blocking(move || {
            hash(password.as_bytes(), &salt, memory_kib, iterations)
                .is_some_and(|digest| leading_zero_bits(&digest) >= u32::from(bits))
        })
        .await
        .unwrap_or(false);
        drop(permit);
        if !solved {
            return Err(ProofError::Wrong);
        }
        // Spent once: the first to count it wins.
        let ttl = Duration::from_millis(u64::try_from(claims.exp - now.as_millis()).unwrap_or(0))
            + Duration::from_secs(1);
        let spent = CacheKey::named(&format!("pow:spent:{}", claims.id));
        match self.cache.increment(&spent, 1, Some(ttl)).await {
            Ok(1) => Ok(()),
            Ok(_) => Err(ProofError::Spent),
            Err(error) => {
                tracing::warn!(%error, "a proof's single use not checked: the cache is unavailable");
                Ok(())
            }
        }
    }

    /// Whether logins from `address` need a proof now (after repeated failures).
    pub async fn login_needs_proof(&self, address: &str, now: Timestamp) -> bool {
        if !self.settings.enabled {
            return false;
        }
        let key = failed_login_key(address, now);
        let failed = self.cache.counters(&[key]).await.unwrap_or_default();
        failed.first().copied().flatten().is_some_and(|n| {
            u64::try_from(n).unwrap_or(0) >= self.settings.failed_logins_before_proof
        })
    }

    /// Counts a failed login from `address`.
    pub async fn login_failed(&self, address: &str, now: Timestamp) {
        let ttl = Duration::from_millis(LOGIN_WINDOW_MS as u64);
        if let Err(error) = self
            .cache
            .increment(&failed_login_key(address, now), 1, Some(ttl))
            .await
        {
            tracing::warn!(%error, "a failed login was not counted: the cache is unavailable");
        }
    }

    /// Counts a wrong or forged solution from `address`; answers how many it sent in the last
    /// fifteen minutes.
    pub async fn failed(&self, address: &str, now: Timestamp) -> u64 {
        let window = now.as_millis().div_euclid(LOGIN_WINDOW_MS);
        let key = CacheKey::named(&format!("pow:failed:{window}:a:{address}"));
        let ttl = Duration::from_millis(LOGIN_WINDOW_MS as u64);
        match self.cache.increment(&key, 1, Some(ttl)).await {
            Ok(count) => u64::try_from(count).unwrap_or(0),
            Err(error) => {
                tracing::warn!(%error, "a failed proof was not counted: the cache is unavailable");
                0
            }
        }
    }

    /// Counts a sign-up from `address`, for the difficulty of the next challenges.
    pub async fn signed_up(&self, address: &str, now: Timestamp) {
        let millis = now.as_millis();
        for (key, window) in [
            (
                overall_key(millis.div_euclid(SIGNUP_WINDOW_MS)),
                SIGNUP_WINDOW_MS,
            ),
            (
                address_key(address, millis.div_euclid(ADDRESS_WINDOW_MS)),
                ADDRESS_WINDOW_MS,
            ),
        ] {
            let ttl = Duration::from_millis(window as u64);
            if let Err(error) = self.cache.increment(&key, 1, Some(ttl)).await {
                tracing::warn!(%error, "a sign-up was not counted: the cache is unavailable");
            }
        }
    }

    fn claims(&self, token: &str) -> Result<Claims, ProofError> {
        let (body, signature) = token.split_once('.').ok_or(ProofError::Forged)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| ProofError::Forged)?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| ProofError::Forged)?;
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| ProofError::Forged)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| ProofError::Forged)?;
        // Only this server's parameters are ever signed; a bound here keeps a leaked key from
        // making the server hash with huge memory.
        if claims.memory_kib > 65_536 || claims.iterations > 8 || claims.bits > MAX_BITS {
            return Err(ProofError::Forged);
        }
        Ok(claims)
    }

    fn mac(&self) -> Hmac<Sha256> {
        match <Hmac<Sha256> as Mac>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes a key of any length"),
        }
    }

    fn sign(&self, body: &[u8]) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }
}

/// `base` bits, plus one per sign-up `from_address` made lately, plus one per doubling of all
/// sign-ups (`overall`) over `normal` (each capped).
fn difficulty(base: u8, overall: u64, from_address: u64, normal: u64) -> u8 {
    let normal = normal.max(1);
    let crowd = if overall > normal {
        (overall / normal).ilog2() + 1
    } else {
        0
    };
    let crowd = u8::try_from(crowd)
        .unwrap_or(MAX_EXTRA_BITS)
        .min(MAX_EXTRA_BITS);
    let repeat = u8::try_from(from_address)
        .unwrap_or(MAX_EXTRA_BITS)
        .min(MAX_EXTRA_BITS);
    (base + crowd + repeat).min(MAX_BITS)
}

fn overall_key(window: i64) -> CacheKey {
    CacheKey::named(&format!("pow:signups:{window}"))
}

fn address_key(address: &str, window: i64) -> CacheKey {
    CacheKey::named(&format!("pow:signups:{window}:a:{address}"))
}

fn failed_login_key(address: &str, now: Timestamp) -> CacheKey {
    let window = now.as_millis().div_euclid(LOGIN_WINDOW_MS);
    CacheKey::named(&format!("pow:failed-logins:{window}:a:{address}"))
}

/// Argon2id (version 0x13, one lane) of `password` under `salt`: 32 bytes.
pub fn hash(password: &[u8], salt: &[u8], memory_kib: u32, iterations: u32) -> Option<[u8; 32]> {
    let params = argon2::Params::new(memory_kib, iterations, 1, Some(32)).ok()?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = [0u8; 32];
    argon.hash_password_into(password, salt, &mut out).ok()?;
    Some(out)
}

pub fn leading_zero_bits(digest: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in digest {
        if *byte == 0 {
            bits += 8;
        } else {
            return bits + byte.leading_zeros();
        }
    }
    bits
}

/// Finds a nonce for `token` the way a client does (for tests, benchmarks and scripts); `None`
/// when the token is not a challenge.
pub fn solve(token: &str) -> Option<(u64, u64)> {
    let (body, _) = token.split_once('.')?;
    let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
    let salt = URL_SAFE_NO_PAD.decode(&claims.id).ok()?;
    for nonce in 0u64.. {
        let password = format!("{}:{nonce}", claims.id);
        let digest = hash(
            password.as_bytes(),
            &salt,
            claims.memory_kib,
            claims.iterations,
        )?;
        if leading_zero_bits(&digest) >= u32::from(claims.bits) {
            return Some((nonce, nonce + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difficulty_grows_with_the_crowd_and_the_repeats() {
        assert_eq!(difficulty(6, 10, 0, 60), 6, "a quiet day");
        assert_eq!(difficulty(6, 61, 0, 60), 7);
        assert_eq!(difficulty(6, 240, 0, 60), 9, "four times the normal rate");
        assert_eq!(
            difficulty(6, 10, 2, 60),
            8,
            "a third sign-up from one address"
        );
        assert_eq!(difficulty(6, 1 << 40, 1000, 60), 18, "both capped");
    }

    #[test]
    fn zero_bits_are_counted_from_the_first_byte() {
        assert_eq!(leading_zero_bits(&[0, 0x1f, 0xff]), 11);
        assert_eq!(leading_zero_bits(&[0x80]), 0);
        assert_eq!(leading_zero_bits(&[0, 0]), 16);
    }

    #[test]
    fn argon2id_matches_the_reference_vector() {
        // What hash-wasm (the web client's Argon2) gives for the same input: client and server
        // must agree on every hash.
        let digest = hash(b"password", b"somesalt", 64, 2).unwrap();
        assert_eq!(
            veilgram_core::hex(&digest),
            "16a1a498734609dd01456da406de9f3d9da93e6c86c300a12fc1465214ce4922"
        );
    }
}
