//! Moving events from the outbox to the log, and from the log to consumers.
//!
//! # Layout
//! - [`relay_once`] / [`spawn_relay`]: outbox → log. Publishes first and removes from the outbox
//!   second, so a crash in between re-publishes (the log ignores a known event id) and never
//!   loses an event.
//! - [`EventHandler`], [`consume_once`] / [`spawn_consumer`]: log → handler, at least once. The
//!   committed offset moves only after the handler succeeded, so handlers must be idempotent.
//! - [`EventCounter`]: an in-process consumer that counts events by type for `/metrics`.
//! - [`Lease`]: one process at a time for a consumer group, the relay or a periodic task: the
//!   holder renews it, and another process takes over once the holder stops (it died, or
//!   released it on shutdown). A consumer's group is its name: its offsets are the group's.
//!
//! Every loop is also available as a single step, so tests drive them deterministically.

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;
use veilgram_core::events::LoggedEvent;
use veilgram_core::ports::{EventLog, EventPublisher, Leases, OutboxSource};
use veilgram_core::Timestamp;

pub const RELAY_BATCH: i64 = 256;
pub const CONSUMER_BATCH: i64 = 256;

/// Moves one batch from the outbox to the log. Returns how many events moved.
pub async fn relay_once(
    outbox: &dyn OutboxSource,
    publisher: &dyn EventPublisher,
) -> anyhow::Result<usize> {
    let pending = outbox.pending_events(RELAY_BATCH).await?;
    if pending.is_empty() {
        return Ok(0);
    }
    publisher.publish(&pending).await?;
    let ids: Vec<_> = pending.iter().map(|event| event.id).collect();
    outbox.remove_from_outbox(&ids).await?;
    Ok(pending.len())
}

/// How long a lease lasts unless renewed: a dead holder's work moves on after at most this.
pub const LEASE_TTL: Duration = Duration::from_secs(5);

/// This process's claim on one named piece of work, shared with other processes through
/// [`Leases`]. The holder renews when half the lease has run; the others try again every
/// quarter of it, so a dead holder's work resumes elsewhere within about `1.25 × ttl`.
pub struct Lease {
    leases: Arc<dyn Leases>,
    name: String,
    holder: Arc<str>,
    ttl: Duration,
    /// Whether this process held it at its last look, and when to look again.
    state: tokio::sync::Mutex<(bool, Option<Instant>)>,
}

impl Lease {
    pub fn new(leases: Arc<dyn Leases>, name: &str, holder: Arc<str>, ttl: Duration) -> Self {
        Self {
            leases,
            name: name.to_owned(),
            holder,
            ttl,
            state: tokio::sync::Mutex::new((false, None)),
        }
    }

    /// Whether this process holds the lease now (claiming or renewing it when due).
    pub async fn held(&self) -> anyhow::Result<bool> {
        let mut state = self.state.lock().await;
        let (held, next) = *state;
        if next.is_some_and(|next| Instant::now() < next) {
            return Ok(held);
        }
        let now = Timestamp::now();
        let held = self
            .leases
            .claim_lease(&self.name, &self.holder, self.ttl, now)
            .await
            .inspect_err(|_| *state = (false, None))?;
        let wait = if held { self.ttl / 2 } else { self.ttl / 4 };
        if held != state.0 {
            tracing::info!(lease = %self.name, held, "lease changed hands");
        }
        *state = (held, Some(Instant::now() + wait));
        Ok(held)
    }

    /// Gives the lease up if held, so that another process takes over at once.
    pub async fn release(&self) {
        let mut state = self.state.lock().await;
        if state.0 {
            if let Err(error) = self.leases.release_lease(&self.name, &self.holder).await {
                tracing::warn!(lease = %self.name, %error, "could not release a lease");
            }
        }
        *state = (false, None);
    }
}

/// What wakes a relay or consumer before its next poll: a value that changes when events were
/// written in this process (`SqlStore::event_wakeups`). Polling remains for the events other
/// processes write.
pub type Wakeups = Option<tokio::sync::watch::Receiver<u64>>;

/// Tells background loops to finish what they are doing and stop (`true` once shutting down).
pub type Stop = tokio::sync::watch::Receiver<bool>;

