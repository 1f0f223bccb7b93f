//! Migrations: idempotent, safe when several processes start at once.

use veilgram_sql::{PoolSettings, SqlStore};
use veilgram_testkit::TestDatabase;

async fn migrating_twice_applies_nothing_the_second_time(database: &TestDatabase) {
    let store = SqlStore::connect(database.url(), &PoolSettings::default())
        .await
        .unwrap();
    let every: Vec<i64> = (1..=SqlStore::latest_migration()).collect();
    assert_eq!(store.migrate().await.unwrap(), every);
    assert!(store.migrate().await.unwrap().is_empty());
}

async fn concurrent_migrators_apply_each_migration_once(database: &TestDatabase) {
    let first = SqlStore::connect(database.url(), &PoolSettings::default())
        .await
        .unwrap();
    let second = SqlStore::connect(database.url(), &PoolSettings::default())
        .await
        .unwrap();
    let (a, b) = tokio::join!(first.migrate(), second.migrate());
    let mut applied = a.unwrap();
    applied.extend(b.unwrap());
    applied.sort_unstable();
    assert_eq!(
        applied,
        (1..=SqlStore::latest_migration()).collect::<Vec<i64>>()
    );
}

veilgram_testkit::for_each_engine!(
    migrating_twice_applies_nothing_the_second_time,
    concurrent_migrators_apply_each_migration_once,
);
