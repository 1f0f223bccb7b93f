//! `JobQueue` on the relational engines: the embedded default of the seed's Celery workers.
//! A job row is `queued` (runnable from `run_at`), `leased` (until `run_at`, after which any
//! worker may lease it again), `done` or `dead`. Leasing is one conditional `UPDATE` of the
//! oldest runnable row, so two workers never hold the same lease.

use crate::store::{column, id_column, translate, WriteTransaction};
use crate::SqlStore;
use async_trait::async_trait;
use std::time::Duration;
use veilgram_core::jobs::{backoff, Job, JobCounts, JobQueue, NewJob, Retry};
use veilgram_core::{JobId, StoreError, Timestamp};

/// Done jobs are kept this long (for `/metrics` and operators), then removed.
const DONE_KEPT_MILLIS: i64 = 24 * 3600 * 1000;

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

    async fn lease(
        &self,
        queue: &str,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Option<Job>, StoreError> {
        let until = now.as_millis() + lease.as_millis() as i64;
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
                let job = Job {
                    id: id_column(&row, "id")?,
                    queue: column(&row, "queue")?,
                    payload: column(&row, "payload")?,
                    attempt: column(&row, "attempts")?,
                    max_attempts: column(&row, "max_attempts")?,
                };
                transaction.commit().await?;
                return Ok(Some(job));
            }
        }
        transaction.commit().await?;
        Ok(None)
    }

    async fn ack(&self, id: JobId) -> Result<(), StoreError> {
        let now = Timestamp::now().as_millis();
        let mut transaction = self.begin_write().await?;
        sqlx::query(
            "UPDATE jobs SET state = 'done', run_at = $1 WHERE id = $2 AND state = 'leased'",
        )
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *transaction)
        .await
        .map_err(translate)?;
        sqlx::query("DELETE FROM jobs WHERE state = 'done' AND run_at < $1")
            .bind(now - DONE_KEPT_MILLIS)
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        transaction.commit().await
    }

    async fn fail(
        &self,
        job: &Job,
        error: &str,
        base: Duration,
        at_least: Option<Duration>,
        now: Timestamp,
    ) -> Result<Retry, StoreError> {
        let error: String = error.chars().take(500).collect();
        let retry = if job.attempt >= job.max_attempts {
            Retry::DeadLettered
        } else {
            Retry::At(now.plus(backoff(base, job.attempt).max(at_least.unwrap_or_default())))
        };
        let (state, run_at) = match retry {
            Retry::At(at) => ("queued", at.as_millis()),
            Retry::DeadLettered => ("dead", now.as_millis()),
        };
        let mut transaction = self.begin_write().await?;
        sqlx::query(
            "UPDATE jobs SET state = $1, run_at = $2, last_error = $3 \
             WHERE id = $4 AND state = 'leased'",
        )
        .bind(state)
        .bind(run_at)
        .bind(error)
        .bind(job.id.to_string())
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
                "leased" => counts.leased = n,
                "done" => counts.done = n,
                _ => counts.dead = n,
            }
        }
        Ok(counts)
    }
}
