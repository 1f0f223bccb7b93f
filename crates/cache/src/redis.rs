//! The cache port on Redis: one implementation over any redis-rs async connection, used with a
//! reconnecting single-node connection and with a Redis Cluster connection. Operations that must
//! be atomic (a counter with its expiry, a capped sorted set) are Lua scripts on one key, which
//! Redis Cluster routes by that key's slot.

use crate::near::{Lookup, NearCache, NearStatistics};
use async_trait::async_trait;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Script};
use std::borrow::Cow;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};
use veilgram_core::cache::{check_members, Bytes, Cache, CacheError, CacheKey, Scored};

/// How long one command may take before the cache counts as unavailable.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// INCRBY, and PEXPIRE only if this call created the counter.
static INCREMENT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local existed = redis.call('EXISTS', KEYS[1]) \
         local value = redis.call('INCRBY', KEYS[1], ARGV[1]) \
         if existed == 0 and tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end \
         return value",
    )
});

/// INCRBY only if the key exists; nil when it does not.
static ADJUST_EXISTING: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('EXISTS', KEYS[1]) == 0 then return false end \
         return redis.call('INCRBY', KEYS[1], ARGV[1])",
    )
});

/// ZADD the members (stored form), then keep only the first `ARGV[1]` (the highest).
static SORTED_ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "for i = 2, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1]) end \
         redis.call('ZREMRANGEBYRANK', KEYS[1], ARGV[1], -1) \
         return 1",
    )
});

/// Fan-out on one server: `ZADD` to each of `KEYS`; from `KEYS[ARGV[3]]` on, also give a set
/// without an expiry one (`PEXPIRE … NX`) and keep only its first `ARGV[5]`. One command per
/// window of sets: Redis runs the loop, instead of the client encoding and parsing a command
/// per set (on a cluster, where one script cannot touch keys of several slots, a pipeline per
/// set does the same).
static ADD_EACH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local first = tonumber(ARGV[3]) \
         for i = 1, #KEYS do \
           redis.call('ZADD', KEYS[i], ARGV[1], ARGV[2]) \
           if i >= first then \
             redis.call('PEXPIRE', KEYS[i], ARGV[4], 'NX') \
             redis.call('ZREMRANGEBYRANK', KEYS[i], ARGV[5], -1) \
           end \
         end \
         return #KEYS",
    )
});

/// How sorted sets are stored: highest first. Redis keeps a set in ascending order of score,
/// then member bytes; a member is stored with its score negated and its bytes order-inverted,
/// so Redis's ascending order is the port's descending one and reads and trims work from the
/// head.
///
/// Why: a small set (up to 128 members, most timelines) is a listpack, which `ZADD` walks from
/// its head to find the place of a new member. A new post, the highest score, now lands at the
/// head at once instead of after a walk over the whole set: Redis's own time per fan-out add
/// about halves (measured on 10,000 sets of 90 members: 30–45 ms against 18–21 ms a fan-out).
mod stored {
    /// Marks the end of a stored member: above every inverted byte but that of a NUL, which
    /// members may not hold (`check_members`), so a member sorts after every longer one it
    /// begins (as inverted order wants).
    const END: u8 = 0xff;

    pub(super) fn score(score: i64) -> i64 {
        -score
    }

    pub(super) fn member(member: &str) -> Vec<u8> {
        member.bytes().map(|byte| !byte).chain([END]).collect()
    }

    /// The member stored as `bytes`; `None` for what this module did not write.
    pub(super) fn read(bytes: &[u8]) -> Option<String> {
        let inverted = bytes.strip_suffix(&[END])?;
        String::from_utf8(inverted.iter().map(|byte| !byte).collect()).ok()
    }
}

/// Fan-out writes this many sets per round trip (the round trips go out together).
const FAN_OUT_WINDOW: usize = 1024;
/// Fan-out trims a set and gives one it created its expiry on about one add in this many.
const MAINTAIN_EVERY: u64 = 8;

