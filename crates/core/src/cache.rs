//! The cache port: what feeds, counters, revocations and rate limits need from a shared cache,
//! in the vocabulary of Redis (values, counters, sorted sets, expiry) so that Redis and Redis
//! Cluster implement it directly and the in-memory adapter imitates it.
//!
//! Keys are built by [`CacheKey`]: the part in braces is the Redis Cluster hash tag, so every key
//! of one user (or one post) lands on one slot and multi-key operations on them stay legal.

use crate::{PostId, UserId};
use async_trait::async_trait;
/// Values are shared, not copied: an in-process cache answers with its own bytes.
pub use bytes::Bytes;
use std::time::Duration;

/// The cache could not answer (down, timed out, refused). Callers decide whether to fail open
/// (reads fall back to the relational store) or closed (authentication).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cache unavailable: {0}")]
pub struct CacheError(pub String);

/// A cache key: `vg:{<tag>}:<name>`, where `<tag>` keeps related keys on one cluster slot.
///
/// A key may be marked [`near`](Self::near): its reads may then be answered from a copy in
/// this process that the server drops when the key changes (the Redis adapter's near cache).
/// The mark is not part of the key: a key is equal to, and hashes like, its unmarked self.
#[derive(Clone, Debug)]
pub struct CacheKey {
    key: String,
    near: bool,
}

impl CacheKey {
    fn new(key: String) -> Self {
        Self { key, near: false }
    }

    /// `vg:{<kind>:<id>}:<name>`, built without the formatting machinery: a feed page builds
    /// a hundred keys.
    fn tagged(kind: &str, id: &uuid::Uuid, name: &str) -> Self {
        let mut key = String::with_capacity(8 + kind.len() + 36 + name.len());
        key.push_str("vg:{");
        key.push_str(kind);
        key.push(':');
        key.push_str(
            id.hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer()),
        );
        key.push_str("}:");
        key.push_str(name);
        Self::new(key)
    }

    /// A key of one user's data (timeline, rate-limit buckets): tagged by the user.
    pub fn of_user(user_id: UserId, name: &str) -> Self {
        Self::tagged("u", user_id.as_uuid(), name)
    }

    /// A key of one post's data (counters): tagged by the post.
    pub fn of_post(post_id: PostId, name: &str) -> Self {
        Self::tagged("p", post_id.as_uuid(), name)
    }

    /// A key that stands alone (a hashtag feed, a global ranking, a client-address bucket):
    /// tagged by its own name.
    pub fn named(name: &str) -> Self {
        Self::new(format!("vg:{{{name}}}"))
    }

    /// Marks the key as read often and changed seldom, and as one whose change may show on
    /// other processes a moment late (while the server's notice of it travels): its reads
    /// may be answered from a copy in this process. Never for what security decides on
    /// (revocations, rate limits), nor for sets that fan-out writes to by the thousand.
    #[must_use]
    pub fn near(mut self) -> Self {
        self.near = true;
        self
    }

    pub fn is_near(&self) -> bool {
        self.near
    }

    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// The Redis Cluster hash tag: the text between the first `{` and the next `}`.
    pub fn hash_tag(&self) -> &str {
        let open = self.key.find('{').map_or(0, |index| index + 1);
        let close = self.key[open..]
            .find('}')
            .map_or(self.key.len(), |index| open + index);
        &self.key[open..close]
    }
}

impl PartialEq for CacheKey {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for CacheKey {}

impl std::hash::Hash for CacheKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl PartialOrd for CacheKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for CacheKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// One member of a sorted set with its score; sets are ordered by score, then member.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Scored {
    pub score: i64,
    pub member: String,
}

impl Scored {
    pub fn new(score: i64, member: impl Into<String>) -> Self {
        Self {
            score,
            member: member.into(),
        }
    }
}

/// Scores are exact up to 2^53 (Redis keeps them as doubles); larger ones are refused.
pub const MAX_SCORE: i64 = 1 << 53;

/// Refuses scores a double cannot hold exactly, and members holding a NUL (the Redis adapter
/// ends each member it stores with a byte that only a NUL could be confused with: see its
/// `stored` module); every adapter checks with this.
pub fn check_members(members: &[Scored]) -> Result<(), CacheError> {
    for Scored { score, member } in members {
        if score.abs() > MAX_SCORE {
            return Err(CacheError(format!("score {score} is beyond 2^53")));
        }
        if member.contains('\0') {
            return Err(CacheError("a sorted-set member holds a NUL".to_owned()));
        }
    }
    Ok(())
}

#[async_trait]
pub trait Cache: Send + Sync {
    /// Which adapter this is (`memory`, `redis`, `redis-cluster`), for logs and metrics.
    fn name(&self) -> &'static str;

    /// The adapter's own figures in Prometheus text format, for `/metrics` (none by default).
    fn metrics(&self) -> String {
        String::new()
    }

    async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>, CacheError>;

