//! The job queue port (the seed's Celery workers): durable jobs held by workers, acknowledged
//! when done, retried after a delay, and dead-lettered after too many attempts.
//!
//! It promises only what a broker such as RabbitMQ keeps too. The broker's clock decides when a
//! job is due, so no call takes a time. A job is held by the worker that received it until that
//! worker acknowledges, fails or dead-letters it, or is gone (its process ended, its connection
//! dropped): how long a hold survives a silent worker is the adapter's business, not the
//! caller's. A job is answered by its `receipt` (a delivery tag), not by its id. Finished jobs
//! are not kept, and jobs held by workers are not counted.
//!
//! Delivery is at least once: a worker that dies holding a job loses it to another, and the job
//! runs again, so every job must be safe to run twice.

use crate::{JobId, StoreError};
use async_trait::async_trait;
use std::time::Duration;

/// A job as a worker receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub queue: String,
    /// JSON, written by whoever enqueued it.
    pub payload: String,
    /// Attempts so far, this one included (an attempt cut short by a worker's death may count).
    pub attempt: i64,
    pub max_attempts: i64,
    /// This delivery, as the adapter knows it: acknowledging or failing the job passes it back.
    pub receipt: Receipt,
}

/// An adapter's handle on one delivery of a job (a lease, a broker's delivery tag); opaque to
/// callers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt(String);

impl Receipt {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A job to enqueue.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub id: JobId,
    pub queue: &'static str,
    pub payload: String,
    pub max_attempts: i64,
}

/// What a failed attempt led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// It runs again, no sooner than this from now (the delay asked for, or an adapter's
    /// rounding of it up).
    After(Duration),
    /// No attempts left: the job is in the dead-letter state, kept for inspection.
    DeadLettered,
}

/// Jobs waiting, by state, for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// Waiting to run: due now, or after a retry's delay.
    pub queued: i64,
    pub dead: i64,
}

/// The delay before attempt `attempt + 1` after attempt `attempt` failed: 2, 4, 8 … seconds
/// from `base`, capped at an hour.
pub fn backoff(base: Duration, attempt: i64) -> Duration {
    let exponent = u32::try_from(attempt.clamp(1, 20) - 1).unwrap_or(0);
    base.saturating_mul(2u32.saturating_pow(exponent))
        .min(Duration::from_secs(3600))
}

#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Adds a job, runnable now.
    async fn enqueue(&self, job: NewJob) -> Result<(), StoreError>;

    /// The next runnable job of `queue`, now held by this worker; `None` when there is none.
    async fn lease(&self, queue: &str) -> Result<Option<Job>, StoreError>;

    /// The job is done and forgotten. A delivery whose hold was lost meanwhile (the job went to
    /// another worker) finishes nothing: the other worker's does.
    async fn ack(&self, job: &Job) -> Result<(), StoreError>;

    /// The attempt failed with `error` (kept for operators; never user content): the job runs
    /// again no sooner than `delay` from now (see `backoff`), or is dead-lettered when out of
    /// attempts.
    async fn fail(&self, job: &Job, error: &str, delay: Duration) -> Result<Retry, StoreError>;

    async fn counts(&self) -> Result<JobCounts, StoreError>;

    /// The job can never succeed (an unreadable payload, a refusal): dead-lettered now,
    /// whatever attempts it had left.
    async fn dead_letter(&self, job: &Job, error: &str) -> Result<(), StoreError> {
        let last = Job {
            attempt: job.max_attempts,
            ..job.clone()
        };
        self.fail(&last, error, Duration::ZERO).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_secs(2);
        let delays: Vec<u64> = (1..=5).map(|n| backoff(base, n).as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 16, 32]);
        assert_eq!(backoff(base, 40), Duration::from_secs(3600));
    }
}
