//! `JobQueue` on the relational engines: the embedded default of the seed's Celery workers.
//! A job row is `queued` (runnable from `run_at`), `leased` (until `run_at`, after which any
//! worker may lease it again) or `dead`; a finished job's row is deleted. Leasing is one
//! conditional `UPDATE` of the oldest runnable row, so two workers never hold the same lease.
//!
//! A lease is short (`JOB_LEASE`), and this process renews the leases of the jobs it holds
//! while it lives (up to `MAX_HOLD`), the way a broker keeps a delivery with a live consumer:
//! a job outlives its lease only while its worker is alive, and a dead worker's job goes to
//! another within a lease. The receipt is the attempt number of the lease, so a worker whose
//! lease was lost cannot finish or fail the attempt that took over.

use crate::store::{column, id_column, translate, WriteTransaction};
use crate::SqlStore;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use veilgram_core::jobs::{Job, JobCounts, JobQueue, NewJob, Receipt, Retry};
use veilgram_core::{JobId, StoreError, Timestamp};

/// How long a lease lasts unless its holder renews it.
pub const JOB_LEASE: Duration = Duration::from_secs(30);
/// A job held longer than this is no longer renewed (a stuck worker), so another gets it.
const MAX_HOLD: Duration = Duration::from_secs(3600);

/// The jobs this process holds, renewed by a task that ends when the store is dropped.
pub(crate) struct Holds {
    lease: Duration,
    held: Mutex<HashMap<JobId, (i64, Instant)>>,
    renewing: std::sync::atomic::AtomicBool,
}

