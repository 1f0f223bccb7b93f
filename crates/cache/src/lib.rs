//! Adapters of the cache port (`veilgram_core::cache::Cache`).
//!
//! # Layout
//! - [`memory`]: [`MemoryCache`], the embedded default, in this process.
//! - [`redis`]: [`RedisCache`], one implementation for a Redis server and a Redis Cluster.
//! - `near`: on one Redis server, copies of near keys in this process, kept fresh by Redis's
//!   client-side-caching invalidations (see there).
//! - [`pubsub`]: the pub/sub adapters, in-process and Redis Pub/Sub, chosen by the same URL.
//!
//! [`connect`] picks the adapter from `VEILGRAM_REDIS_URL`:
//! - unset or empty: in memory;
//! - `redis://host:port[/db]` (or `rediss://`): one Redis server;
//! - `redis-cluster://host:port,host:port,...`: a Redis Cluster, from any of its nodes (seeds).

pub mod memory;
mod near;
pub mod pubsub;
pub mod redis;

pub use memory::MemoryCache;
pub use near::NearStatistics;
pub use pubsub::{LocalPubSub, RedisPubSub};
pub use redis::RedisCache;

use std::sync::Arc;
use veilgram_core::cache::{Cache, CacheError, CacheKey};
use veilgram_core::ports::HealthCheck;
use veilgram_core::pubsub::{PubSub, PubSubError};
use veilgram_core::StoreError;

/// Where the cache lives, parsed from a URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheUrl {
    Memory,
    Redis(String),
    /// The seed nodes, each as `redis://host:port`.
    Cluster(Vec<String>),
}

impl CacheUrl {
    /// The adapter's name, safe to log (the URL may hold a password).
    pub const fn adapter(&self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Redis(_) => "redis",
            Self::Cluster(_) => "redis-cluster",
        }
    }

    pub fn parse(url: Option<&str>) -> Result<Self, CacheError> {
        let url = url.map(str::trim).unwrap_or_default();
        if url.is_empty() {
            return Ok(Self::Memory);
        }
        if url.starts_with("redis://") || url.starts_with("rediss://") {
            return Ok(Self::Redis(url.to_owned()));
        }
        if let Some(nodes) = url.strip_prefix("redis-cluster://") {
            let nodes: Vec<String> = nodes
                .split(',')
                .map(str::trim)
                .filter(|node| !node.is_empty())
                .map(|node| format!("redis://{node}"))
                .collect();
            if nodes.is_empty() {
                return Err(CacheError("redis-cluster:// names no node".into()));
            }
            return Ok(Self::Cluster(nodes));
        }
        Err(CacheError(
            "the cache URL must start with redis://, rediss:// or redis-cluster://".into(),
        ))
    }
}

/// Readiness of the cache: one round trip.
pub struct CacheHealth(pub Arc<dyn Cache>);

#[async_trait::async_trait]
impl HealthCheck for CacheHealth {
    fn name(&self) -> &'static str {
        "cache"
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.0
            .exists(&CacheKey::named("health"))
            .await
            .map(|_| ())
            .map_err(|error| StoreError::Unavailable(error.0))
    }
}

/// The pub/sub adapter for the same URL: in-process, or Redis Pub/Sub (on a cluster, through its
/// first seed node: Redis Cluster forwards `PUBLISH` to every node).
pub async fn connect_pubsub(url: &CacheUrl) -> Result<Arc<dyn PubSub>, PubSubError> {
    Ok(match url {
        CacheUrl::Memory => Arc::new(LocalPubSub::default()),
        CacheUrl::Redis(url) => Arc::new(RedisPubSub::connect(url).await?),
        CacheUrl::Cluster(nodes) => {
            let first = nodes
                .first()
                .ok_or_else(|| PubSubError("no cluster node".into()))?;
            Arc::new(RedisPubSub::connect(first).await?)
        }
    })
}

/// What the near cache holds at most unless configured (`VEILGRAM_REDIS_NEAR_CACHE_MB`).
pub const DEFAULT_NEAR_CACHE_BYTES: usize = 64 << 20;

/// Connects the adapter `url` names. `prefix` goes before every Redis key (empty in production);
/// `near_bytes` bounds the near cache on one Redis server (0: none).
pub async fn connect(
    url: &CacheUrl,
    prefix: &str,
    near_bytes: usize,
) -> Result<Arc<dyn Cache>, CacheError> {
    Ok(match url {
        CacheUrl::Memory => Arc::new(MemoryCache::default()),
        CacheUrl::Redis(url) => Arc::new(RedisCache::connect(url, prefix, near_bytes).await?),
        CacheUrl::Cluster(nodes) => Arc::new(RedisCache::connect_cluster(nodes, prefix).await?),
    })
}
