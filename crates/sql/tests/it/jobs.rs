//! The embedded job queue runs the job-queue contract (`veilgram_testkit::contracts::jobs`).

use std::sync::Arc;
use veilgram_core::jobs::JobQueue;
use veilgram_testkit::contracts::jobs;
use veilgram_testkit::TestDatabase;

async fn queue(database: &TestDatabase) -> Arc<dyn JobQueue> {
    Arc::new(database.store().await)
}

async fn jobs_are_leased_once_acked_retried_and_dead_lettered(database: &TestDatabase) {
    jobs::jobs_are_leased_once_acked_retried_and_dead_lettered(queue(database).await).await;
}

async fn a_lost_lease_returns_the_job_to_the_queue(database: &TestDatabase) {
    jobs::a_lost_lease_returns_the_job_to_the_queue(queue(database).await).await;
}

async fn concurrent_workers_never_share_a_job(database: &TestDatabase) {
    jobs::concurrent_workers_never_share_a_job(queue(database).await).await;
}

veilgram_testkit::for_each_engine!(
    jobs_are_leased_once_acked_retried_and_dead_lettered,
    a_lost_lease_returns_the_job_to_the_queue,
    concurrent_workers_never_share_a_job,
);