impl Holds {
    pub(crate) fn new(lease: Duration) -> Arc<Self> {
        Arc::new(Self {
            lease,
            held: Mutex::default(),
            renewing: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub(crate) const fn lease(&self) -> Duration {
        self.lease
    }

    fn hold(&self, id: JobId, attempt: i64) {
        if let Ok(mut held) = self.held.lock() {
            held.insert(id, (attempt, Instant::now()));
        }
    }

    fn let_go(&self, id: JobId) {
        if let Ok(mut held) = self.held.lock() {
            held.remove(&id);
        }
    }

    fn renewable(&self) -> Vec<(JobId, i64)> {
        self.held
            .lock()
            .map(|held| {
                held.iter()
                    .filter(|(_, (_, since))| since.elapsed() < MAX_HOLD)
                    .map(|(id, (attempt, _))| (*id, *attempt))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl SqlStore {
    /// This store with leases of `lease` (tests of a dead worker's takeover use a short one).
    pub fn with_job_lease(mut self, lease: Duration) -> Self {
        self.holds = Holds::new(lease);
        self
    }

    /// Starts renewing this process's leases, once.
    fn renew_leases(&self) {
        use std::sync::atomic::Ordering;
        if self.holds.renewing.swap(true, Ordering::AcqRel) {
            return;
        }
        let holds: Weak<Holds> = Arc::downgrade(&self.holds);
        let lease = self.holds.lease;
        // The task's own handle neither holds the jobs nor keeps the committer alive.
        let store = self.detached();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(lease / 3);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(holds) = holds.upgrade() else { return };
                let renewable = holds.renewable();
                drop(holds);
                for (id, attempt) in renewable {
                    if let Err(error) = store.renew(id, attempt, lease).await {
                        tracing::warn!(%error, "a job lease could not be renewed");
                    }
                }
            }
        });
    }

    async fn renew(&self, id: JobId, attempt: i64, lease: Duration) -> Result<(), StoreError> {
        let until = Timestamp::now().plus(lease).as_millis();
        let mut transaction = self.begin_write().await?;
        sqlx::query(
            "UPDATE jobs SET run_at = $1 WHERE id = $2 AND state = 'leased' AND attempts = $3",
        )
        .bind(until)
        .bind(id.to_string())
        .bind(attempt)
        .execute(&mut *transaction)
        .await
        .map_err(translate)?;
        transaction.commit().await
    }
}

fn attempt_of(job: &Job) -> Result<i64, StoreError> {
    job.receipt
        .as_str()
        .parse()
        .map_err(|_| StoreError::Unavailable("not a receipt of this job queue".into()))
}

/// Enqueues a job inside a caller's transaction (with the change that asked for it).
pub(crate) async fn insert_job(
    transaction: &mut WriteTransaction,
    job: &NewJob,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO jobs (id, queue, payload, state, attempts, max_attempts, run_at, created_at) \
         VALUES ($1, $2, $3, 'queued', 0, $4, $5, $5)",
    )
    .bind(job.id.to_string())
    .bind(job.queue)
    .bind(job.payload.as_str())
    .bind(job.max_attempts)
    .bind(now.as_millis())
    .execute(&mut **transaction)
    .await
    .map_err(translate)?;
    Ok(())
}

#[async_trait]
impl JobQueue for SqlStore {
    async fn enqueue(&self, job: NewJob) -> Result<(), StoreError> {
        let mut transaction = self.begin_write().await?;
        insert_job(&mut transaction, &job, Timestamp::now()).await?;
        transaction.commit().await
    }

    async fn lease(&self, queue: &str) -> Result<Option<Job>, StoreError> {
        let now = Timestamp::now();
        let until = now.plus(self.holds.lease).as_millis();
        let mut transaction = self.begin_write().await?;
        // A candidate, then a conditional update: on PostgreSQL a concurrent worker that took
        // it first makes the update match nothing, and the next candidate is tried.
        for _ in 0..8 {
            let candidate: Option<String> = sqlx::query_scalar(
                "SELECT id FROM jobs WHERE queue = $1 AND state IN ('queued', 'leased') \
                 AND run_at <= $2 ORDER BY run_at, id LIMIT 1",
            )
            .bind(queue)
            .bind(now.as_millis())
            .fetch_optional(&mut *transaction)
            .await
            .map_err(translate)?;
            let Some(candidate) = candidate else {
                transaction.commit().await?;
                return Ok(None);
            };
            let leased = sqlx::query(
                "UPDATE jobs SET state = 'leased', attempts = attempts + 1, run_at = $1 \
                 WHERE id = $2 AND state IN ('queued', 'leased') AND run_at <= $3 \
                 RETURNING id, queue, payload, attempts, max_attempts",
            )
            .bind(until)
            .bind(candidate.as_str())
            .bind(now.as_millis())
            .fetch_optional(&mut *transaction)
            .await
            .map_err(translate)?;
            if let Some(row) = leased {
                let attempt: i64 = column(&row, "attempts")?;
                let job = Job {
                    id: id_column(&row, "id")?,
                    queue: column(&row, "queue")?,
                    payload: column(&row, "payload")?,
                    attempt,
                    max_attempts: column(&row, "max_attempts")?,
                    receipt: Receipt::new(attempt.to_string()),
                };
                transaction.commit().await?;
                self.holds.hold(job.id, attempt);
                self.renew_leases();
                return Ok(Some(job));
            }
        }
        transaction.commit().await?;
        Ok(None)
    }

    async fn ack(&self, job: &Job) -> Result<(), StoreError> {
        let attempt = attempt_of(job)?;
        self.holds.let_go(job.id);
        let mut transaction = self.begin_write().await?;
        sqlx::query("DELETE FROM jobs WHERE id = $1 AND state = 'leased' AND attempts = $2")
            .bind(job.id.to_string())
            .bind(attempt)
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        transaction.commit().await
    }

    async fn fail(&self, job: &Job, error: &str, delay: Duration) -> Result<Retry, StoreError> {
        let attempt = attempt_of(job)?;
        self.holds.let_go(job.id);
        let now = Timestamp::now();
        let error: String = error.chars().take(500).collect();
        let retry = if job.attempt >= job.max_attempts {
            Retry::DeadLettered
        } else {
            Retry::After(delay)
        };
        let (state, run_at) = match retry {
            Retry::After(delay) => ("queued", now.plus(delay).as_millis()),
            Retry::DeadLettered => ("dead", now.as_millis()),
        };
        let mut transaction = self.begin_write().await?;
        sqlx::query(
            "UPDATE jobs SET state = $1, run_at = $2, last_error = $3 \
             WHERE id = $4 AND state = 'leased' AND attempts = $5",
        )
        .bind(state)
        .bind(run_at)
        .bind(error)
        .bind(job.id.to_string())
        .bind(attempt)
        .execute(&mut *transaction)
        .await
        .map_err(translate)?;
        transaction.commit().await?;
        Ok(retry)
    }

    async fn counts(&self) -> Result<JobCounts, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
            .fetch_all(&self.pool)
            .await
            .map_err(translate)?;
        let mut counts = JobCounts::default();
        for row in &rows {
            let state: String = column(row, "state")?;
            let n: i64 = column(row, "n")?;
            match state.as_str() {
                "queued" => counts.queued = n,
                "dead" => counts.dead = n,
                _ => {} // held by workers: not counted
            }
        }
        Ok(counts)
    }
}
