//! A cache per test on each adapter: in memory; on the machine's Redis
//! (`VEILGRAM_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`) under a key prefix of its own;
//! and on a six-node Redis Cluster (`VEILGRAM_TEST_REDIS_CLUSTER`, default the one
//! `scripts/redis-cluster` runs on ports 7101–7106, which is started here if it is not up, and
//! stopped by `scripts/test` when the suite ends).
//!
//! A test that needs Redis fails loudly when it cannot be reached: it never skips.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use veilgram_cache::CacheUrl;
use veilgram_core::cache::Cache;

pub const REDIS_URL_VARIABLE: &str = "VEILGRAM_TEST_REDIS_URL";
pub const REDIS_CLUSTER_VARIABLE: &str = "VEILGRAM_TEST_REDIS_CLUSTER";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
const DEFAULT_CLUSTER_URL: &str = "redis-cluster://127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103,127.0.0.1:7104,127.0.0.1:7105,127.0.0.1:7106";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheKind {
    Memory,
    Redis,
    Cluster,
}

/// The URL of the test Redis server.
pub fn redis_url() -> String {
    std::env::var(REDIS_URL_VARIABLE).unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

/// The URL of the test Redis Cluster, started first when it is the default one and not up.
pub fn redis_cluster_url() -> String {
    if let Ok(url) = std::env::var(REDIS_CLUSTER_VARIABLE) {
        return url;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/redis-cluster");
    // Test processes run in parallel: one starts the cluster, the others wait on the lock and
    // find it healthy.
    let lock = std::env::temp_dir().join("veilgram-redis-cluster.lock");
    // `-o`: the daemonised servers must not inherit (and so keep holding) the lock.
    let status = Command::new("flock")
        .arg("-o")
        .arg(&lock)
        .arg(&script)
        .arg("start")
        .status()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", script.display()));
    assert!(
        status.success(),
        "the test Redis Cluster could not be started by {}",
        script.display()
    );
    DEFAULT_CLUSTER_URL.to_owned()
}

/// A cache for one test. On Redis its keys carry a prefix of their own, removed when dropped.
pub struct TestCache {
    pub cache: Arc<dyn Cache>,
    pub kind: CacheKind,
    pub url: CacheUrl,
    pub prefix: String,
}

impl TestCache {
    pub async fn create(kind: CacheKind) -> Self {
        let url = match kind {
            CacheKind::Memory => CacheUrl::Memory,
            CacheKind::Redis => CacheUrl::parse(Some(&redis_url())).expect("test Redis URL"),
            CacheKind::Cluster => {
                CacheUrl::parse(Some(&redis_cluster_url())).expect("test cluster URL")
            }
        };
        let prefix = format!("t{}:", uuid::Uuid::new_v4().simple());
        let cache =
            veilgram_cache::connect(&url, &prefix, veilgram_cache::DEFAULT_NEAR_CACHE_BYTES)
                .await
                .unwrap_or_else(|error| {
                    panic!("this test needs {url:?} and cannot reach it: {error}")
                });
        Self {
            cache,
            kind,
            url,
            prefix,
        }
    }
}

impl Drop for TestCache {
    fn drop(&mut self) {
        let CacheUrl::Redis(url) = &self.url else {
            return;
        };
        // Best effort: the standalone server outlives the suite, so remove this test's keys.
        let pattern = format!("{}*", self.prefix);
        if let Ok(mut connection) =
            redis::Client::open(url.as_str()).and_then(|c| c.get_connection())
        {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(&pattern)
                .query(&mut connection)
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query(&mut connection);
            }
        }
    }
}

/// Generates one test module per cache adapter from a list of `async fn(&TestCache)` tests.
#[macro_export]
macro_rules! for_each_cache {
    ($($test:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let cache = $crate::cache::TestCache::create($crate::cache::CacheKind::Memory).await;
                    super::$test(&cache).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let cache = $crate::cache::TestCache::create($crate::cache::CacheKind::Redis).await;
                    super::$test(&cache).await;
                }
            )*
        }
        mod redis_cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let cache = $crate::cache::TestCache::create($crate::cache::CacheKind::Cluster).await;
                    super::$test(&cache).await;
                }
            )*
        }
    };
}