    /// Several values in one round trip per slot, in the order asked.
    async fn get_many(&self, keys: &[CacheKey]) -> Result<Vec<Option<Bytes>>, CacheError>;

    /// Stores a value, expiring after `ttl` if given.
    async fn set(
        &self,
        key: &CacheKey,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), CacheError>;

    /// Stores several values, each on its own (not all at once), expiring after `ttl` if given;
    /// one round trip per window of keys on a server.
    async fn set_many(
        &self,
        values: &[(CacheKey, Vec<u8>)],
        ttl: Option<Duration>,
    ) -> Result<(), CacheError>;

    async fn delete(&self, keys: &[CacheKey]) -> Result<(), CacheError>;

    async fn exists(&self, key: &CacheKey) -> Result<bool, CacheError>;

    /// Adds `delta` to a counter (a missing one counts from 0) and answers the new value. A
    /// counter created by this call expires after `ttl` if given; an existing one keeps its
    /// expiry (a fixed window, for rate limits).
    async fn increment(
        &self,
        key: &CacheKey,
        delta: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, CacheError>;

    /// Counters in one round trip per slot; `None` where missing.
    async fn counters(&self, keys: &[CacheKey]) -> Result<Vec<Option<i64>>, CacheError>;

    /// Adds `delta` to a counter only if it exists, answering the new value (`None`, and
    /// nothing written, when it is missing: the next reader loads the truth). Atomic.
    async fn adjust_existing(&self, key: &CacheKey, delta: i64) -> Result<Option<i64>, CacheError>;

    /// Sets counters outright (loaded from, or reconciled with, the relational store).
    async fn set_counters(
        &self,
        values: &[(CacheKey, i64)],
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        let encoded: Vec<(CacheKey, Vec<u8>)> = values
            .iter()
            .map(|(key, value)| (key.clone(), value.to_string().into_bytes()))
            .collect();
        self.set_many(&encoded, ttl).await
    }

    /// Time left before `key` expires: `None` if it is missing or never expires.
    async fn time_to_live(&self, key: &CacheKey) -> Result<Option<Duration>, CacheError>;

    /// Adds members to a sorted set (a member already there takes the new score), then keeps
    /// only the `keep` highest. Atomic.
    async fn sorted_add(
        &self,
        key: &CacheKey,
        members: &[Scored],
        keep: usize,
    ) -> Result<(), CacheError>;

    /// Up to `limit` members, highest first, with scores strictly below `below` (all if `None`).
    async fn sorted_range_desc(
        &self,
        key: &CacheKey,
        below: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Scored>, CacheError>;

    /// The members `sorted_range_desc` answers, without their scores: for sets whose members
    /// carry what their readers need (a timeline's name each post's score). Sending a score
    /// costs Redis 7.0 a float formatting, about a quarter of a microsecond each, more than
    /// the rest of such a read.
    async fn sorted_members_desc(
        &self,
        key: &CacheKey,
        below: Option<i64>,
        limit: usize,
    ) -> Result<Vec<String>, CacheError> {
        let scored = self.sorted_range_desc(key, below, limit).await?;
        Ok(scored.into_iter().map(|scored| scored.member).collect())
    }

    /// Fan-out: adds `member` to each sorted set in `keys`, keeping the `keep` highest of each.
    /// A set with no expiry (one this creates, say) gets `ttl_if_none`; one with an expiry keeps
    /// it. Each set is updated on its own, not all at once.
    ///
    /// An adapter may trim and set the expiry lazily, on some adds only (Redis does on about one
    /// in eight per set, to send one command per set instead of three): a set then holds a few
    /// more than `keep` for a while, and one this created may go a few adds without an expiry.
    /// Readers read the highest members only, so neither shows.
    async fn sorted_add_each(
        &self,
        keys: &[CacheKey],
        member: &Scored,
        keep: usize,
        ttl_if_none: Duration,
    ) -> Result<(), CacheError>;

    /// Sets `key` to expire after `ttl` (nothing if it is missing).
    async fn expire(&self, key: &CacheKey, ttl: Duration) -> Result<(), CacheError>;

    async fn sorted_remove(&self, key: &CacheKey, members: &[String]) -> Result<(), CacheError>;

    async fn sorted_len(&self, key: &CacheKey) -> Result<usize, CacheError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_owner_inside_the_hash_tag() {
        let (user, post) = (UserId::random(), PostId::generate());
        let home = CacheKey::of_user(user, "home");
        assert_eq!(home.as_str(), format!("vg:{{u:{user}}}:home"));
        assert_eq!(home.hash_tag(), format!("u:{user}"));
        let likes = CacheKey::of_post(post, "likes").near();
        assert_eq!(likes.as_str(), format!("vg:{{p:{post}}}:likes"));
        assert!(likes.is_near());
        assert_eq!(
            likes,
            CacheKey::of_post(post, "likes"),
            "the mark is not the key"
        );
        assert_eq!(CacheKey::named("popular").hash_tag(), "popular");
    }
}
