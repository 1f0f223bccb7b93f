//! The job-queue contract: holds, acknowledgement, retries after a delay, dead letters, a dead
//! worker's job moving to another, and concurrent workers never sharing a job. Written against
//! the `JobQueue` port and the broker's clock (no call takes a time): the embedded queue runs it
//! on SQLite and PostgreSQL, and a broker adapter must pass it too.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use veilgram_core::jobs::{Job, JobCounts, JobQueue, NewJob, Retry};
use veilgram_core::JobId;

const QUEUE: &str = "test.queue";
/// Longer than any wait the contract expects of a working queue.
const PATIENCE: Duration = Duration::from_secs(15);

fn job(payload: &str, max_attempts: i64) -> NewJob {
    NewJob {
        id: JobId::generate(),
        queue: QUEUE,
        payload: payload.to_owned(),
        max_attempts,
    }
}

/// The next job of the test queue once one is runnable, polling; `None` after `PATIENCE`.
async fn next_job(store: &dyn JobQueue) -> Option<Job> {
    crate::poll_until(PATIENCE, || async { store.lease(QUEUE).await.unwrap() }).await
}

pub async fn jobs_are_leased_once_acked_retried_and_dead_lettered(store: Arc<dyn JobQueue>) {
    assert_eq!(store.lease(QUEUE).await.unwrap(), None);
    store.enqueue(job("first", 2)).await.unwrap();
    store.enqueue(job("second", 1)).await.unwrap();

    let first = next_job(&*store).await.unwrap();
    assert_eq!((first.payload.as_str(), first.attempt), ("first", 1));
    assert_eq!(
        store.lease("other.queue").await.unwrap(),
        None,
        "queues are apart"
    );
    let second = next_job(&*store).await.unwrap();
    assert_eq!(second.payload, "second");
    assert_eq!(store.lease(QUEUE).await.unwrap(), None, "both held");

    // The first fails: it comes back after its delay, not before.
    let delay = Duration::from_millis(400);
    let failed = Instant::now();
    let Retry::After(promised) = store.fail(&first, "storage down", delay).await.unwrap() else {
        panic!("a job with attempts left is retried");
    };
    assert!(promised >= delay);
    assert_eq!(
        store.lease(QUEUE).await.unwrap(),
        None,
        "not before its delay"
    );
    let again = next_job(&*store).await.unwrap();
    assert!(failed.elapsed() >= promised, "ran again after its delay");
    assert_eq!(
        (again.id, again.payload.as_str(), again.attempt),
        (first.id, "first", 2)
    );
    // Out of attempts: dead-lettered, not leased again.
    assert_eq!(
        store.fail(&again, "still down", delay).await.unwrap(),
        Retry::DeadLettered
    );
    store.ack(&second).await.unwrap();
    store.ack(&second).await.unwrap();
    assert_eq!(store.lease(QUEUE).await.unwrap(), None);
    assert_eq!(
        store.counts().await.unwrap(),
        JobCounts { queued: 0, dead: 1 }
    );

    // A job that can never succeed is dead-lettered at once, whatever attempts it had left.
    store.enqueue(job("unreadable", 5)).await.unwrap();
    let unreadable = next_job(&*store).await.unwrap();
    store
        .dead_letter(&unreadable, "unreadable payload")
        .await
        .unwrap();
    assert_eq!(store.lease(QUEUE).await.unwrap(), None);
    assert_eq!(store.counts().await.unwrap().dead, 2);
}

/// `open` connects a worker of its own to the queue under test; `hold` is how long the adapter
/// keeps a silent worker's job (a lease length, a broker's heartbeat timeout).
pub async fn a_job_stays_with_a_live_worker_and_moves_when_it_dies<F, Fut>(open: F, hold: Duration)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn JobQueue>>,
{
    let (mine, other) = (open().await, open().await);
    mine.enqueue(job("survivor", 3)).await.unwrap();
    let held = next_job(&*mine).await.unwrap();
    // A live worker keeps its job however long it takes, beyond any lease: this waits for time
    // to pass, not for something to happen.
    tokio::time::sleep(hold * 3).await;
    assert_eq!(
        other.lease(QUEUE).await.unwrap(),
        None,
        "a live worker keeps its job"
    );

    // The worker dies holding it: another worker gets it.
    drop(mine);
    let taken_over = next_job(&*other).await.expect("a dead worker's job moves");
    assert_eq!(
        (taken_over.id, taken_over.payload.as_str()),
        (held.id, "survivor")
    );
    assert!(taken_over.attempt >= held.attempt);
    // The dead worker's delivery finishes nothing: the job is still the new holder's.
    other.ack(&held).await.unwrap();
    let delay = Duration::from_millis(100);
    assert!(matches!(
        other.fail(&taken_over, "once more", delay).await.unwrap(),
        Retry::After(_)
    ));
    let last = next_job(&*other)
        .await
        .expect("the new holder's job was kept");
    assert_eq!(last.id, held.id);
    other.ack(&last).await.unwrap();
    assert_eq!(other.lease(QUEUE).await.unwrap(), None);
    assert_eq!(
        other.counts().await.unwrap(),
        JobCounts { queued: 0, dead: 0 }
    );
}

pub async fn concurrent_workers_never_share_a_job(store: Arc<dyn JobQueue>) {
    for index in 0..40 {
        store
            .enqueue(job(&format!("job {index}"), 1))
            .await
            .unwrap();
    }
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let store = Arc::clone(&store);
        workers.spawn(async move {
            let mut taken = Vec::new();
            while let Some(job) = store.lease(QUEUE).await.unwrap() {
                taken.push(job.id);
                store.ack(&job).await.unwrap();
            }
            taken
        });
    }
    let mut all = Vec::new();
    while let Some(taken) = workers.join_next().await {
        all.extend(taken.unwrap());
    }
    let distinct: HashSet<JobId> = all.iter().copied().collect();
    assert_eq!(
        (all.len(), distinct.len()),
        (40, 40),
        "each job ran exactly once"
    );
}
