//! The near cache: copies, in this process, of the values of near keys
//! ([`CacheKey::near`](veilgram_core::cache::CacheKey::near)) on one Redis server, kept fresh by
//! Redis's server-assisted client-side caching. Near keys are read over a connection of their
//! own with `CLIENT TRACKING ON`: Redis remembers every key that connection read and, when one
//! changes (whoever changed it, by write, expiry or eviction), sends it an `invalidate` push;
//! the copy is dropped then. A warm feed read takes the posts, bylines, counts and the reader's
//! relations from here instead of three round trips to Redis.
//!
//! # Invariants
//! - A copy is kept only of a value read over the tracking connection, and only if no
//!   invalidation of its key arrived while it was read: a read first leaves a pending mark
//!   with a ticket of its own, an invalidation removes the mark, and the value replaces only
//!   its own mark. An invalidation that overtakes the reply it follows leaves nothing stale.
//! - When the tracking connection is lost, or Redis is flushed, invalidations may have been
//!   lost: every copy is dropped, and a new connection turns tracking on before it reads.
//!   Until one is up, near keys are read like any other key, without copies.
//! - This process's own writes to a near key drop its copy as soon as they are done (Redis's
//!   invalidation of them takes the other connection), so whoever acted sees the change on
//!   their next read. A change made by another process shows here once Redis's invalidation
//!   arrives (well under a millisecond on one network: the window of a replica's lag).
//! - Copies are bounded in bytes (the oldest go first) and in age (`MAX_AGE`, a last guard).

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, Value,
};
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use veilgram_core::cache::Bytes;

/// A copy is dropped this long after it was read, whatever Redis says.
const MAX_AGE: Duration = Duration::from_secs(60);
/// After a failed attempt to open the tracking connection, near keys are read without copies
/// for this long before the next attempt.
const RETRY_AFTER: Duration = Duration::from_secs(1);
const SHARDS: usize = 16;
/// What a copy costs beyond its key and value (map slot, eviction queue entry).
const OVERHEAD: usize = 64;

/// How the near cache has done since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NearStatistics {
    /// Reads of a near key answered from a copy.
    pub hits: u64,
    /// Reads of a near key that went to Redis.
    pub misses: u64,
    /// Keys Redis said changed.
    pub invalidations: u64,
    /// Times every copy was dropped (the tracking connection lost, Redis flushed).
    pub resets: u64,
}

struct Slot {
    /// Matches the key's entry in the eviction queue; while a read is under way, the ticket
    /// that read holds (only it may fill the slot).
    order: u64,
    /// `None` while a read is under way.
    copy: Option<Held>,
}

struct Held {
    value: Option<Bytes>,
    read_at: Instant,
}

impl Slot {
    fn cost(&self, key: &str) -> usize {
        let value = self.copy.as_ref().and_then(|copy| copy.value.as_ref());
        key.len() + value.map_or(0, Bytes::len) + OVERHEAD
    }
}

#[derive(Default)]
struct Shard {
    slots: HashMap<String, Slot, foldhash::fast::RandomState>,
    /// Keys in the order they were marked or filled, oldest first; an entry whose order no
    /// longer matches its slot's is stale.
    queue: VecDeque<(String, u64)>,
    bytes: usize,
    /// Lookups this shard answered from a copy, and those it did not. Counted under the
    /// shard's lock (already held), not in atomics every lookup of every thread would share.
    hits: u64,
    misses: u64,
}

impl Shard {
    fn remove(&mut self, key: &str) {
        if let Some(slot) = self.slots.remove(key) {
            self.bytes -= slot.cost(key);
        }
    }

    fn put(&mut self, key: &str, slot: Slot, budget: usize) {
        self.remove(key);
        self.bytes += slot.cost(key);
        self.queue.push_back((key.to_owned(), slot.order));
        self.slots.insert(key.to_owned(), slot);
        self.evict(budget);
    }

    fn is_current(&self, key: &str, order: u64) -> bool {
        self.slots.get(key).is_some_and(|slot| slot.order == order)
    }

    /// Drops the oldest slots until the shard holds at most `budget` bytes.
    fn evict(&mut self, budget: usize) {
        while self.bytes > budget {
            let Some((key, order)) = self.queue.pop_front() else {
                return;
            };
            if self.is_current(&key, order) {
                self.remove(&key);
            }
        }
        // Entries of slots replaced or dropped since are skipped above; keep them from
        // piling up.
        if self.queue.len() > 2 * self.slots.len() + 1024 {
            let queue = std::mem::take(&mut self.queue);
            self.queue = queue
                .into_iter()
                .filter(|(key, order)| self.is_current(key, *order))
                .collect();
        }
    }
}