fn stopping(stop: &Stop) -> bool {
    *stop.borrow()
}

/// Waits for `wakeups` to change (forever without them); answers whether their sender is gone.
async fn woken(wakeups: &mut Wakeups) -> bool {
    match wakeups {
        Some(changes) => changes.changed().await.is_err(),
        None => std::future::pending().await,
    }
}

/// Runs `step` every `interval` or as soon as `wakeups` changes, and again at once while it
/// reports a full batch, while this process holds `lease` (when there is one), until `stop`
/// says so: then it finishes the step under way, releases the lease and ends. A failing step
/// is logged and retried at the next tick.
#[allow(clippy::too_many_arguments)]
fn spawn_batches<F, Fut>(
    what: &'static str,
    interval: Duration,
    mut wakeups: Wakeups,
    batch: usize,
    lease: Option<Lease>,
    mut stop: Stop,
    mut step: F,
) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<usize>> + Send,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !stopping(&stop) {
            let store_gone = tokio::select! {
                _ = ticker.tick() => false,
                _ = stop.changed() => continue,
                gone = woken(&mut wakeups) => gone,
            };
            if store_gone {
                wakeups = None; // polling only
            }
            if let Some(lease) = &lease {
                match lease.held().await {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(error) => {
                        tracing::warn!(task = what, error = %format!("{error:#}"), "cannot claim a lease; will retry");
                        continue;
                    }
                }
            }
            while !stopping(&stop) {
                match step().await {
                    Ok(done) if done == batch => continue,
                    Ok(_) => break,
                    Err(error) => {
                        tracing::warn!(task = what, error = %format!("{error:#}"), "event task failed; will retry");
                        break;
                    }
                }
            }
        }
        if let Some(lease) = &lease {
            lease.release().await;
        }
    })
}

/// Where this process's background work is coordinated with other processes': the leases,
/// this process's name among their holders, and the stop signal every loop obeys.
#[derive(Clone)]
pub struct Runner {
    leases: Arc<dyn Leases>,
    holder: Arc<str>,
    stop: Stop,
}

impl Runner {
    pub fn new(leases: Arc<dyn Leases>, stop: Stop) -> Self {
        let holder: Arc<str> = Arc::from(uuid::Uuid::new_v4().to_string());
        Self {
            leases,
            holder,
            stop,
        }
    }

    /// This process's claim on `name`.
    pub fn lease(&self, name: &str, ttl: Duration) -> Lease {
        Lease::new(
            Arc::clone(&self.leases),
            name,
            Arc::clone(&self.holder),
            ttl,
        )
    }

    pub fn stop(&self) -> Stop {
        self.stop.clone()
    }

    /// The outbox relay, in one process at a time.
    pub fn relay(
        &self,
        outbox: Arc<dyn OutboxSource>,
        publisher: Arc<dyn EventPublisher>,
        interval: Duration,
        wakeups: Wakeups,
    ) -> tokio::task::JoinHandle<()> {
        let lease = self.lease("relay", LEASE_TTL);
        relay_loop(
            outbox,
            publisher,
            interval,
            wakeups,
            Some(lease),
            self.stop(),
        )
    }

    /// A consumer group: each event is handled by one process of the group, the lease's holder.
    pub fn consumer(
        &self,
        log: Arc<dyn EventLog>,
        handler: Arc<dyn EventHandler>,
        interval: Duration,
        wakeups: Wakeups,
    ) -> tokio::task::JoinHandle<()> {
        let lease = self.lease(&format!("consumer:{}", handler.name()), LEASE_TTL);
        consumer_loop(log, handler, interval, wakeups, Some(lease), self.stop())
    }

