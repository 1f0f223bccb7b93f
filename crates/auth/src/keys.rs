//! The signing key ring: Ed25519 keys kept where every process reads them — by default in the
//! relational store (one server value, so every process verifies every other's tokens), or in a
//! file the configuration names — generated on first start, rotated by
//! `veilgram rotate-signing-key`.
//!
//! Rotation retires the signing key rather than deleting it: a retired key keeps verifying until
//! every token it signed has expired (`retired_at + access_ttl`), then it leaves the ring and the
//! JWKS document. A rotation may take effect a moment later (`activate_after`): the new key is
//! published (verifies, is in the JWKS) at once and signs from then on, so every process has
//! read it before any token it signed reaches them.

use anyhow::Context;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;
use veilgram_core::Timestamp;

/// One key as stored in the key file.
#[derive(Clone, Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    /// The 32-byte Ed25519 seed, base64.
    secret: String,
    created_at: i64,
    /// When it starts signing (absent: at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    activates_at: Option<i64>,
    retired_at: Option<i64>,
}

#[derive(Default, Serialize, Deserialize)]
struct KeyFile {
    keys: Vec<StoredKey>,
}

impl KeyFile {
    /// A ring of one new key, signing at once.
    fn fresh() -> Self {
        Self {
            keys: vec![new_stored_key(Timestamp::now(), None)],
        }
    }
}

/// A key of the ring, decoded.
#[derive(Clone)]
pub struct RingKey {
    pub kid: String,
    pub signing: SigningKey,
    pub activates_at: Option<Timestamp>,
    pub retired_at: Option<Timestamp>,
}

/// The keys that sign and verify access tokens.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<RingKey>,
}

/// RFC 7638 thumbprint of an Ed25519 public key: a stable `kid`.
fn thumbprint(public: &VerifyingKey) -> String {
    let x = URL_SAFE_NO_PAD.encode(public.as_bytes());
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

fn new_stored_key(now: Timestamp, activates_at: Option<Timestamp>) -> StoredKey {
    let signing = SigningKey::generate(&mut rand::rngs::OsRng);
    StoredKey {
        kid: thumbprint(&signing.verifying_key()),
        secret: STANDARD.encode(signing.to_bytes()),
        created_at: now.as_millis(),
        activates_at: activates_at.map(Timestamp::as_millis),
        retired_at: None,
    }
}

fn read_key_file(path: &Path) -> anyhow::Result<Option<KeyFile>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let file = serde_json::from_slice(&bytes)
                .with_context(|| format!("signing key file {} is malformed", path.display()))?;
            Ok(Some(file))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => {
            Err(error).with_context(|| format!("cannot read signing key file {}", path.display()))
        }
    }
}

/// Writes atomically (temp file + rename) with owner-only permissions.
fn write_key_file(path: &Path, file: &KeyFile) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let temporary = path.with_extension("tmp");
    let bytes = serde_json::to_vec_pretty(file)?;
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut handle = options
            .open(&temporary)
            .with_context(|| format!("cannot write {}", temporary.display()))?;
        handle.write_all(&bytes)?;
        handle.sync_all()?;
    }
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

