//! The pool, migrations and the one place where the two engines differ at run time: how a write
//! transaction begins.

use crate::url::{DatabaseUrl, Engine};
use anyhow::Context;
use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Row, Transaction};
use std::sync::Arc;
use std::time::Duration;
use veilgram_core::error::Conflict;
use veilgram_core::ports::HealthCheck;
use veilgram_core::StoreError;

/// One migration: its version and its SQL. Versions only ever grow.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sql: include_str!("../migrations/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        name: "social",
        sql: include_str!("../migrations/0002_social.sql"),
    },
    Migration {
        version: 3,
        name: "comments",
        sql: include_str!("../migrations/0003_comments.sql"),
    },
    Migration {
        version: 4,
        name: "polls",
        sql: include_str!("../migrations/0004_polls.sql"),
    },
    Migration {
        version: 5,
        name: "media",
        sql: include_str!("../migrations/0005_media.sql"),
    },
    Migration {
        version: 6,
        name: "notifications",
        sql: include_str!("../migrations/0006_notifications.sql"),
    },
    Migration {
        version: 7,
        name: "push",
        sql: include_str!("../migrations/0007_push.sql"),
    },
    Migration {
        version: 8,
        name: "media_alt",
        sql: include_str!("../migrations/0008_media_alt.sql"),
    },
    Migration {
        version: 9,
        name: "moderation",
        sql: include_str!("../migrations/0009_moderation.sql"),
    },
    Migration {
        version: 10,
        name: "alias_blocks",
        sql: include_str!("../migrations/0010_alias_blocks.sql"),
    },
    Migration {
        version: 11,
        name: "leases",
        sql: include_str!("../migrations/0011_leases.sql"),
    },
    Migration {
        version: 12,
        name: "address_blocks",
        sql: include_str!("../migrations/0012_address_blocks.sql"),
    },
    Migration {
        version: 13,
        name: "automatic_moderation",
        sql: include_str!("../migrations/0013_automatic_moderation.sql"),
    },
    Migration {
        version: 14,
        name: "appeals",
        sql: include_str!("../migrations/0014_appeals.sql"),
    },
    Migration {
        version: 15,
        name: "fingerprints",
        sql: include_str!("../migrations/0015_fingerprints.sql"),
    },
];

/// The migrations' two dialect words, spelled for `engine`: byte strings and an auto-numbered
/// primary key. Everything else in the DDL is common to SQLite and PostgreSQL.
fn render_migration(sql: &str, engine: Engine) -> String {
    let (bytes, serial) = match engine {
        Engine::Sqlite => ("BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT"),
        Engine::Postgres => ("BYTEA", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"),
    };
    sql.replace("{bytes}", bytes)
        .replace("{serial_primary_key}", serial)
}

/// Pool sizing. SQLite allows one writer at a time whatever the pool size, so its pool only needs
/// enough connections for concurrent readers.
#[derive(Clone, Debug)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The relational store: implements the storage ports of core on SQLite or PostgreSQL.
#[derive(Clone)]
pub struct SqlStore {
    pub(crate) pool: AnyPool,
    engine: Engine,
    /// SQLite admits one writer at a time. Writers of this process queue here, in order, instead
    /// of contending for the file lock through SQLite's busy handler, which sleeps and retries
    /// (and so wastes most of the time a write could have had). Absent on PostgreSQL.
    write_gate: Option<Arc<tokio::sync::Mutex<()>>>,
    /// SQLite only: group commit of the hot writes (see `batch`); absent in the committer's own
    /// handle.
    pub(crate) committer: Option<crate::batch::Committer>,
    /// Bumped after every commit of this process that wrote to the outbox or the event log, so
    /// the relay and consumers of this process start at once instead of at their next poll.
    events_written: Arc<tokio::sync::watch::Sender<u64>>,
    /// The jobs this process holds (see `jobs`).
    pub(crate) holds: Arc<crate::jobs::Holds>,
}

/// A write transaction; on SQLite it also holds this process's write gate until it ends.
pub(crate) struct WriteTransaction {
    transaction: Transaction<'static, Any>,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// Whether it wrote events (see `SqlStore::event_wakeups`).
    pub(crate) wrote_events: bool,
    events_written: Arc<tokio::sync::watch::Sender<u64>>,
}

impl WriteTransaction {
    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        self.transaction.commit().await.map_err(translate)?;
        if self.wrote_events {
            self.events_written.send_modify(|written| *written += 1);
        }
        Ok(())
    }
}

