//! Test support shared by the crates' integration tests: a fresh, migrated database per test, on
//! SQLite (a temp file) or on PostgreSQL (a uniquely named database on the server named by
//! `VEILGRAM_TEST_POSTGRES_URL`, default the machine's `postgres://postgres@127.0.0.1:5432/postgres`).
//!
//! A test that needs PostgreSQL fails loudly when it cannot be reached: it never skips.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod cache;
pub mod contracts;
pub mod opensearch;
pub mod s3;
pub mod samples;

use sqlx::{Connection, Executor, PgConnection};
use std::time::{SystemTime, UNIX_EPOCH};
use veilgram_sql::{DatabaseUrl, PoolSettings, SqlStore};

pub const POSTGRES_URL_VARIABLE: &str = "VEILGRAM_TEST_POSTGRES_URL";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Databases left behind by crashed test processes are dropped after this long.
const STALE_AFTER_SECONDS: u64 = 2 * 3600;

/// The admin URL of the test PostgreSQL server.
/// Tries `attempt` every 20 ms until it answers `Some`, for at most `patience`; `None` after.
/// For conditions only time brings about (a retry falling due, another process's refresh).
pub async fn poll_until<T, F, Fut>(patience: std::time::Duration, mut attempt: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + patience;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
    while tokio::time::Instant::now() < deadline {
        tick.tick().await;
        if let Some(done) = attempt().await {
            return Some(done);
        }
    }
    None
}

pub fn postgres_admin_url() -> String {
    std::env::var(POSTGRES_URL_VARIABLE).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// A database that exists for one test and is removed when dropped.
pub struct TestDatabase {
    url: DatabaseUrl,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    pub async fn create(engine: Engine) -> Self {
        match engine {
            Engine::Sqlite => Self::sqlite(),
            Engine::Postgres => Self::postgres().await,
        }
    }

    pub fn sqlite() -> Self {
        let directory = tempfile::tempdir().expect("temp dir");
        let url = DatabaseUrl::sqlite_file(&directory.path().join("test.db"));
        Self {
            url,
            cleanup: Cleanup::Sqlite(directory),
        }
    }

    pub async fn postgres() -> Self {
        let admin_url = postgres_admin_url();
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "PostgreSQL is required for this test and cannot be reached at {admin_url} \
                 ({error}); start it or set {POSTGRES_URL_VARIABLE}"
                )
            });
        drop_stale_databases(&mut admin).await;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let name = format!("vgt_{now}_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(base, _)| base);
        let url = DatabaseUrl::parse(&format!("{base}/{name}")).expect("postgres url");
        Self {
            url,
            cleanup: Cleanup::Postgres { admin_url, name },
        }
    }

    /// The bytes of every file of a SQLite database (main file, WAL, shared memory), for tests
    /// that check what is physically stored. Empty for PostgreSQL.
    pub fn sqlite_bytes(&self) -> Vec<u8> {
        let Cleanup::Sqlite(directory) = &self.cleanup else {
            return Vec::new();
        };
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(directory.path()).expect("read test dir") {
            bytes.extend(std::fs::read(entry.expect("entry").path()).unwrap_or_default());
        }
        bytes
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// A plain connection pool on the database, for what the tests read or set below the
    /// store's API.
    async fn raw_pool(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(self.url.as_str())
            .await
            .expect("connect to test database")
    }

    /// How many rows of `table` hold `value` in `column` (for what no API shows, such as what an
    /// account's deletion must leave behind).
    pub async fn rows_with(&self, table: &str, column: &str, value: &str) -> i64 {
        let pool = self.raw_pool().await;
        let count: i64 = sqlx::query_scalar(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM {table} WHERE {column} = $1"
        ))
        .bind(value)
        .fetch_one(&pool)
        .await
        .expect("count rows");
        pool.close().await;
        count
    }

    /// Makes the account look `days` older (what its reports weigh depends on its age; no API
    /// changes when an account signed up).
    pub async fn backdate_account(&self, user_id: &str, days: i64) {
        let pool = self.raw_pool().await;
        sqlx::query("UPDATE users SET created_at = created_at - $1 WHERE id = $2")
            .bind(days * 86_400_000)
            .bind(user_id)
            .execute(&pool)
            .await
            .expect("backdate the account");
        pool.close().await;
    }

    /// A connected, migrated store.
    pub async fn store(&self) -> SqlStore {
        let store = SqlStore::connect(
            &self.url,
            &PoolSettings {
                max_connections: 8,
                ..Default::default()
            },
        )
        .await
        .expect("connect to test database");
        store.migrate().await.expect("migrate test database");
        store
    }
}

async fn drop_stale_databases(admin: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'vgt\\_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for name in names {
        let created = name
            .split('_')
            .nth(1)
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(now);
        if now.saturating_sub(created) > STALE_AFTER_SECONDS {
            let _ = admin
                .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                .await;
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Cleanup::Postgres { admin_url, name } = &self.cleanup else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop may run inside a test's runtime; a fresh thread with its own runtime avoids
        // blocking or nesting it.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = admin
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                }
            });
        })
        .join();
    }
}

/// Generates one test module per engine from a list of `async fn(&TestDatabase)` tests, so the
/// same contract runs on SQLite and PostgreSQL.
#[macro_export]
macro_rules! for_each_engine {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let database = $crate::TestDatabase::create($crate::Engine::Sqlite).await;
                    super::$test(&database).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let database = $crate::TestDatabase::create($crate::Engine::Postgres).await;
                    super::$test(&database).await;
                }
            )*
        }
    };
}

pub use veilgram_sql::Engine;
