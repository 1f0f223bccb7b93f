//! The embedded default: the cache port in this process's memory, with Redis's semantics (lazy
//! expiry, counters that are values, sorted sets ordered by score then member). Sharded by key
//! so that concurrent requests rarely wait on one another.

use async_trait::async_trait;
use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use veilgram_core::cache::{check_members, Bytes, Cache, CacheError, CacheKey, Scored};

const SHARDS: usize = 32;

enum Value {
    Bytes(Bytes),
    Counter(i64),
    Sorted(SortedSet),
}

/// A sorted set as Redis keeps one: ordered by (score, member), each member once. A member's
/// bytes are held once, shared by the order and the index (feeds keep millions of members).
#[derive(Default)]
struct SortedSet {
    ordered: BTreeSet<(i64, Arc<str>)>,
    scores: HashMap<Arc<str>, i64>,
}

/// Sorts before every member of its score.
static NO_MEMBER: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(""));

impl SortedSet {
    fn insert(&mut self, score: i64, member: &str) {
        let shared = match self.scores.get_key_value(member) {
            Some((_, old)) if *old == score => return,
            Some((shared, old)) => {
                let shared = Arc::clone(shared);
                self.ordered.remove(&(*old, Arc::clone(&shared)));
                shared
            }
            None => Arc::from(member),
        };
        self.ordered.insert((score, Arc::clone(&shared)));
        self.scores.insert(shared, score);
    }

    fn remove(&mut self, member: &str) {
        if let Some((shared, old)) = self.scores.remove_entry(member) {
            self.ordered.remove(&(old, shared));
        }
    }

    /// Keeps only the `keep` highest.
    fn trim(&mut self, keep: usize) {
        while self.ordered.len() > keep {
            if let Some((_, member)) = self.ordered.pop_first() {
                self.scores.remove(&member);
            }
        }
    }

    fn len(&self) -> usize {
        self.ordered.len()
    }

    /// Members scored below `below` (all if `None`), highest first.
    fn below(&self, below: Option<i64>) -> impl Iterator<Item = &(i64, Arc<str>)> {
        let range = match below {
            Some(below) => self.ordered.range(..(below, Arc::clone(&NO_MEMBER))),
            None => self.ordered.range::<(i64, Arc<str>), _>(..),
        };
        range.rev()
    }
}

struct Entry {
    value: Value,
    expires_at: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

/// Keys are hashed with foldhash (randomly seeded per map: keys carry user input such as
/// hashtags), several times faster than SipHash on keys this short.
type Shard = HashMap<CacheKey, Entry, foldhash::fast::RandomState>;

pub struct MemoryCache {
    shards: Vec<Mutex<Shard>>,
    /// Picks a key's shard (its own seed, so a shard's keys spread over its map).
    sharding: foldhash::fast::RandomState,
}

impl Default for MemoryCache {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            sharding: foldhash::fast::RandomState::default(),
        }
    }
}

/// The entry of `key` unless it has expired at `now` (an expired one is dropped).
fn live_entry<'s>(shard: &'s mut Shard, key: &CacheKey, now: Instant) -> Option<&'s mut Entry> {
    if shard.get(key).is_some_and(|entry| !entry.live(now)) {
        shard.remove(key);
    }
    shard.get_mut(key)
}

/// A value read as a counter: counters, and byte values that spell an integer (as Redis does).
fn as_counter(key: &CacheKey, value: &Value) -> Result<i64, CacheError> {
    match value {
        Value::Counter(value) => Ok(*value),
        Value::Bytes(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| wrong_type(key)),
        Value::Sorted(_) => Err(wrong_type(key)),
    }
}

fn wrong_type(key: &CacheKey) -> CacheError {
    CacheError(format!("{} holds another kind of value", key.as_str()))
}