/// Whether adding `member` to the set at `key` also trims it and sets its expiry: about one add
/// in `MAINTAIN_EVERY`, picked by a hash of both, so the cost falls evenly on every set and every
/// post, and the same add always decides the same way (FNV-1a).
fn maintains(key: &str, member: &str) -> bool {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes().chain([0]).chain(member.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash.is_multiple_of(MAINTAIN_EVERY)
}

fn unavailable(error: &redis::RedisError) -> CacheError {
    // The error names the failure (refused, timed out, CROSSSLOT, ...), never a value.
    CacheError(error.to_string())
}

pub struct RedisCache<C> {
    connection: C,
    name: &'static str,
    /// Put before every key (outside the hash tag): lets tests share one server.
    prefix: String,
    /// Copies of near keys in this process (one server only; see `near`).
    near: Option<Arc<NearCache>>,
}

impl RedisCache<ConnectionManager> {
    /// One Redis server, from a `redis://host:port[/db]` URL, with a near cache of at most
    /// `near_bytes` (0: none). Reconnects by itself.
    pub async fn connect(url: &str, prefix: &str, near_bytes: usize) -> Result<Self, CacheError> {
        let client = redis::Client::open(url).map_err(|error| unavailable(&error))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|error| unavailable(&error))?;
        let near = (near_bytes > 0)
            .then(|| {
                // Named for operators (and tests) in `CLIENT LIST`.
                let name = match prefix.trim_end_matches(':') {
                    "" => "veilgram-near".to_owned(),
                    prefix => format!("veilgram-near-{prefix}"),
                };
                NearCache::new(url, name, near_bytes, CONNECT_TIMEOUT, RESPONSE_TIMEOUT)
            })
            .transpose()
            .map_err(|error| unavailable(&error))?;
        Ok(Self {
            connection,
            name: "redis",
            prefix: prefix.to_owned(),
            near,
        })
    }

    /// How the near cache has done; `None` without one.
    pub fn near_statistics(&self) -> Option<NearStatistics> {
        self.near.as_ref().map(|near| near.statistics())
    }

    /// Ticks each time Redis tells the near cache that a key changed or that its connection
    /// was lost (for tests that must wait for that); `None` without a near cache.
    pub fn near_told(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.near.as_ref().map(|near| near.told())
    }
}

impl RedisCache<ClusterConnection> {
    /// A Redis Cluster, from any of its nodes (`redis://host:port` each).
    pub async fn connect_cluster(nodes: &[String], prefix: &str) -> Result<Self, CacheError> {
        let client = ClusterClientBuilder::new(nodes.to_vec())
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .retries(2)
            .build()
            .map_err(|error| unavailable(&error))?;
        let connection = client
            .get_async_connection()
            .await
            .map_err(|error| unavailable(&error))?;
        Ok(Self {
            connection,
            name: "redis-cluster",
            prefix: prefix.to_owned(),
            near: None,
        })
    }
}

impl<C: ConnectionLike + Clone + Send + Sync> RedisCache<C> {
    fn key(&self, key: &CacheKey) -> String {
        format!("{}{}", self.prefix, key.as_str())
    }

