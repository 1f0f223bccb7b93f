//! Moving events from the outbox to the log, and from the log to consumers.
//!
//! # Layout
//! - [`relay_once`] / [`spawn_relay`]: outbox → log. Publishes first and removes from the outbox
//!   second, so a crash in between re-publishes (the log ignores a known event id) and never
//!   loses an event.
//! - [`EventHandler`], [`consume_once`] / [`spawn_consumer`]: log → handler, at least once. The
//!   committed offset moves only after the handler succeeded, so handlers must be idempotent.
//! - [`EventCounter`]: an in-process consumer that counts events by type for `/metrics`.
//!
//! Every loop is also available as a single step, so tests drive them deterministically.

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use veilgram_core::events::LoggedEvent;
use veilgram_core::ports::{EventLog, EventPublisher, OutboxSource};

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

/// What wakes a relay or consumer before its next poll: a value that changes when events were
/// written in this process (`SqlStore::event_wakeups`). Polling remains for the events other
/// processes write.
pub type Wakeups = Option<tokio::sync::watch::Receiver<u64>>;

/// Runs `step` every `interval` or as soon as `wakeups` changes, and again at once while it
/// reports a full batch, until the task is aborted. A failing step is logged and retried at the
/// next tick.
fn spawn_batches<F, Fut>(
    what: &'static str,
    interval: Duration,
    mut wakeups: Wakeups,
    batch: usize,
    mut step: F,
) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<usize>> + Send,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            match wakeups.as_mut() {
                Some(changes) => {
                    tokio::select! {
                        _ = ticker.tick() => {}
                        changed = changes.changed() => {
                            if changed.is_err() {
                                wakeups = None; // the store is gone: polling only
                            }
                        }
                    }
                }
                None => {
                    ticker.tick().await;
                }
            }
            loop {
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
    })
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

/// Relays every `interval` (and at once while batches come back full) until aborted.
pub fn spawn_relay(
    outbox: Arc<dyn OutboxSource>,
    publisher: Arc<dyn EventPublisher>,
    interval: Duration,
    wakeups: Wakeups,
) -> tokio::task::JoinHandle<()> {
    spawn_batches(
        "outbox relay",
        interval,
        wakeups,
        RELAY_BATCH as usize,
        move || {
            let (outbox, publisher) = (Arc::clone(&outbox), Arc::clone(&publisher));
            async move { relay_once(outbox.as_ref(), publisher.as_ref()).await }
        },
    )
}

/// A consumer of the event log. Delivery is at least once: `handle` may see an event again
/// after a crash, and must give the same result.
#[async_trait]
pub trait EventHandler: Send + Sync {
    /// The consumer's name: its committed offset is stored under it.
    fn name(&self) -> &'static str;
    async fn handle(&self, event: &LoggedEvent) -> anyhow::Result<()>;
}

/// Hands one batch to `handler`, committing after each event it handled. Returns how many.
pub async fn consume_once(log: &dyn EventLog, handler: &dyn EventHandler) -> anyhow::Result<usize> {
    let committed = log.committed_offset(handler.name()).await?;
    let events = log.read_after(committed, CONSUMER_BATCH).await?;
    for event in &events {
        handler.handle(event).await?;
        log.commit_offset(handler.name(), event.offset).await?;
    }
    Ok(events.len())
}

/// Consumes every `interval` (and at once while batches come back full) until aborted.
pub fn spawn_consumer(
    log: Arc<dyn EventLog>,
    handler: Arc<dyn EventHandler>,
    interval: Duration,
    wakeups: Wakeups,
) -> tokio::task::JoinHandle<()> {
    spawn_batches(
        handler.name(),
        interval,
        wakeups,
        CONSUMER_BATCH as usize,
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
        *counts.entry(event.envelope.event.event_type()).or_default() += 1;
        Ok(())
    }
}
