//! The job-queue contract: leases, acknowledgement, retries with backoff, dead letters, lease
//! expiry, and concurrent workers never sharing a job. Written against the `JobQueue` port:
//! the embedded queue runs it on SQLite and PostgreSQL, and a broker adapter must pass it too.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use veilgram_core::jobs::{JobCounts, JobQueue, NewJob, Retry};
use veilgram_core::{JobId, Timestamp};

fn job(payload: &str, max_attempts: i64) -> NewJob {
    NewJob {
        id: JobId::generate(),
        queue: "test.queue",
        payload: payload.to_owned(),
        max_attempts,
    }
}

const LEASE: Duration = Duration::from_secs(60);

pub async fn jobs_are_leased_once_acked_retried_and_dead_lettered(store: Arc<dyn JobQueue>) {
    assert_eq!(
        store
            .lease("test.queue", LEASE, Timestamp::now())
            .await
            .unwrap(),
        None
    );
    store.enqueue(job("first", 2)).await.unwrap();
    store.enqueue(job("second", 1)).await.unwrap();
    let now = Timestamp::now();

    let first = store
        .lease("test.queue", LEASE, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.payload.as_str(), first.attempt), ("first", 1));
    assert_eq!(
        store.lease("other.queue", LEASE, now).await.unwrap(),
        None,
        "queues are apart"
    );
    let second = store
        .lease("test.queue", LEASE, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.payload, "second");
    assert_eq!(
        store.lease("test.queue", LEASE, now).await.unwrap(),
        None,
        "both leased"
    );

    // The first fails: it comes back after its backoff, not before.
    let base = Duration::from_secs(2);
    let retry = store
        .fail(&first, "storage down", base, None, now)
        .await
        .unwrap();
    assert_eq!(retry, Retry::At(now.plus(base)));
    assert_eq!(store.lease("test.queue", LEASE, now).await.unwrap(), None);
    let later = now.plus(Duration::from_secs(3));
    let again = store
        .lease("test.queue", LEASE, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id, again.attempt), (first.id, 2));
    // Out of attempts: dead-lettered, never leased again.
    assert_eq!(
        store
            .fail(&again, "still down", base, None, later)
            .await
            .unwrap(),
        Retry::DeadLettered
    );
    store.ack(second.id).await.unwrap();
    store.ack(second.id).await.unwrap();
    let far = now.plus(Duration::from_secs(7200));
    assert_eq!(store.lease("test.queue", LEASE, far).await.unwrap(), None);
    assert_eq!(
        store.counts().await.unwrap(),
        JobCounts {
            queued: 0,
            leased: 0,
            done: 1,
            dead: 1
        }
    );
}

pub async fn a_lost_lease_returns_the_job_to_the_queue(store: Arc<dyn JobQueue>) {
    store.enqueue(job("survivor", 3)).await.unwrap();
    let now = Timestamp::now();
    let leased = store
        .lease("test.queue", LEASE, now)
        .await
        .unwrap()
        .unwrap();
    // The worker holding it died: nobody gets it until the lease runs out, then someone does.
    assert_eq!(
        store
            .lease("test.queue", LEASE, now.plus(LEASE / 2))
            .await
            .unwrap(),
        None
    );
    let taken_over = store
        .lease(
            "test.queue",
            LEASE,
            now.plus(LEASE + Duration::from_secs(1)),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((taken_over.id, taken_over.attempt), (leased.id, 2));
    // The first worker's late acknowledgement finishes the job all the same.
    store.ack(leased.id).await.unwrap();
    assert_eq!(store.counts().await.unwrap().done, 1);
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
            while let Some(job) = store
                .lease("test.queue", LEASE, Timestamp::now())
                .await
                .unwrap()
            {
                taken.push(job.id);
                store.ack(job.id).await.unwrap();
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