    /// `key`'s name in Redis, borrowed when there is no prefix (as in production): the hot
    /// paths (`get_many`, a write's dropping of copies) then make no string per key.
    fn name<'k>(&self, key: &'k CacheKey) -> Cow<'k, str> {
        if self.prefix.is_empty() {
            Cow::Borrowed(key.as_str())
        } else {
            Cow::Owned(self.key(key))
        }
    }

    async fn run<T: FromRedisValue>(&self, command: &Cmd) -> Result<T, CacheError> {
        let mut connection = self.connection.clone();
        command
            .query_async(&mut connection)
            .await
            .map_err(|error| unavailable(&error))
    }

    /// MGET of `keys` (Redis names); Redis Cluster splits it by slot and answers in order.
    async fn mget<K: redis::ToRedisArgs + Sync>(
        &self,
        keys: &[K],
    ) -> Result<Vec<Option<Bytes>>, CacheError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<Option<Vec<u8>>> = self.run(redis::cmd("MGET").arg(keys)).await?;
        Ok(into_shared(values))
    }

    /// `keys` were written (or a write of them failed halfway): this process's copies of them
    /// go at once, not when Redis's invalidation arrives (whether or not the writer marked
    /// them near: the mark is the reader's).
    fn wrote<'k>(&self, keys: impl IntoIterator<Item = &'k CacheKey>) {
        if let Some(near) = &self.near {
            for key in keys {
                near.copies.forget(&self.name(key));
            }
        }
    }

    /// `get_many` with near keys: copies where there are, the rest read over the tracking
    /// connection (near keys, copies kept) and the shared one (the others) at once.
    async fn get_many_near(
        &self,
        near: &Arc<NearCache>,
        keys: &[CacheKey],
    ) -> Result<Vec<Option<Bytes>>, CacheError> {
        let names: Vec<Cow<'_, str>> = keys.iter().map(|key| self.name(key)).collect();
        let now = Instant::now();
        let mut values = vec![None; keys.len()];
        let (mut tracked, mut tickets, mut plain) = (Vec::new(), Vec::new(), Vec::new());
        for (index, key) in keys.iter().enumerate() {
            if !key.is_near() {
                plain.push(index);
                continue;
            }
            match near.copies.lookup(&names[index], now) {
                Lookup::Hit(value) => values[index] = value,
                Lookup::Miss(ticket) => {
                    tracked.push(index);
                    tickets.push(ticket);
                }
            }
        }
        let tracked_names: Vec<&str> = tracked.iter().map(|&index| &*names[index]).collect();
        let plain_names: Vec<&str> = plain.iter().map(|&index| &*names[index]).collect();
        let read_tracked = async {
            if tracked.is_empty() {
                return Some(Vec::new());
            }
            near.read(&tracked_names, &tickets).await
        };
        let (from_tracking, from_plain) = tokio::join!(read_tracked, self.mget(&plain_names));
        let from_tracking = match from_tracking {
            Some(values) => values,
            // No tracking connection: the near keys are read like the others, without copies.
            None => self.mget(&tracked_names).await?,
        };
        let read = from_plain?.into_iter().chain(from_tracking);
        let read_from = plain.into_iter().chain(tracked);
        for (index, value) in read_from.zip(read) {
            values[index] = value;
        }
        Ok(values)
    }

    /// `ZRANGE` of the highest `limit` members of `key` (stored lowest first, see `stored`)
    /// scored below `below`; `None` when `limit` is 0. From the top, by rank: Redis then
    /// neither decodes nor compares scores (the first 22 of 100 members, over 10,000 such sets
    /// in `redis-benchmark`: 1.55 µs of Redis's time a read instead of 2.2).
    fn sorted_range(&self, key: &CacheKey, below: Option<i64>, limit: usize) -> Option<Cmd> {
        if limit == 0 {
            return None;
        }
        let mut command = redis::cmd("ZRANGE");
        command.arg(self.key(key));
        match below {
            None => command.arg(0).arg(limit - 1),
            Some(below) => command
                .arg(format!("({}", stored::score(below)))
                .arg("+inf")
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(limit),
        };
        Some(command)
    }

    async fn script<T: FromRedisValue>(
        &self,
        script: &Script,
        key: &CacheKey,
        arguments: &[impl redis::ToRedisArgs],
    ) -> Result<T, CacheError> {
        let mut connection = self.connection.clone();
        let mut invocation = script.key(self.key(key));
        for argument in arguments {
            invocation.arg(argument);
        }
        invocation
            .invoke_async(&mut connection)
            .await
            .map_err(|error| unavailable(&error))
    }
}

