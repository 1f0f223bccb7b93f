//! [`Memo`]: values this process remembers by key, each used only while it still checks out
//! against what the caller holds now (so none needs invalidating), within a budget of bytes.
//! Shared by the feeds' decoded cache values and the gateway's rendered posts.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::{Mutex, MutexGuard};

/// Each memo is split in this many parts, each with its own lock and its share of the budget.
pub const SHARDS: usize = 16;

struct Shard<K, V> {
    /// Each value with the bytes it was counted as.
    entries: HashMap<K, (V, usize), foldhash::fast::RandomState>,
    bytes: usize,
}

pub struct Memo<K, V> {
    shards: Box<[Mutex<Shard<K, V>>]>,
    sharding: foldhash::fast::RandomState,
    /// Bytes remembered per shard before it starts over.
    budget_per_shard: usize,
}

impl<K: Hash + Eq, V> Memo<K, V> {
    /// Remembers at most about `budget` bytes (as the callers count them).
    pub fn new(budget: usize) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        entries: HashMap::default(),
                        bytes: 0,
                    })
                })
                .collect(),
            sharding: foldhash::fast::RandomState::default(),
            budget_per_shard: budget / SHARDS,
        }
    }

    fn shard(&self, key: &K) -> MutexGuard<'_, Shard<K, V>> {
        let index = (self.sharding.hash_one(key) % SHARDS as u64) as usize;
        // A panic while holding a shard leaves plain data behind; keep using it.
        self.shards[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What `accept` makes of the value remembered for `key`, if there is one it accepts
    /// (answers `Some` for). It runs under the shard's lock: keep it short.
    pub fn find<T>(&self, key: &K, accept: impl FnOnce(&V) -> Option<T>) -> Option<T> {
        let shard = self.shard(key);
        accept(&shard.entries.get(key)?.0)
    }

    /// Remembers `value` for `key` in place of any earlier one, counted as `cost` bytes. A
    /// shard that would go over its part of the budget forgets everything first.
    pub fn remember(&self, key: K, value: V, cost: usize) {
        let mut shard = self.shard(&key);
        if shard.bytes + cost > self.budget_per_shard {
            shard.entries.clear();
            shard.bytes = 0;
        }
        shard.bytes += cost;
        if let Some((_, replaced)) = shard.entries.insert(key, (value, cost)) {
            shard.bytes -= replaced;
        }
    }

    /// The most bytes any one shard holds now.
    pub fn largest_shard_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                shard
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .bytes
            })
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_found_while_accepted_replaced_and_kept_within_budget() {
        let memo: Memo<u32, &str> = Memo::new(SHARDS * 100);
        memo.remember(1, "one", 10);
        assert_eq!(memo.find(&1, |value| Some(*value)), Some("one"));
        assert_eq!(memo.find(&1, |value| (*value == "uno").then_some(())), None);
        assert_eq!(memo.find(&2, |value| Some(*value)), None);
        memo.remember(1, "uno", 10);
        assert_eq!(memo.find(&1, |value| Some(*value)), Some("uno"));
        for key in 0..1000 {
            memo.remember(key, "twenty bytes long!", 20);
        }
        assert!(memo.largest_shard_bytes() <= 100);
    }
}
