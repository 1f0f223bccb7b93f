//! The in-process mirror of the access-token revocation list.
//!
//! The relational store holds the list (durable, shared by every process). Each process keeps
//! this mirror so that the check on every request is a hash lookup, not a query: revocations made
//! by this process are applied at once, those made by other processes arrive with the next sync
//! (every second by default).

use crate::service::Principal;
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;
use veilgram_core::ports::{CredentialStore, Revocation, SecretHash};
use veilgram_core::sequence::SequenceCursor;
use veilgram_core::{StoreError, Timestamp, UserId};

const SYNC_BATCH: i64 = 1000;

#[derive(Default)]
struct State {
    tokens: HashMap<SecretHash, Timestamp>,
    subjects: HashMap<UserId, Timestamp>,
    /// Entries are idempotent, so the cursor's re-read window is harmless.
    cursor: SequenceCursor,
}

pub struct RevocationList {
    state: RwLock<State>,
    access_ttl: Duration,
    /// When the last sync with the relational store succeeded.
    synced_at: std::sync::Mutex<Option<std::time::Instant>>,
}

impl RevocationList {
    pub fn new(access_ttl: Duration) -> Self {
        Self {
            state: RwLock::new(State::default()),
            access_ttl,
            synced_at: std::sync::Mutex::new(None),
        }
    }

    /// Whether the mirror holds everything the relational store held less than `age` ago.
    pub fn synced_within(&self, age: Duration) -> bool {
        self.synced_at
            .lock()
            .ok()
            .and_then(|synced_at| *synced_at)
            .is_some_and(|synced_at| synced_at.elapsed() <= age)
    }

    pub fn apply(&self, revocations: &[Revocation]) {
        let Ok(mut state) = self.state.write() else {
            return;
        };
        for revocation in revocations {
            match *revocation {
                Revocation::Token {
                    token_hash,
                    expires_at,
                } => {
                    state.tokens.insert(token_hash, expires_at);
                }
                Revocation::Subject {
                    user_id,
                    revoked_at,
                } => {
                    let entry = state.subjects.entry(user_id).or_insert(revoked_at);
                    *entry = (*entry).max(revoked_at);
                }
            }
        }
    }

    /// Whether the token is revoked, by its own hash or because its subject was revoked after it
    /// was issued. A poisoned lock fails closed.
    pub fn is_revoked(&self, token: &Principal) -> bool {
        let Ok(state) = self.state.read() else {
            return true;
        };
        if state.tokens.contains_key(&token.token_hash) {
            return true;
        }
        state
            .subjects
            .get(&token.user_id)
            .is_some_and(|revoked_at| {
                // Tokens carry no `iat`; `exp - ttl` is when it was issued (rounded down).
                token.expires_at.minus(self.access_ttl) <= *revoked_at
            })
    }

    /// Reads the revocations other processes wrote since the last sync. Returns how many entries
    /// were read.
    pub async fn sync(&self, store: &dyn CredentialStore) -> Result<usize, StoreError> {
        let started = std::time::Instant::now();
        let mut read = 0;
        loop {
            let after = match self.state.read() {
                Ok(state) => state.cursor.read_after(),
                Err(_) => return Err(StoreError::Unavailable("revocation list poisoned".into())),
            };
            let entries = store.revocations_since(after, SYNC_BATCH).await?;
            let fetched = entries.len();
            let revocations: Vec<Revocation> =
                entries.iter().map(|entry| entry.revocation).collect();
            self.apply(&revocations);
            let advanced = match self.state.write() {
                Ok(mut state) => state
                    .cursor
                    .advance(entries.iter().map(|entry| entry.sequence)),
                Err(_) => false,
            };
            read += fetched;
            if fetched < SYNC_BATCH as usize || !advanced {
                if let Ok(mut synced_at) = self.synced_at.lock() {
                    *synced_at = Some(started);
                }
                return Ok(read);
            }
        }
    }

    /// Forgets entries that can no longer match a valid token.
    pub fn prune(&self, now: Timestamp) {
        let Ok(mut state) = self.state.write() else {
            return;
        };
        state.tokens.retain(|_, expires_at| *expires_at > now);
        let horizon = now.minus(self.access_ttl);
        state.subjects.retain(|_, revoked_at| *revoked_at > horizon);
    }

    pub fn len(&self) -> usize {
        self.state
            .read()
            .map_or(0, |state| state.tokens.len() + state.subjects.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(user_id: UserId, expires_at: Timestamp, byte: u8) -> Principal {
        Principal {
            user_id,
            expires_at,
            token_hash: [byte; 32],
        }
    }

    #[test]
    fn a_token_revocation_matches_only_that_token() {
        let list = RevocationList::new(Duration::from_secs(900));
        let user = UserId::random();
        let expires_at = Timestamp::now().plus(Duration::from_secs(900));
        list.apply(&[Revocation::Token {
            token_hash: [1; 32],
            expires_at,
        }]);
        assert!(list.is_revoked(&token(user, expires_at, 1)));
        assert!(!list.is_revoked(&token(user, expires_at, 2)));
    }

    #[test]
    fn a_subject_revocation_matches_tokens_issued_up_to_it() {
        let ttl = Duration::from_secs(900);
        let list = RevocationList::new(ttl);
        let user = UserId::random();
        let revoked_at = Timestamp::from_unix_seconds(1_000_000);
        list.apply(&[Revocation::Subject {
            user_id: user,
            revoked_at,
        }]);
        let issued_before = revoked_at.minus(Duration::from_secs(10)).plus(ttl);
        let issued_after = revoked_at.plus(Duration::from_secs(10)).plus(ttl);
        assert!(list.is_revoked(&token(user, issued_before, 1)));
        assert!(!list.is_revoked(&token(user, issued_after, 1)));
        assert!(!list.is_revoked(&token(UserId::random(), issued_before, 1)));
    }

    #[test]
    fn pruning_forgets_only_what_cannot_match_any_more() {
        let ttl = Duration::from_secs(900);
        let list = RevocationList::new(ttl);
        let now = Timestamp::from_unix_seconds(2_000_000);
        list.apply(&[
            Revocation::Token {
                token_hash: [1; 32],
                expires_at: now.minus(ttl),
            },
            Revocation::Token {
                token_hash: [2; 32],
                expires_at: now.plus(ttl),
            },
            Revocation::Subject {
                user_id: UserId::random(),
                revoked_at: now.minus(ttl * 2),
            },
            Revocation::Subject {
                user_id: UserId::random(),
                revoked_at: now,
            },
        ]);
        list.prune(now);
        assert_eq!(list.len(), 2);
    }
}
