//! The job queue port (the seed's Celery workers): durable jobs leased by workers, acknowledged
//! when done, retried with exponential backoff, and dead-lettered after too many attempts.
//!
//! Delivery is at least once: a worker that dies holding a lease loses it when the lease times
//! out, and the job runs again, so every job must be safe to run twice.

use crate::{JobId, StoreError, Timestamp};
use async_trait::async_trait;
use std::time::Duration;

/// A job as a worker receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub queue: String,
    /// JSON, written by whoever enqueued it.
    pub payload: String,
    /// Attempts so far, this one included.
    pub attempt: i64,
    pub max_attempts: i64,
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
    /// It runs again at the given time.
    At(Timestamp),
    /// No attempts left: the job is in the dead-letter state, kept for inspection.
    DeadLettered,
}

/// Jobs by state, for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobCounts {
    pub queued: i64,
    pub leased: i64,
    pub done: i64,
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

    /// The oldest runnable job of `queue` (queued and due, or leased by a worker whose lease
    /// ran out), now leased until `now + lease`; `None` when there is none.
    async fn lease(
        &self,
        queue: &str,
        lease: Duration,
        now: Timestamp,
    ) -> Result<Option<Job>, StoreError>;

    /// The job is done (a job no longer leased, say acknowledged twice, is left alone).
    async fn ack(&self, id: JobId) -> Result<(), StoreError>;

    /// The attempt failed with `error` (kept for operators; never user content): the job runs
    /// again after `backoff(base, attempt)` (or `at_least`, a `Retry-After`, if longer), or is
    /// dead-lettered when out of attempts.
    async fn fail(
        &self,
        job: &Job,
        error: &str,
        base: Duration,
        at_least: Option<Duration>,
        now: Timestamp,
    ) -> Result<Retry, StoreError>;

    async fn counts(&self) -> Result<JobCounts, StoreError>;

    /// The job can never succeed (an unreadable payload, a refusal): dead-lettered now,
    /// whatever attempts it had left.
    async fn dead_letter(&self, job: &Job, error: &str, now: Timestamp) -> Result<(), StoreError> {
        let last = Job {
            attempt: job.max_attempts,
            ..job.clone()
        };
        self.fail(&last, error, Duration::ZERO, None, now)
            .await
            .map(|_| ())
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