impl MemoryCache {
    fn shard(&self, key: &CacheKey) -> MutexGuard<'_, Shard> {
        let hash = self.sharding.hash_one(key);
        let shard = &self.shards[(hash % SHARDS as u64) as usize];
        // A panic while holding a shard leaves plain data behind; keep serving it.
        shard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the value of `key` if it is live at `now`: one lookup, as reads leave an
    /// expired entry to the next write of its key.
    fn read<T>(&self, key: &CacheKey, now: Instant, f: impl FnOnce(Option<&Value>) -> T) -> T {
        let shard = self.shard(key);
        f(shard
            .get(key)
            .filter(|entry| entry.live(now))
            .map(|entry| &entry.value))
    }

    fn bytes(&self, key: &CacheKey, now: Instant) -> Result<Option<Bytes>, CacheError> {
        self.read(key, now, |value| match value {
            None => Ok(None),
            Some(Value::Bytes(bytes)) => Ok(Some(bytes.clone())),
            Some(Value::Counter(value)) => Ok(Some(value.to_string().into())),
            Some(Value::Sorted(_)) => Err(wrong_type(key)),
        })
    }

    /// What `each` makes of the highest `limit` members of the sorted set at `key` scored
    /// below `below` (all if `None`), highest first.
    fn sorted_range<T>(
        &self,
        key: &CacheKey,
        below: Option<i64>,
        limit: usize,
        each: impl Fn(i64, &str) -> T,
    ) -> Result<Vec<T>, CacheError> {
        self.read(key, Instant::now(), |value| match value {
            None => Ok(Vec::new()),
            Some(Value::Sorted(set)) => Ok(set
                .below(below)
                .take(limit)
                .map(|(score, member)| each(*score, member))
                .collect()),
            Some(_) => Err(wrong_type(key)),
        })
    }

    fn counter(&self, key: &CacheKey, now: Instant) -> Result<Option<i64>, CacheError> {
        self.read(key, now, |value| {
            value.map(|value| as_counter(key, value)).transpose()
        })
    }
}

#[async_trait]
impl Cache for MemoryCache {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>, CacheError> {
        self.bytes(key, Instant::now())
    }

    async fn get_many(&self, keys: &[CacheKey]) -> Result<Vec<Option<Bytes>>, CacheError> {
        let now = Instant::now();
        keys.iter().map(|key| self.bytes(key, now)).collect()
    }

    async fn set(
        &self,
        key: &CacheKey,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        let entry = Entry {
            value: Value::Bytes(Bytes::copy_from_slice(value)),
            expires_at: ttl.map(|ttl| Instant::now() + ttl),
        };
        self.shard(key).insert(key.clone(), entry);
        Ok(())
    }

    async fn set_many(
        &self,
        values: &[(CacheKey, Vec<u8>)],
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        for (key, value) in values {
            self.set(key, value, ttl).await?;
        }
        Ok(())
    }

    async fn delete(&self, keys: &[CacheKey]) -> Result<(), CacheError> {
        for key in keys {
            self.shard(key).remove(key);
        }
        Ok(())
    }

    async fn exists(&self, key: &CacheKey) -> Result<bool, CacheError> {
        Ok(self.read(key, Instant::now(), |value| value.is_some()))
    }

