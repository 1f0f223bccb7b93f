//! A small in-process cache of profiles, so that the hottest read of all (`GET /users/me` on every
//! app start and screen) does not cost a database round trip each time.
//!
//! Writes made through this process update or drop the entry at once (read-your-writes). Writes
//! made by other processes reach it through the profile change feed, which every process tails
//! (every second by default) to evict what changed; the TTL is only a safety net.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use veilgram_core::ports::UserRecord;
use veilgram_core::UserId;

const SHARDS: usize = 16;
const ENTRIES_PER_SHARD: usize = 8192;

pub struct ProfileCache {
    ttl: Duration,
    shards: Vec<Mutex<HashMap<UserId, (UserRecord, Instant)>>>,
    hasher: RandomState,
}

impl ProfileCache {
    /// A zero TTL disables the cache.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, user_id: &UserId) -> &Mutex<HashMap<UserId, (UserRecord, Instant)>> {
        &self.shards[(self.hasher.hash_one(user_id) as usize) % SHARDS]
    }

    pub fn get(&self, user_id: &UserId) -> Option<UserRecord> {
        if self.ttl.is_zero() {
            return None;
        }
        let shard = self.shard(user_id).lock().ok()?;
        let (record, stored_at) = shard.get(user_id)?;
        (stored_at.elapsed() < self.ttl).then(|| record.clone())
    }

    pub fn put(&self, record: UserRecord) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut shard) = self.shard(&record.id).lock() else {
            return;
        };
        if shard.len() >= ENTRIES_PER_SHARD {
            let ttl = self.ttl;
            shard.retain(|_, (_, stored_at)| stored_at.elapsed() < ttl);
            if shard.len() >= ENTRIES_PER_SHARD {
                shard.clear();
            }
        }
        shard.insert(record.id, (record, Instant::now()));
    }

    pub fn forget(&self, user_id: &UserId) {
        if let Ok(mut shard) = self.shard(user_id).lock() {
            shard.remove(user_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veilgram_core::Timestamp;

    fn record(nickname: &str) -> UserRecord {
        UserRecord {
            id: UserId::random(),
            nickname: nickname.into(),
            status_message: String::new(),
            avatar_media_id: None,
            created_at: Timestamp::now(),
            deactivated_at: None,
            followers_count: 0,
            following_count: 0,
            posts_count: 0,
        }
    }

    #[test]
    fn entries_expire_and_can_be_forgotten() {
        let cache = ProfileCache::new(Duration::from_secs(60));
        let alice = record("alice");
        cache.put(alice.clone());
        assert_eq!(cache.get(&alice.id), Some(alice.clone()));
        cache.forget(&alice.id);
        assert_eq!(cache.get(&alice.id), None);

        let expired = ProfileCache::new(Duration::from_nanos(1));
        expired.put(alice.clone());
        assert_eq!(expired.get(&alice.id), None);
        let disabled = ProfileCache::new(Duration::ZERO);
        disabled.put(alice.clone());
        assert_eq!(disabled.get(&alice.id), None);
    }
}