/// A read of one key: a copy, or the ticket to fill it with what Redis answers.
pub(crate) enum Lookup {
    Hit(Option<Bytes>),
    Miss(u64),
}

/// The copies themselves, apart from any connection.
pub(crate) struct Copies {
    shards: Box<[Mutex<Shard>]>,
    sharding: foldhash::fast::RandomState,
    budget_per_shard: usize,
    tickets: AtomicU64,
}

impl Copies {
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            sharding: foldhash::fast::RandomState::default(),
            budget_per_shard: budget / SHARDS,
            tickets: AtomicU64::new(1),
        }
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        let index = (self.sharding.hash_one(key) % SHARDS as u64) as usize;
        self.shards[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The copy of `key`, or a ticket to fill it with (and a mark of the read left for it).
    pub(crate) fn lookup(&self, key: &str, now: Instant) -> Lookup {
        let mut shard = self.shard(key);
        if let Some(Slot {
            copy: Some(copy), ..
        }) = shard.slots.get(key)
        {
            if now.duration_since(copy.read_at) < MAX_AGE {
                let value = copy.value.clone();
                shard.hits += 1;
                return Lookup::Hit(value);
            }
        }
        shard.misses += 1;
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        let mark = Slot {
            order: ticket,
            copy: None,
        };
        shard.put(key, mark, self.budget_per_shard);
        Lookup::Miss(ticket)
    }

    /// Keeps `value`, read for `ticket`, as the copy of `key`, unless the key changed (or
    /// another read took over) since the ticket was handed out.
    pub(crate) fn fill(&self, key: &str, ticket: u64, value: Option<&Bytes>, now: Instant) {
        let mut shard = self.shard(key);
        if !matches!(shard.slots.get(key), Some(Slot { order, copy: None }) if *order == ticket) {
            return;
        }
        let copy = Slot {
            order: self.tickets.fetch_add(1, Ordering::Relaxed),
            copy: Some(Held {
                value: value.cloned(),
                read_at: now,
            }),
        };
        shard.put(key, copy, self.budget_per_shard);
    }

    /// Drops what is known of `key`: its copy, or the mark of a read under way.
    pub(crate) fn forget(&self, key: &str) {
        self.shard(key).remove(key);
    }

    /// Drops every copy (the counts stay).
    pub(crate) fn clear(&self) {
        for shard in &self.shards {
            let mut shard = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            shard.slots = HashMap::default();
            shard.queue = VecDeque::new();
            shard.bytes = 0;
        }
    }

    /// Lookups answered from a copy, and lookups that were not, since this cache started.
    fn counts(&self) -> (u64, u64) {
        self.shards.iter().fold((0, 0), |(hits, misses), shard| {
            let shard = shard
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            (hits + shard.hits, misses + shard.misses)
        })
    }
}

/// The tracking connection in use, named so that a reset for a lost one leaves a newer alone.
struct Link {
    id: u64,
    connection: MultiplexedConnection,
}

enum LinkState {
    Down { since: Option<Instant> },
    Up(Link),
}

pub(crate) struct NearCache {
    client: redis::Client,
    /// The tracking connection's name in `CLIENT LIST`.
    name: String,
    config: AsyncConnectionConfig,
    pub(crate) copies: Copies,
    link: Mutex<LinkState>,
    connecting: tokio::sync::Mutex<()>,
    links: AtomicU64,
    invalidations: AtomicU64,
    resets: AtomicU64,
    /// Counts what Redis told this cache (invalidations and resets), for whoever waits on it.
    told: watch::Sender<u64>,
}