    /// A per-process tap: every process sees every event from where `groups` stood (the
    /// least of them, per partition) when it started, keeping its place in memory (it commits
    /// nothing and is nobody's group).
    pub async fn tap(
        &self,
        log: Arc<dyn EventLog>,
        handler: Arc<dyn EventHandler>,
        groups: &[&str],
        interval: Duration,
        wakeups: Wakeups,
    ) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let mut from = Vec::new();
        for partition in 0..log.partitions() {
            let mut least: Option<i64> = None;
            for group in groups {
                let at = log.committed_offset(group, partition).await?;
                least = Some(least.map_or(at, |least| least.min(at)));
            }
            from.push(std::sync::atomic::AtomicI64::new(least.unwrap_or(0)));
        }
        let positions: Arc<[std::sync::atomic::AtomicI64]> = Arc::from(from);
        Ok(spawn_batches(
            handler.name(),
            interval,
            wakeups,
            CONSUMER_BATCH as usize,
            None,
            self.stop(),
            move || {
                let (log, handler, positions) = (
                    Arc::clone(&log),
                    Arc::clone(&handler),
                    Arc::clone(&positions),
                );
                async move { hand_over(log.as_ref(), handler.as_ref(), Place::Memory(&positions)).await }
            },
        ))
    }

    /// Runs `task` every `interval` in one process at a time (see [`spawn_every`]).
    pub fn every<F, Fut, E>(
        &self,
        interval: Duration,
        what: &'static str,
        mut task: F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(), E>> + Send,
        E: std::fmt::Display,
    {
        // Held across a few runs, so that one process keeps it while it is alive.
        let lease = self.lease(&format!("periodic:{what}"), (interval * 3).max(LEASE_TTL));
        spawn_batches(
            what,
            interval,
            None,
            usize::MAX,
            Some(lease),
            self.stop(),
            move || {
                let run = task();
                async move {
                    run.await
                        .map(|()| 0)
                        .map_err(|error| anyhow::anyhow!("{error}"))
                }
            },
        )
    }
}

/// Runs `task` every `interval` until aborted; a failed run is logged (as `what`) and the next
/// tick tries again. A run that overruns delays the next instead of bunching them up.
pub fn spawn_every<F, Fut, E>(
    interval: Duration,
    what: &'static str,
    mut task: F,
) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), E>> + Send,
    E: std::fmt::Display,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = task().await {
                tracing::warn!(%error, task = what, "a periodic task failed; retrying next tick");
            }
        }
    })
}

/// Relays every `interval` (and at once while batches come back full) until aborted, without
/// a lease (one process alone, or tests).
pub fn spawn_relay(
    outbox: Arc<dyn OutboxSource>,
    publisher: Arc<dyn EventPublisher>,
    interval: Duration,
    wakeups: Wakeups,
) -> tokio::task::JoinHandle<()> {
    relay_loop(outbox, publisher, interval, wakeups, None, never_stop())
}

fn relay_loop(
    outbox: Arc<dyn OutboxSource>,
    publisher: Arc<dyn EventPublisher>,
    interval: Duration,
    wakeups: Wakeups,
    lease: Option<Lease>,
    stop: Stop,
) -> tokio::task::JoinHandle<()> {
    spawn_batches(
        "outbox relay",
        interval,
        wakeups,
        RELAY_BATCH as usize,
        lease,
        stop,
        move || {
            let (outbox, publisher) = (Arc::clone(&outbox), Arc::clone(&publisher));
            async move { relay_once(outbox.as_ref(), publisher.as_ref()).await }
        },
    )
}

/// A stop signal that never fires (its sender is kept alive for the life of the process).
fn never_stop() -> Stop {
    static NEVER: std::sync::OnceLock<tokio::sync::watch::Sender<bool>> =
        std::sync::OnceLock::new();
    NEVER
        .get_or_init(|| tokio::sync::watch::channel(false).0)
        .subscribe()
}

/// The consumer port lives with the other ports; re-exported here, where consumers are run.
pub use veilgram_core::ports::EventHandler;