impl std::ops::Deref for WriteTransaction {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &Self::Target {
        &self.transaction
    }
}

impl std::ops::DerefMut for WriteTransaction {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.transaction
    }
}

impl SqlStore {
    /// Connects (creating the SQLite file if missing) without migrating.
    pub async fn connect(url: &DatabaseUrl, settings: &PoolSettings) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let engine = url.engine();
        let options = AnyPoolOptions::new()
            .max_connections(settings.max_connections)
            .min_connections(1)
            .acquire_timeout(settings.acquire_timeout)
            .after_connect(move |connection, _meta| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        // WAL lets readers run beside the writer; NORMAL is durable across process
                        // crashes (an OS crash may lose the last commits, never corrupt the file).
                        connection
                            .execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                            )
                            .await?;
                    }
                    Ok(())
                })
            });
        let pool = options
            .connect(url.as_str())
            .await
            .with_context(|| format!("cannot connect to the {} database", engine.name()))?;
        let write_gate = (engine == Engine::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(())));
        let mut store = Self {
            pool,
            engine,
            write_gate,
            committer: None,
            events_written: Arc::new(tokio::sync::watch::channel(0).0),
            holds: crate::jobs::Holds::new(crate::jobs::JOB_LEASE),
        };
        if engine == Engine::Sqlite {
            store.committer = Some(crate::batch::Committer::start(store.clone()));
        }
        Ok(store)
    }

    /// A handle of this store for a task of its own: it neither holds this handle's jobs nor
    /// keeps the committer alive, so the task cannot keep the store from ending.
    pub(crate) fn detached(&self) -> Self {
        Self {
            holds: crate::jobs::Holds::new(self.holds.lease()),
            committer: None,
            ..self.clone()
        }
    }

    pub const fn engine(&self) -> Engine {
        self.engine
    }

    /// Applies every migration not yet applied, in order, each in its own transaction. Safe to
    /// run from several processes at once. Returns the versions applied now.
    pub async fn migrate(&self) -> anyhow::Result<Vec<i64>> {
        let mut applied_now = Vec::new();
        for migration in MIGRATIONS {
            let mut transaction = self.begin_write().await?;
            if self.engine == Engine::Postgres {
                // Serialises concurrent migrators; released at commit.
                sqlx::query("SELECT pg_advisory_xact_lock(7306413945)")
                    .execute(&mut *transaction)
                    .await?;
            }
            // Inside the locked transaction: concurrent `IF NOT EXISTS` creations race on
            // PostgreSQL's catalogue otherwise.
            transaction
                .execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (\
                     version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
                )
                .await
                .context("cannot create schema_migrations")?;
            let already: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(migration.version)
                    .fetch_optional(&mut *transaction)
                    .await?;
            if already.is_some() {
                continue;
            }
            let sql = render_migration(migration.sql, self.engine);
            transaction.execute(sql.as_str()).await.with_context(|| {
                format!(
                    "migration {} ({}) failed",
                    migration.version, migration.name
                )
            })?;
            sqlx::query(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            )
            .bind(migration.version)
            .bind(migration.name)
            .bind(veilgram_core::Timestamp::now().as_millis())
            .execute(&mut *transaction)
            .await?;
            transaction.commit().await?;
            applied_now.push(migration.version);
        }
        Ok(applied_now)
    }

    /// The highest migration this build knows.
    pub fn latest_migration() -> i64 {
        MIGRATIONS.last().map_or(0, |migration| migration.version)
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so that two writers queue on `busy_timeout` instead of one failing
    /// with `SQLITE_BUSY` when it upgrades a read lock.
    pub(crate) async fn begin_write(&self) -> Result<WriteTransaction, StoreError> {
        let gate = match &self.write_gate {
            Some(gate) => Some(Arc::clone(gate).lock_owned().await),
            None => None,
        };
        let transaction = match self.engine {
            Engine::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Engine::Postgres => self.pool.begin().await,
        };
        Ok(WriteTransaction {
            transaction: transaction.map_err(translate)?,
            _gate: gate,
            wrote_events: false,
            events_written: Arc::clone(&self.events_written),
        })
    }

    /// Changes each time this process commits events (to the outbox or the log): what the
    /// relay and consumers of this process wait on between polls.
    pub fn event_wakeups(&self) -> tokio::sync::watch::Receiver<u64> {
        self.events_written.subscribe()
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl HealthCheck for SqlStore {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> Result<(), StoreError> {
        let one: i64 = sqlx::query_scalar("SELECT CAST(1 AS BIGINT)")
            .fetch_one(&self.pool)
            .await
            .map_err(translate)?;
        if one == 1 {
            Ok(())
        } else {
            Err(StoreError::Unavailable(
                "unexpected answer to SELECT 1".into(),
            ))
        }
    }
}

/// Translates a driver error into the port's vocabulary. Unique violations name the rule by the
/// index they hit, so that services can answer "nickname taken" rather than a 500.
pub(crate) fn translate(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(database_error) if database_error.is_unique_violation() => {
            let rule = database_error
                .constraint()
                .map(str::to_owned)
                .unwrap_or_else(|| database_error.message().to_owned());
            if rule.contains("nickname") {
                StoreError::Conflict(Conflict::Nickname)
            } else if rule.contains("poll_votes") {
                StoreError::Conflict(Conflict::Vote)
            } else if rule.contains("idempotency") {
                StoreError::Conflict(Conflict::IdempotencyKey)
            } else if rule.contains("access_token_hash") {
                StoreError::Conflict(Conflict::AccessToken)
            } else {
                StoreError::Conflict(Conflict::Unique)
            }
        }
        _ => StoreError::Unavailable(error.to_string()),
    }
}

/// Reads a column, turning a decoding failure into `Unavailable` (a schema/data bug, not input).
pub(crate) fn column<'r, T>(row: &'r AnyRow, name: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get(name).map_err(translate)
}