impl NearCache {
    /// A near cache of at most `budget` bytes for the server at `url`; connects on first use.
    pub(crate) fn new(
        url: &str,
        name: String,
        budget: usize,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> redis::RedisResult<Arc<Self>> {
        let info = url.into_connection_info()?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings))?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(Some(response_timeout));
        Ok(Arc::new(Self {
            client,
            name,
            config,
            copies: Copies::new(budget),
            link: Mutex::new(LinkState::Down { since: None }),
            connecting: tokio::sync::Mutex::new(()),
            links: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
            resets: AtomicU64::new(0),
            told: watch::channel(0).0,
        }))
    }

    pub(crate) fn statistics(&self) -> NearStatistics {
        let (hits, misses) = self.copies.counts();
        NearStatistics {
            hits,
            misses,
            invalidations: self.invalidations.load(Ordering::Relaxed),
            resets: self.resets.load(Ordering::Relaxed),
        }
    }

    /// Ticks each time Redis told this cache something (an invalidation, a lost connection).
    pub(crate) fn told(&self) -> watch::Receiver<u64> {
        self.told.subscribe()
    }

    fn state(&self) -> MutexGuard<'_, LinkState> {
        self.link
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn current(&self) -> Option<(u64, MultiplexedConnection)> {
        match &*self.state() {
            LinkState::Up(link) => Some((link.id, link.connection.clone())),
            LinkState::Down { .. } => None,
        }
    }

    /// The tracking connection, opened if there is none (at most once per `RETRY_AFTER` after
    /// a failure); `None` while Redis cannot be reached that way.
    async fn connection(self: &Arc<Self>) -> Option<(u64, MultiplexedConnection)> {
        if let Some(current) = self.current() {
            return Some(current);
        }
        let _connecting = self.connecting.lock().await;
        // Another read may have opened it, or failed to, while this one waited.
        if let Some(current) = self.current() {
            return Some(current);
        }
        if matches!(&*self.state(), LinkState::Down { since: Some(since) } if since.elapsed() < RETRY_AFTER)
        {
            return None;
        }
        let id = self.links.fetch_add(1, Ordering::Relaxed);
        match self.open(id).await {
            Ok(connection) => {
                *self.state() = LinkState::Up(Link {
                    id,
                    connection: connection.clone(),
                });
                Some((id, connection))
            }
            Err(error) => {
                tracing::warn!(%error, "the near cache cannot open its tracking connection");
                *self.state() = LinkState::Down {
                    since: Some(Instant::now()),
                };
                None
            }
        }
    }

    async fn open(self: &Arc<Self>, id: u64) -> redis::RedisResult<MultiplexedConnection> {
        let (pushes, mut received) = tokio::sync::mpsc::unbounded_channel::<PushInfo>();
        let config = self.config.clone().set_push_sender(pushes);
        let mut connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::pipe()
            .cmd("CLIENT")
            .arg("SETNAME")
            .arg(&self.name)
            .ignore()
            .cmd("CLIENT")
            .arg("TRACKING")
            .arg("ON")
            .ignore()
            .exec_async(&mut connection)
            .await?;
        // Invalidations of this connection drop copies; its end drops them all (`lost`).
        let near = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(push) = received.recv().await {
                let Some(near) = near.upgrade() else { return };
                if !near.take(id, push) {
                    return;
                }
            }
            if let Some(near) = near.upgrade() {
                near.lost(id);
            }
        });
        Ok(connection)
    }

    /// Acts on a push of connection `id`; false once the connection is gone.
    fn take(&self, id: u64, push: PushInfo) -> bool {
        match push.kind {
            PushKind::Invalidate => {
                match push.data.first() {
                    Some(Value::Array(keys)) => {
                        for key in keys {
                            if let Ok(key) = redis::from_redis_value_ref::<String>(key) {
                                self.copies.forget(&key);
                            }
                        }
                        self.invalidations
                            .fetch_add(keys.len() as u64, Ordering::Relaxed);
                    }
                    // FLUSHDB, FLUSHALL: every key changed.
                    _ => self.reset(),
                }
                self.told.send_modify(|told| *told += 1);
                true
            }
            PushKind::Disconnection => {
                self.lost(id);
                false
            }
            _ => true,
        }
    }

    /// The tracking connection `id` is gone: so are its copies.
    fn lost(&self, id: u64) {
        {
            let mut state = self.state();
            match &*state {
                LinkState::Up(link) if link.id == id => {
                    *state = LinkState::Down { since: None };
                }
                _ => return,
            }
        }
        tracing::warn!("the near cache lost its tracking connection; its copies are dropped");
        self.reset();
        self.told.send_modify(|told| *told += 1);
    }

    fn reset(&self) {
        self.copies.clear();
        self.resets.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads `keys` (Redis names) over the tracking connection and keeps copies of them
    /// (`tickets` from `Copies::lookup`, in the same order); `None` if that connection cannot
    /// be had or failed (then nothing is kept, and the caller reads them as any other keys).
    pub(crate) async fn read(
        self: &Arc<Self>,
        keys: &[&str],
        tickets: &[u64],
    ) -> Option<Vec<Option<Bytes>>> {
        let Some((id, mut connection)) = self.connection().await else {
            for key in keys {
                self.copies.forget(key);
            }
            return None;
        };
        let mut command = redis::cmd("MGET");
        for key in keys {
            command.arg(*key);
        }
        match command
            .query_async::<Vec<Option<Vec<u8>>>>(&mut connection)
            .await
        {
            Ok(values) => {
                let values = crate::redis::into_shared(values);
                let now = Instant::now();
                for ((key, ticket), value) in keys.iter().zip(tickets).zip(&values) {
                    self.copies.fill(key, *ticket, value.as_ref(), now);
                }
                Some(values)
            }
            Err(error) => {
                tracing::warn!(%error, "a read over the near cache's connection failed");
                self.lost(id);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(lookup: Lookup) -> u64 {
        match lookup {
            Lookup::Miss(ticket) => ticket,
            Lookup::Hit(_) => panic!("expected a miss"),
        }
    }

    fn hit(lookup: Lookup) -> Option<Bytes> {
        match lookup {
            Lookup::Hit(value) => value,
            Lookup::Miss(_) => panic!("expected a hit"),
        }
    }

    #[test]
    fn a_read_fills_its_own_mark_and_is_then_answered_here() {
        let copies = Copies::new(1 << 20);
        let now = Instant::now();
        let first = ticket(copies.lookup("k", now));
        copies.fill("k", first, Some(&Bytes::from_static(b"v")), now);
        assert_eq!(hit(copies.lookup("k", now)), Some(Bytes::from_static(b"v")));
        // A missing key is a copy too (Redis tracks keys read while missing).
        let absent = ticket(copies.lookup("absent", now));
        copies.fill("absent", absent, None, now);
        assert_eq!(hit(copies.lookup("absent", now)), None);
    }

    #[test]
    fn an_invalidation_during_a_read_keeps_its_value_out() {
        let copies = Copies::new(1 << 20);
        let now = Instant::now();
        let read = ticket(copies.lookup("k", now));
        // Redis's invalidation is taken before the reply it follows is.
        copies.forget("k");
        copies.fill("k", read, Some(&Bytes::from_static(b"old")), now);
        let next = ticket(copies.lookup("k", now));
        // A read that another one took over cannot fill either.
        let newer = ticket(copies.lookup("k", now));
        copies.fill("k", next, Some(&Bytes::from_static(b"older")), now);
        copies.fill("k", newer, Some(&Bytes::from_static(b"new")), now);
        assert_eq!(
            hit(copies.lookup("k", now)),
            Some(Bytes::from_static(b"new"))
        );
    }

    #[test]
    fn copies_are_dropped_when_too_old_cleared_or_over_budget() {
        let copies = Copies::new(SHARDS * (OVERHEAD + 100));
        let now = Instant::now();
        let read = ticket(copies.lookup("k", now));
        copies.fill("k", read, Some(&Bytes::from_static(b"v")), now);
        ticket(copies.lookup("k", now + MAX_AGE));

        let read = ticket(copies.lookup("k", now));
        copies.fill("k", read, Some(&Bytes::from_static(b"v")), now);
        copies.clear();
        ticket(copies.lookup("k", now));

        // Each shard holds one 100-byte copy at most: the older goes.
        let keys: Vec<String> = (0..200).map(|index| format!("key-{index}")).collect();
        for key in &keys {
            let read = ticket(copies.lookup(key, now));
            copies.fill(key, read, Some(&Bytes::from_static(&[7; 90])), now);
        }
        let held: usize = copies
            .shards
            .iter()
            .map(|shard| {
                let shard = shard.lock().unwrap();
                shard
                    .slots
                    .values()
                    .filter(|slot| slot.copy.is_some())
                    .count()
            })
            .sum();
        assert!((1..=SHARDS).contains(&held), "{held} copies held");
        let newest = keys.last().unwrap();
        assert!(matches!(copies.lookup(newest, now), Lookup::Hit(_)));
        let bytes: usize = copies
            .shards
            .iter()
            .map(|shard| shard.lock().unwrap().bytes)
            .sum();
        assert!(bytes <= SHARDS * (OVERHEAD + 100), "{bytes} bytes");
    }
}