/// Where a consumer stands in each partition: a group's committed offsets, or a tap's place
/// kept in memory.
#[derive(Clone, Copy)]
enum Place<'a> {
    Group(&'a str),
    Memory(&'a [std::sync::atomic::AtomicI64]),
}

/// Hands `handler` one batch from each partition in turn, moving its place after each event
/// it handled; answers the most any partition gave (a full batch means there may be more).
async fn hand_over(
    log: &dyn EventLog,
    handler: &dyn EventHandler,
    place: Place<'_>,
) -> anyhow::Result<usize> {
    use std::sync::atomic::Ordering::Relaxed;
    let mut most = 0;
    for partition in 0..log.partitions() {
        let after = match place {
            Place::Group(group) => log.committed_offset(group, partition).await?,
            Place::Memory(positions) => positions[partition as usize].load(Relaxed),
        };
        let events = log.read_after(partition, after, CONSUMER_BATCH).await?;
        let commit = |offset: i64| async move {
            match place {
                Place::Group(group) => log.commit_offset(group, partition, offset).await,
                Place::Memory(positions) => {
                    positions[partition as usize].store(offset, Relaxed);
                    Ok(())
                }
            }
        };
        let batched = handler.batches();
        for event in &events {
            handler.handle(event).await?;
            if !batched {
                commit(event.offset).await?;
            }
        }
        // A batching handler's work becomes durable at its flush: only then may the offset
        // move past it (a failure before leaves the whole batch to be handled again).
        if let (true, Some(last)) = (batched, events.last()) {
            handler.flush().await?;
            commit(last.offset).await?;
        }
        most = most.max(events.len());
    }
    Ok(most)
}

/// Hands one batch of each partition to `handler`, committing after each event it handled (or
/// once after the batch, flushed, for a handler that [`batches`](EventHandler::batches)).
pub async fn consume_once(log: &dyn EventLog, handler: &dyn EventHandler) -> anyhow::Result<usize> {
    hand_over(log, handler, Place::Group(handler.name())).await
}

/// Consumes every `interval` (and at once while batches come back full) until aborted, without
/// a lease (one process alone, or tests).
pub fn spawn_consumer(
    log: Arc<dyn EventLog>,
    handler: Arc<dyn EventHandler>,
    interval: Duration,
    wakeups: Wakeups,
) -> tokio::task::JoinHandle<()> {
    consumer_loop(log, handler, interval, wakeups, None, never_stop())
}

fn consumer_loop(
    log: Arc<dyn EventLog>,
    handler: Arc<dyn EventHandler>,
    interval: Duration,
    wakeups: Wakeups,
    lease: Option<Lease>,
    stop: Stop,
) -> tokio::task::JoinHandle<()> {
    spawn_batches(
        handler.name(),
        interval,
        wakeups,
        CONSUMER_BATCH as usize,
        lease,
        stop,
        move || {
            let (log, handler) = (Arc::clone(&log), Arc::clone(&handler));
            async move { consume_once(log.as_ref(), handler.as_ref()).await }
        },
    )
}

/// Counts consumed events by type and remembers the newest offset: `/metrics` shows how far
/// consumers have come.
#[derive(Default)]
pub struct EventCounter {
    counts: Mutex<BTreeMap<String, u64>>,
    newest_offset: Mutex<i64>,
}

impl EventCounter {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP veilgram_events_consumed_total Domain events consumed, by type."
        );
        let _ = writeln!(out, "# TYPE veilgram_events_consumed_total counter");
        if let Ok(counts) = self.counts.lock() {
            for (event_type, count) in counts.iter() {
                let _ = writeln!(
                    out,
                    "veilgram_events_consumed_total{{type=\"{event_type}\"}} {count}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP veilgram_event_log_consumed_offset Newest event-log offset consumed."
        );
        let _ = writeln!(out, "# TYPE veilgram_event_log_consumed_offset gauge");
        let offset = self.newest_offset.lock().map_or(0, |offset| *offset);
        let _ = writeln!(out, "veilgram_event_log_consumed_offset {offset}");
        out
    }

    pub fn count(&self, event_type: &str) -> u64 {
        self.counts
            .lock()
            .map_or(0, |counts| counts.get(event_type).copied().unwrap_or(0))
    }
}

#[async_trait]
impl EventHandler for EventCounter {
    fn name(&self) -> &'static str {
        "event-counter"
    }

    async fn handle(&self, event: &LoggedEvent) -> anyhow::Result<()> {
        // Idempotent in effect: the offset check skips what this process already counted.
        let mut newest = self
            .newest_offset
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        if event.offset <= *newest {
            return Ok(());
        }
        *newest = event.offset;
        drop(newest);
        let mut counts = self
            .counts
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        *counts
            .entry(event.envelope.event.event_type().to_owned())
            .or_default() += 1;
        Ok(())
    }
}