impl<C: ConnectionLike + Clone + Send + Sync> RedisCache<C> {
    /// Writes one pipeline of commands per item (`add` appends them): on one server a pipeline
    /// per window of items, every window sent at once; on a cluster one pipeline per item (its
    /// key's slot), a window of them sent at once.
    async fn pipelined<T: Sync>(
        &self,
        items: &[T],
        add: impl Fn(&mut redis::Pipeline, &T) + Sync,
    ) -> Result<(), CacheError> {
        if self.name == "redis" {
            // One pipeline per window, all sent at once on the multiplexed connection, so
            // Redis works through one window while the next is encoded.
            let windows = items.chunks(FAN_OUT_WINDOW).map(|window| {
                let mut pipeline = redis::pipe();
                for item in window {
                    add(&mut pipeline, item);
                }
                let mut connection = self.connection.clone();
                async move { pipeline.query_async::<()>(&mut connection).await }
            });
            for written in futures_util::future::join_all(windows).await {
                written.map_err(|error| unavailable(&error))?;
            }
            return Ok(());
        }
        for window in items.chunks(FAN_OUT_WINDOW) {
            let writes = window.iter().map(|item| {
                let mut pipeline = redis::pipe();
                add(&mut pipeline, item);
                let mut connection = self.connection.clone();
                async move { pipeline.query_async::<()>(&mut connection).await }
            });
            for written in futures_util::future::join_all(writes).await {
                written.map_err(|error| unavailable(&error))?;
            }
        }
        Ok(())
    }
}

/// Values as read, shared from here on (no copy is made).
pub(crate) fn into_shared(values: Vec<Option<Vec<u8>>>) -> Vec<Option<Bytes>> {
    values
        .into_iter()
        .map(|value| value.map(Bytes::from))
        .collect()
}

fn parse_counter(value: Option<Bytes>) -> Result<Option<i64>, CacheError> {
    value
        .map(|bytes| {
            std::str::from_utf8(&bytes)
                .ok()
                .and_then(|text| text.parse().ok())
                .ok_or_else(|| CacheError("a counter holds a non-integer".into()))
        })
        .transpose()
}