    async fn increment(
        &self,
        key: &CacheKey,
        delta: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, CacheError> {
        let mut shard = self.shard(key);
        if let Some(entry) = live_entry(&mut shard, key, Instant::now()) {
            let value = as_counter(key, &entry.value)?.saturating_add(delta);
            entry.value = Value::Counter(value);
            return Ok(value);
        }
        let entry = Entry {
            value: Value::Counter(delta),
            expires_at: ttl.map(|ttl| Instant::now() + ttl),
        };
        shard.insert(key.clone(), entry);
        Ok(delta)
    }

    async fn counters(&self, keys: &[CacheKey]) -> Result<Vec<Option<i64>>, CacheError> {
        let now = Instant::now();
        keys.iter().map(|key| self.counter(key, now)).collect()
    }

    async fn adjust_existing(&self, key: &CacheKey, delta: i64) -> Result<Option<i64>, CacheError> {
        let mut shard = self.shard(key);
        let Some(entry) = live_entry(&mut shard, key, Instant::now()) else {
            return Ok(None);
        };
        let value = as_counter(key, &entry.value)?.saturating_add(delta);
        entry.value = Value::Counter(value);
        Ok(Some(value))
    }

    async fn time_to_live(&self, key: &CacheKey) -> Result<Option<Duration>, CacheError> {
        let now = Instant::now();
        let shard = self.shard(key);
        Ok(shard
            .get(key)
            .filter(|entry| entry.live(now))
            .and_then(|entry| entry.expires_at)
            .map(|at| at.saturating_duration_since(now)))
    }

    async fn sorted_add(
        &self,
        key: &CacheKey,
        members: &[Scored],
        keep: usize,
    ) -> Result<(), CacheError> {
        check_members(members)?;
        let mut shard = self.shard(key);
        live_entry(&mut shard, key, Instant::now());
        let entry = shard.entry(key.clone()).or_insert_with(|| Entry {
            value: Value::Sorted(SortedSet::default()),
            expires_at: None,
        });
        let Value::Sorted(set) = &mut entry.value else {
            return Err(wrong_type(key));
        };
        for Scored { score, member } in members {
            set.insert(*score, member);
        }
        set.trim(keep);
        if set.len() == 0 {
            shard.remove(key);
        }
        Ok(())
    }

    async fn sorted_range_desc(
        &self,
        key: &CacheKey,
        below: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Scored>, CacheError> {
        self.sorted_range(key, below, limit, |score, member| {
            Scored::new(score, member)
        })
    }

    async fn sorted_members_desc(
        &self,
        key: &CacheKey,
        below: Option<i64>,
        limit: usize,
    ) -> Result<Vec<String>, CacheError> {
        self.sorted_range(key, below, limit, |_, member| member.to_owned())
    }

    async fn sorted_add_each(
        &self,
        keys: &[CacheKey],
        member: &Scored,
        keep: usize,
        ttl_if_none: Duration,
    ) -> Result<(), CacheError> {
        check_members(std::slice::from_ref(member))?;
        let now = Instant::now();
        for key in keys {
            let mut shard = self.shard(key);
            // One lookup for a live set (the usual case); a new set otherwise.
            match shard.get_mut(key) {
                Some(entry) if entry.live(now) => {
                    let Value::Sorted(set) = &mut entry.value else {
                        return Err(wrong_type(key));
                    };
                    set.insert(member.score, &member.member);
                    set.trim(keep);
                    entry.expires_at.get_or_insert(now + ttl_if_none);
                }
                _ => {
                    let mut set = SortedSet::default();
                    set.insert(member.score, &member.member);
                    set.trim(keep);
                    let entry = Entry {
                        value: Value::Sorted(set),
                        expires_at: Some(now + ttl_if_none),
                    };
                    shard.insert(key.clone(), entry);
                }
            }
        }
        Ok(())
    }

    async fn expire(&self, key: &CacheKey, ttl: Duration) -> Result<(), CacheError> {
        let mut shard = self.shard(key);
        let now = Instant::now();
        if let Some(entry) = live_entry(&mut shard, key, now) {
            entry.expires_at = Some(now + ttl);
        }
        Ok(())
    }

    async fn sorted_remove(&self, key: &CacheKey, members: &[String]) -> Result<(), CacheError> {
        let mut shard = self.shard(key);
        let Some(entry) = live_entry(&mut shard, key, Instant::now()) else {
            return Ok(());
        };
        let Value::Sorted(set) = &mut entry.value else {
            return Err(wrong_type(key));
        };
        for member in members {
            set.remove(member);
        }
        if set.len() == 0 {
            shard.remove(key);
        }
        Ok(())
    }

    async fn sorted_len(&self, key: &CacheKey) -> Result<usize, CacheError> {
        self.read(key, Instant::now(), |value| match value {
            None => Ok(0),
            Some(Value::Sorted(set)) => Ok(set.len()),
            Some(_) => Err(wrong_type(key)),
        })
    }
}