impl KeyRing {
    /// Loads the ring from `path`, creating the file with one fresh key if it does not exist.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        let file = match read_key_file(path)? {
            Some(file) if !file.keys.is_empty() => file,
            _ => {
                let file = KeyFile::fresh();
                write_key_file(path, &file)?;
                file
            }
        };
        Self::from_file(&file)
    }

    /// Retires the current signing key of the file at `path` and adds a new one that signs at
    /// once. Returns the new `kid`.
    pub fn rotate(path: &Path, access_ttl: Duration) -> anyhow::Result<String> {
        let mut file = read_key_file(path)?.unwrap_or_default();
        let kid = Self::rotate_keys(&mut file, access_ttl, Duration::ZERO);
        write_key_file(path, &file)?;
        Ok(kid)
    }

    /// A ring of one fresh key, in its stored form (for the store's first writer).
    pub fn fresh_bytes() -> Vec<u8> {
        serde_json::to_vec(&KeyFile::fresh()).unwrap_or_default()
    }

    /// The stored form of a key file (to move a data directory's keys into the store).
    pub fn file_bytes(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(read_key_file(path)?
            .filter(|file| !file.keys.is_empty())
            .map(|file| serde_json::to_vec(&file).unwrap_or_default()))
    }

    /// A ring from its stored form.
    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<Self> {
        let file: KeyFile =
            serde_json::from_slice(bytes).context("the stored signing key ring is malformed")?;
        Self::from_file(&file)
    }

    /// `stored` rotated: the signing key retires and a new one signs from `activate_after`
    /// on; keys that can no longer verify are dropped. Answers the new stored form and `kid`.
    pub fn rotated_bytes(
        stored: &[u8],
        access_ttl: Duration,
        activate_after: Duration,
    ) -> anyhow::Result<(Vec<u8>, String)> {
        let mut file: KeyFile =
            serde_json::from_slice(stored).context("the stored signing key ring is malformed")?;
        let kid = Self::rotate_keys(&mut file, access_ttl, activate_after);
        Ok((serde_json::to_vec(&file)?, kid))
    }

    fn rotate_keys(file: &mut KeyFile, access_ttl: Duration, activate_after: Duration) -> String {
        let now = Timestamp::now();
        let switch = now.plus(activate_after);
        for key in &mut file.keys {
            key.retired_at.get_or_insert(switch.as_millis());
        }
        let horizon = now.minus(access_ttl).as_millis();
        file.keys
            .retain(|key| key.retired_at.is_none_or(|retired| retired > horizon));
        let fresh = new_stored_key(now, (!activate_after.is_zero()).then_some(switch));
        let kid = fresh.kid.clone();
        file.keys.push(fresh);
        kid
    }

    fn from_file(file: &KeyFile) -> anyhow::Result<Self> {
        let mut keys = Vec::with_capacity(file.keys.len());
        for stored in &file.keys {
            let seed: [u8; 32] = STANDARD
                .decode(&stored.secret)
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .with_context(|| format!("signing key {} is not a 32-byte seed", stored.kid))?;
            let signing = SigningKey::from_bytes(&seed);
            keys.push(RingKey {
                kid: thumbprint(&signing.verifying_key()),
                signing,
                activates_at: stored.activates_at.map(Timestamp::from_millis),
                retired_at: stored.retired_at.map(Timestamp::from_millis),
            });
        }
        anyhow::ensure!(
            keys.iter().any(|key| key.retired_at.is_none()),
            "the signing key file has no active key"
        );
        Ok(Self { keys })
    }

    /// The newest key active at `now`: the one that signs (a rotated-in key from its
    /// activation, its predecessor until then).
    pub fn signing_key(&self, now: Timestamp) -> &RingKey {
        let active = |key: &&RingKey| {
            key.activates_at.is_none_or(|from| from <= now)
                && key.retired_at.is_none_or(|retired| retired > now)
        };
        // `from_file` guarantees a key that is not retired; fall back to the last key.
        self.keys
            .iter()
            .rev()
            .find(active)
            .unwrap_or_else(|| &self.keys[self.keys.len() - 1])
    }

    /// A key that may verify a token now: active, or retired less than `access_ttl` ago.
    pub fn verifying_key(
        &self,
        kid: &str,
        now: Timestamp,
        access_ttl: Duration,
    ) -> Option<VerifyingKey> {
        self.keys
            .iter()
            .find(|key| key.kid == kid)
            .filter(|key| {
                key.retired_at
                    .is_none_or(|retired| retired.plus(access_ttl) > now)
            })
            .map(|key| key.signing.verifying_key())
    }

    /// The JWKS document (RFC 7517, OKP keys of RFC 8037) of every key that may verify now.
    pub fn jwks(&self, now: Timestamp, access_ttl: Duration) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .filter(|key| {
                key.retired_at
                    .is_none_or(|retired| retired.plus(access_ttl) > now)
            })
            .map(|key| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "alg": "EdDSA",
                    "use": "sig",
                    "kid": key.kid,
                    "x": URL_SAFE_NO_PAD.encode(key.signing.verifying_key().as_bytes()),
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_load_creates_a_private_key_file_and_later_loads_reuse_it() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("signing-keys.json");
        let first = KeyRing::load_or_create(&path).unwrap();
        let again = KeyRing::load_or_create(&path).unwrap();
        let now = Timestamp::now();
        assert_eq!(first.signing_key(now).kid, again.signing_key(now).kid);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "key file must be owner-only, was {mode:o}");
        }
    }

    #[test]
    fn rotation_keeps_the_old_key_verifying_until_its_tokens_expire() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("signing-keys.json");
        let ttl = Duration::from_secs(900);
        let old_kid = KeyRing::load_or_create(&path)
            .unwrap()
            .signing_key(Timestamp::now())
            .kid
            .clone();
        let new_kid = KeyRing::rotate(&path, ttl).unwrap();
        assert_ne!(old_kid, new_kid);
        let ring = KeyRing::load_or_create(&path).unwrap();
        let now = Timestamp::now();
        assert_eq!(ring.signing_key(now).kid, new_kid);
        assert!(ring.verifying_key(&old_kid, now, ttl).is_some());
        assert!(ring
            .verifying_key(&old_kid, now.plus(ttl + Duration::from_secs(1)), ttl)
            .is_none());
        assert_eq!(ring.jwks(now, ttl)["keys"].as_array().unwrap().len(), 2);
        assert_eq!(
            ring.jwks(now.plus(ttl * 2), ttl)["keys"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_delayed_rotation_publishes_the_new_key_at_once_and_signs_with_it_later() {
        let ttl = Duration::from_secs(900);
        let stored = KeyRing::fresh_bytes();
        let old_kid = KeyRing::from_bytes(&stored)
            .unwrap()
            .signing_key(Timestamp::now())
            .kid
            .clone();
        let (rotated, new_kid) =
            KeyRing::rotated_bytes(&stored, ttl, Duration::from_secs(1)).unwrap();
        let ring = KeyRing::from_bytes(&rotated).unwrap();
        let now = Timestamp::now();
        assert_eq!(
            ring.signing_key(now).kid,
            old_kid,
            "the old key signs until the switch"
        );
        assert!(
            ring.verifying_key(&new_kid, now, ttl).is_some(),
            "the new one verifies"
        );
        let later = now.plus(Duration::from_secs(2));
        assert_eq!(ring.signing_key(later).kid, new_kid);
        assert!(ring.verifying_key(&old_kid, later, ttl).is_some());
    }
}
