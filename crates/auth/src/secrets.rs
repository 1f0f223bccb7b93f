//! Recovery keys and refresh tokens: high-entropy secrets shown once, stored only as digests.
//!
//! Because each secret carries at least 128 bits of entropy, a fast digest (SHA-256 with a domain
//! prefix) is enough: there is nothing to brute-force, so a slow password hash would only slow
//! sign-up and login down.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use veilgram_core::ports::SecretHash;

/// 160 bits: comfortably above the 128-bit floor.
const RECOVERY_KEY_BYTES: usize = 20;
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A recovery key: the only way back into an account on another device.
pub struct RecoveryKey([u8; RECOVERY_KEY_BYTES]);

impl RecoveryKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; RECOVERY_KEY_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Parses the displayed form. Dashes, spaces and case are ignored, and the Crockford look-alikes
    /// (O for 0, I and L for 1) are accepted, so a key copied by hand still works.
    pub fn parse(text: &str) -> Option<Self> {
        let mut bits: u64 = 0;
        let mut bit_count = 0u32;
        let mut bytes = Vec::with_capacity(RECOVERY_KEY_BYTES);
        let mut symbols = 0usize;
        for character in text.chars() {
            if character == '-' || character == ' ' {
                continue;
            }
            let upper = character.to_ascii_uppercase();
            let upper = match upper {
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            };
            let value = CROCKFORD
                .iter()
                .position(|&symbol| char::from(symbol) == upper)?;
            symbols += 1;
            if symbols > RECOVERY_KEY_BYTES * 8 / 5 {
                return None;
            }
            bits = (bits << 5) | value as u64;
            bit_count += 5;
            if bit_count >= 8 {
                bit_count -= 8;
                bytes.push((bits >> bit_count) as u8);
                bits &= (1 << bit_count) - 1;
            }
        }
        let array: [u8; RECOVERY_KEY_BYTES] = bytes.try_into().ok()?;
        Some(Self(array))
    }

    /// Groups of four Crockford base-32 symbols: `ABCD-EFGH-…` (32 symbols).
    pub fn display(&self) -> String {
        let mut symbols = String::with_capacity(40);
        let mut bits: u64 = 0;
        let mut bit_count = 0u32;
        for &byte in &self.0 {
            bits = (bits << 8) | u64::from(byte);
            bit_count += 8;
            while bit_count >= 5 {
                bit_count -= 5;
                let index = ((bits >> bit_count) & 31) as usize;
                if !symbols.is_empty() && symbols.len() % 5 == 4 {
                    symbols.push('-');
                }
                symbols.push(char::from(CROCKFORD[index]));
            }
        }
        symbols
    }

    pub fn digest(&self) -> SecretHash {
        digest_with_domain(b"veilgram/recovery-key/v1", &self.0)
    }
}

/// A fresh opaque refresh token (256 bits).
pub fn generate_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("vgr_{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn refresh_token_digest(token: &str) -> SecretHash {
    digest_with_domain(b"veilgram/refresh-token/v1", token.as_bytes())
}

/// The digest under which an access token is revoked and remembered beside its session.
pub fn access_token_digest(token: &str) -> SecretHash {
    digest_with_domain(b"veilgram/access-token/v1", token.as_bytes())
}

fn digest_with_domain(domain: &[u8], secret: &[u8]) -> SecretHash {
    let mut hasher = Sha256::new();
    hasher.update(domain);
    hasher.update([0u8]);
    hasher.update(secret);
    hasher.finalize().into()
}

/// Compares digests in constant time.
pub fn digests_match(left: &SecretHash, right: &SecretHash) -> bool {
    left.ct_eq(right).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_key_round_trips_through_its_display_form() {
        for _ in 0..100 {
            let key = RecoveryKey::generate();
            let shown = key.display();
            assert_eq!(shown.len(), 32 + 7, "{shown}");
            let parsed = RecoveryKey::parse(&shown).unwrap();
            assert_eq!(parsed.0, key.0);
            let sloppy = shown.to_lowercase().replace('-', " ").replace('0', "o");
            assert_eq!(RecoveryKey::parse(&sloppy).unwrap().0, key.0);
        }
    }

    #[test]
    fn malformed_recovery_keys_are_refused() {
        let shown = RecoveryKey::generate().display();
        assert!(RecoveryKey::parse(&shown[..shown.len() - 1]).is_none());
        assert!(RecoveryKey::parse(&format!("{shown}A")).is_none());
        assert!(RecoveryKey::parse("UUUU").is_none());
        assert!(RecoveryKey::parse("").is_none());
    }

    #[test]
    fn digests_are_domain_separated() {
        assert_ne!(refresh_token_digest("x"), access_token_digest("x"));
        assert!(digests_match(
            &refresh_token_digest("x"),
            &refresh_token_digest("x")
        ));
        assert!(!digests_match(
            &refresh_token_digest("x"),
            &refresh_token_digest("y")
        ));
    }

    #[test]
    fn refresh_tokens_are_unique_and_long() {
        let first = generate_refresh_token();
        assert_ne!(first, generate_refresh_token());
        assert!(first.len() >= 4 + 43);
    }
}