#[async_trait]
impl<C: ConnectionLike + Clone + Send + Sync + 'static> Cache for RedisCache<C> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn metrics(&self) -> String {
        let Some(near) = &self.near else {
            return String::new();
        };
        let figures = near.statistics();
        veilgram_core::render_metrics(&[
            (
                "veilgram_cache_near_hits_total",
                "counter",
                "Reads of near keys answered from this process's copies.",
                figures.hits,
            ),
            (
                "veilgram_cache_near_misses_total",
                "counter",
                "Reads of near keys that went to Redis.",
                figures.misses,
            ),
            (
                "veilgram_cache_near_invalidations_total",
                "counter",
                "Keys Redis said changed while this process held or read them.",
                figures.invalidations,
            ),
            (
                "veilgram_cache_near_resets_total",
                "counter",
                "Times every copy was dropped (tracking connection lost, Redis flushed).",
                figures.resets,
            ),
        ])
    }

    async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>, CacheError> {
        if key.is_near() && self.near.is_some() {
            let mut values = self.get_many(std::slice::from_ref(key)).await?;
            return Ok(values.pop().flatten());
        }
        let value: Option<Vec<u8>> = self.run(redis::cmd("GET").arg(self.key(key))).await?;
        Ok(value.map(Bytes::from))
    }

    /// MGET: Redis Cluster splits it by slot and answers in the order asked. Near keys are
    /// answered from this process's copies where it has them.
    async fn get_many(&self, keys: &[CacheKey]) -> Result<Vec<Option<Bytes>>, CacheError> {
        if let Some(near) = &self.near {
            if keys.iter().any(CacheKey::is_near) {
                return self.get_many_near(near, keys).await;
            }
        }
        let names: Vec<Cow<'_, str>> = keys.iter().map(|key| self.name(key)).collect();
        let names: Vec<&str> = names.iter().map(|name| &**name).collect();
        self.mget(&names).await
    }

    async fn set(
        &self,
        key: &CacheKey,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        let mut command = redis::cmd("SET");
        command.arg(self.key(key)).arg(value);
        if let Some(ttl) = ttl {
            command.arg("PX").arg(ttl.as_millis().max(1) as u64);
        }
        let written = self.run(&command).await;
        self.wrote([key]);
        written
    }

    async fn set_many(
        &self,
        values: &[(CacheKey, Vec<u8>)],
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        let ttl = ttl.map(|ttl| ttl.as_millis().max(1) as u64);
        let written = self
            .pipelined(values, |pipeline, (key, value)| {
                pipeline.cmd("SET").arg(self.key(key)).arg(value);
                if let Some(ttl) = ttl {
                    pipeline.arg("PX").arg(ttl);
                }
                pipeline.ignore();
            })
            .await;
        self.wrote(values.iter().map(|(key, _)| key));
        written
    }

    async fn delete(&self, keys: &[CacheKey]) -> Result<(), CacheError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut command = redis::cmd("DEL");
        for key in keys {
            command.arg(self.key(key));
        }
        let written = self.run::<i64>(&command).await.map(|_| ());
        self.wrote(keys);
        written
    }

    async fn exists(&self, key: &CacheKey) -> Result<bool, CacheError> {
        self.run(redis::cmd("EXISTS").arg(self.key(key))).await
    }

    async fn increment(
        &self,
        key: &CacheKey,
        delta: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, CacheError> {
        let ttl = ttl.map_or(0, |ttl| ttl.as_millis().max(1) as u64);
        let written = self
            .script(&INCREMENT, key, &[delta.to_string(), ttl.to_string()])
            .await;
        self.wrote([key]);
        written
    }

    async fn counters(&self, keys: &[CacheKey]) -> Result<Vec<Option<i64>>, CacheError> {
        self.get_many(keys)
            .await?
            .into_iter()
            .map(parse_counter)
            .collect()
    }

    async fn adjust_existing(&self, key: &CacheKey, delta: i64) -> Result<Option<i64>, CacheError> {
        let written = self
            .script(&ADJUST_EXISTING, key, &[delta.to_string()])
            .await;
        self.wrote([key]);
        written
    }

    async fn time_to_live(&self, key: &CacheKey) -> Result<Option<Duration>, CacheError> {
        let millis: i64 = self.run(redis::cmd("PTTL").arg(self.key(key))).await?;
        Ok((millis >= 0).then(|| Duration::from_millis(millis as u64)))
    }

    async fn sorted_add(
        &self,
        key: &CacheKey,
        members: &[Scored],
        keep: usize,
    ) -> Result<(), CacheError> {
        check_members(members)?;
        let mut arguments = Vec::with_capacity(1 + members.len() * 2);
        arguments.push(keep.to_string().into_bytes());
        for Scored { score, member } in members {
            arguments.push(stored::score(*score).to_string().into_bytes());
            arguments.push(stored::member(member));
        }
        self.script::<i64>(&SORTED_ADD, key, &arguments)
            .await
            .map(|_| ())
    }

    async fn sorted_range_desc(
        &self,
        key: &CacheKey,
        below: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Scored>, CacheError> {
        let Some(mut range) = self.sorted_range(key, below, limit) else {
            return Ok(Vec::new());
        };
        let pairs: Vec<(Vec<u8>, f64)> = self.run(range.arg("WITHSCORES")).await?;
        Ok(pairs
            .into_iter()
            .filter_map(|(member, score)| {
                Some(Scored::new(
                    stored::score(score as i64),
                    stored::read(&member)?,
                ))
            })
            .collect())
    }

    async fn sorted_members_desc(
        &self,
        key: &CacheKey,
        below: Option<i64>,
        limit: usize,
    ) -> Result<Vec<String>, CacheError> {
        let Some(range) = self.sorted_range(key, below, limit) else {
            return Ok(Vec::new());
        };
        let members: Vec<Vec<u8>> = self.run(&range).await?;
        Ok(members
            .iter()
            .filter_map(|member| stored::read(member))
            .collect())
    }

    async fn sorted_add_each(
        &self,
        keys: &[CacheKey],
        member: &Scored,
        keep: usize,
        ttl_if_none: Duration,
    ) -> Result<(), CacheError> {
        check_members(std::slice::from_ref(member))?;
        let ttl = ttl_if_none.as_millis().max(1) as u64;
        // The member just added is always kept.
        let keep = keep.max(1);
        let (score, stored_member) = (stored::score(member.score), stored::member(&member.member));
        if self.name == "redis" {
            // One script per window, the windows sent at once; each lists the sets it only
            // adds to first, then those it also maintains.
            let windows = keys.chunks(FAN_OUT_WINDOW).map(|window| {
                let keys: Vec<String> = window.iter().map(|key| self.key(key)).collect();
                let (maintained, plain): (Vec<String>, Vec<String>) = keys
                    .into_iter()
                    .partition(|key| maintains(key, &member.member));
                let mut invocation = ADD_EACH.prepare_invoke();
                for key in plain.iter().chain(&maintained) {
                    invocation.key(key);
                }
                invocation
                    .arg(score)
                    .arg(&stored_member)
                    .arg(plain.len() + 1)
                    .arg(ttl)
                    .arg(keep);
                let mut connection = self.connection.clone();
                async move { invocation.invoke_async::<i64>(&mut connection).await }
            });
            for written in futures_util::future::join_all(windows).await {
                written.map_err(|error| unavailable(&error))?;
            }
            return Ok(());
        }
        // ZADD; on about one add in eight per set also PEXPIRE … NX (only if it has no expiry)
        // and ZREMRANGEBYRANK: one command per set instead of three (see `Cache`).
        let add = |pipeline: &mut redis::Pipeline, key: String| {
            pipeline
                .cmd("ZADD")
                .arg(&key)
                .arg(score)
                .arg(&stored_member)
                .ignore();
            if maintains(&key, &member.member) {
                pipeline
                    .cmd("PEXPIRE")
                    .arg(&key)
                    .arg(ttl)
                    .arg("NX")
                    .ignore()
                    .cmd("ZREMRANGEBYRANK")
                    .arg(&key)
                    .arg(keep)
                    .arg(-1)
                    .ignore();
            }
        };
        self.pipelined(keys, |pipeline, key| add(pipeline, self.key(key)))
            .await
    }

    async fn expire(&self, key: &CacheKey, ttl: Duration) -> Result<(), CacheError> {
        let millis = ttl.as_millis().max(1) as u64;
        self.run::<i64>(redis::cmd("PEXPIRE").arg(self.key(key)).arg(millis))
            .await
            .map(|_| ())
    }

    async fn sorted_remove(&self, key: &CacheKey, members: &[String]) -> Result<(), CacheError> {
        if members.is_empty() {
            return Ok(());
        }
        let members: Vec<Vec<u8>> = members
            .iter()
            .map(|member| stored::member(member))
            .collect();
        self.run::<i64>(redis::cmd("ZREM").arg(self.key(key)).arg(members))
            .await
            .map(|_| ())
    }

    async fn sorted_len(&self, key: &CacheKey) -> Result<usize, CacheError> {
        self.run(redis::cmd("ZCARD").arg(self.key(key))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_out_maintains_about_one_add_in_eight_per_set() {
        let picked = (0..100)
            .flat_map(|set| (0..100).map(move |post| (format!("{{u:{set}}}:home"), post)))
            .filter(|(key, post)| maintains(key, &format!("post-{post}")))
            .count();
        // 10,000 adds: about 1,250.
        assert!((1_100..1_400).contains(&picked), "{picked}");
    }
}
