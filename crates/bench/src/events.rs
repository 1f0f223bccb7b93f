//! The event consumers' lease cost: events one consumer group handles per second, without a
//! lease (the reference), under a lease in one process, and spread over two processes (two
//! holders of the group's lease sharing the database, as two `veilgram serve --roles
//! consumers` would), in the same run, on each engine. The handler does nothing, so what is
//! measured is the log read, the offset commit after each event, and the lease.

use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use veilgram_core::events::{DomainEvent, EventEnvelope, LoggedEvent};
use veilgram_core::ports::{EventLog, EventPublisher, Leases};
use veilgram_core::{Timestamp, UserId};
use veilgram_events::{EventHandler, Runner};
use veilgram_sql::SqlStore;
use veilgram_testkit::TestDatabase;

const EVENTS: usize = 5_000;

/// Counts what it is handed; its name is the group's.
struct Counting {
    name: &'static str,
    handled: AtomicU64,
}

#[async_trait]
impl EventHandler for Counting {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn handle(&self, _event: &LoggedEvent) -> anyhow::Result<()> {
        self.handled.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

async fn fill(store: &SqlStore) -> anyhow::Result<i64> {
    let events: Vec<EventEnvelope> = (0..EVENTS)
        .map(|_| {
            EventEnvelope::new(
                None,
                Timestamp::now(),
                DomainEvent::UserFollowed {
                    follower_id: UserId::random(),
                    followee_id: UserId::random(),
                },
            )
        })
        .collect();
    for chunk in events.chunks(256) {
        store.publish(chunk).await?;
    }
    let mut last = 0;
    loop {
        let batch = store.read_after(0, last, 1000).await?;
        match batch.last() {
            Some(event) => last = event.offset,
            None => return Ok(last),
        }
    }
}

/// Waits until `group` has committed `last`; answers events per second since `started`.
async fn rate(store: &SqlStore, group: &str, last: i64, started: Instant) -> anyhow::Result<f64> {
    let deadline = started + Duration::from_secs(300);
    let mut ticker = tokio::time::interval(Duration::from_millis(5));
    while store.committed_offset(group, 0).await? < last {
        anyhow::ensure!(Instant::now() < deadline, "{group} did not finish");
        ticker.tick().await;
    }
    Ok(EVENTS as f64 / started.elapsed().as_secs_f64())
}

/// A group name of its own for each run (its offsets start at the beginning of the log).
fn group_name(kind: &str, round: usize) -> &'static str {
    Box::leak(format!("bench-{kind}-{round}").into_boxed_str())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Three rounds of the three ways, alternating, after a warm-up read of the whole log:
/// the median of each.
async fn measure(database: &TestDatabase) -> anyhow::Result<[f64; 3]> {
    let store = Arc::new(database.store().await);
    let last = fill(&store).await?;
    let interval = Duration::from_millis(10);
    let (stop_sender, stop) = tokio::sync::watch::channel(false);
    let runner = || Runner::new(Arc::clone(&store) as Arc<dyn Leases>, stop.clone());
    let group = |name: &'static str| {
        Arc::new(Counting {
            name,
            handled: AtomicU64::new(0),
        })
    };
    let log = || Arc::clone(&store) as Arc<dyn EventLog>;
    let warm = group("bench-warm");
    while veilgram_events::consume_once(store.as_ref(), warm.as_ref()).await? > 0 {}

    let mut rates = [Vec::new(), Vec::new(), Vec::new()];
    let mut tasks = Vec::new();
    for round in 0..3 {
        // The reference: the same loop, without a lease.
        let name = group_name("plain", round);
        let started = Instant::now();
        let plain = veilgram_events::spawn_consumer(log(), group(name), interval, None);
        rates[0].push(rate(&store, name, last, started).await?);
        plain.abort();

        let name = group_name("one", round);
        let started = Instant::now();
        tasks.push(runner().consumer(log(), group(name), interval, None));
        rates[1].push(rate(&store, name, last, started).await?);

        let name = group_name("two", round);
        let handler = group(name) as Arc<dyn EventHandler>;
        let started = Instant::now();
        tasks.push(runner().consumer(log(), Arc::clone(&handler), interval, None));
        tasks.push(runner().consumer(log(), handler, interval, None));
        rates[2].push(rate(&store, name, last, started).await?);
    }
    let _ = stop_sender.send(true);
    for task in tasks {
        task.await?;
    }
    let [plain, one, two] = rates;
    Ok([median(plain), median(one), median(two)])
}

pub async fn print(engines: &str) -> anyhow::Result<()> {
    println!("\nevent consumers ({EVENTS} events, a handler that does nothing)");
    println!(
        "| {:<10} | {:>16} | {:>16} | {:>16} | {:>8} |",
        "engine", "no lease ev/s", "1 process ev/s", "2 processes ev/s", "cost"
    );
    println!(
        "|{:-<12}|{:->18}|{:->18}|{:->18}|{:->10}|",
        "", "", "", "", ""
    );
    for engine in engines.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let database = match engine {
            "sqlite" => TestDatabase::sqlite(),
            "postgres" => TestDatabase::postgres().await,
            other => anyhow::bail!("unknown engine {other}"),
        };
        let [reference, leased, spread] = measure(&database).await?;
        println!(
            "| {engine:<10} | {reference:>16.0} | {leased:>16.0} | {spread:>16.0} | {:>7.1}% |",
            100.0 * (1.0 - spread.min(leased) / reference)
        );
    }
    println!("(medians of three alternating rounds after a warm-up; cost: the slower leased run against the reference, negative when within noise; one process of a group works at a time, the other stands by)");
    Ok(())
}
