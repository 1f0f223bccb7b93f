//! The auth service: anonymous sign-up, recovery-key login, Ed25519 access tokens with key
//! rotation, rotating refresh tokens with reuse detection, and the access-token revocation list.
//!
//! # Layout
//! - [`secrets`]: recovery keys and refresh tokens: generation, parsing, hashing.
//! - [`keys`]: the signing key ring kept in the data dir, its rotation and the JWKS document.
//! - [`tokens`]: minting and strictly verifying access JWTs, with a cache of verified tokens.
//! - [`revocations`]: the in-process mirror of the revocation list, synced from the store.
//! - [`proof`]: proof-of-work challenges for sign-up and for logins after repeated failures.
//! - [`service`]: [`AuthService`], the operations the gateway calls.
//!
//! # Invariants
//! - Secrets (recovery keys, refresh tokens, access tokens) are stored only as SHA-256 digests and
//!   never logged.
//! - An access token is accepted only if its signature, `alg`, `kid`, `iss`, `aud`, `typ` and `exp`
//!   all check out and it is not revoked; a cached verification never skips the expiry or
//!   revocation checks.

pub mod keys;
pub mod proof;
pub mod revocations;
pub mod secrets;
pub mod service;
pub mod tokens;

pub use service::{AuthError, AuthService, AuthSettings, IssuedTokens, Principal, Unconfirmed};