/// `$first, $first+1, …`: `count` numbered parameters, for an `IN (…)` list.
pub(crate) fn numbered_placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|index| format!("${index}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `VALUES` placeholders for a multi-row insert of `rows` rows of `columns` columns, numbered
/// from `$1` row by row: `($1, $2), ($3, $4)`.
pub(crate) fn values_placeholders(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| {
            let numbers: Vec<String> = (1..=columns)
                .map(|column| format!("${}", row * columns + column))
                .collect();
            format!("({})", numbers.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a UUID column into one of core's id newtypes.
pub(crate) fn id_column<I: std::str::FromStr>(row: &AnyRow, name: &str) -> Result<I, StoreError> {
    let text: String = column(row, name)?;
    parse_id(&text, name)
}

/// A nullable UUID column as one of core's id newtypes.
pub(crate) fn optional_id_column<I: std::str::FromStr>(
    row: &AnyRow,
    name: &str,
) -> Result<Option<I>, StoreError> {
    let text: Option<String> = column(row, name)?;
    text.map(|text| parse_id(&text, name)).transpose()
}

/// An id read from column `name` (alone, or among others joined in one value).
pub(crate) fn parse_id<I: std::str::FromStr>(text: &str, name: &str) -> Result<I, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Unavailable(format!("column {name} holds an invalid id")))
}

/// Reads a 32-byte hash column.
pub(crate) fn hash_column(row: &AnyRow, name: &str) -> Result<[u8; 32], StoreError> {
    let bytes: Vec<u8> = column(row, name)?;
    bytes
        .try_into()
        .map_err(|_| StoreError::Unavailable(format!("column {name} holds a malformed hash")))
}
