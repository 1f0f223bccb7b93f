//! The embedded job queue runs the job-queue contract (`veilgram_testkit::contracts::jobs`).

use std::sync::Arc;
use std::time::Duration;
use veilgram_core::jobs::JobQueue;
use veilgram_testkit::contracts::jobs;
use veilgram_testkit::TestDatabase;

/// Short, so a dead worker's job moves within the test.
const LEASE: Duration = Duration::from_millis(300);

async fn queue(database: &TestDatabase) -> Arc<dyn JobQueue> {
    Arc::new(database.store().await.with_job_lease(LEASE))
}

async fn jobs_are_leased_once_acked_retried_and_dead_lettered(database: &TestDatabase) {
    jobs::jobs_are_leased_once_acked_retried_and_dead_lettered(queue(database).await).await;
}

async fn a_job_stays_with_a_live_worker_and_moves_when_it_dies(database: &TestDatabase) {
    jobs::a_job_stays_with_a_live_worker_and_moves_when_it_dies(|| queue(database), LEASE).await;
}

async fn concurrent_workers_never_share_a_job(database: &TestDatabase) {
    jobs::concurrent_workers_never_share_a_job(queue(database).await).await;
}

veilgram_testkit::for_each_engine!(
    jobs_are_leased_once_acked_retried_and_dead_lettered,
    a_job_stays_with_a_live_worker_and_moves_when_it_dies,
    concurrent_workers_never_share_a_job,
);
