//! Events: the outbox, the partitioned log with its consumer groups, and the consumer port.

use super::*;

/// The outbox side of the relay: events written by services' transactions, not yet published.
#[async_trait]
pub trait OutboxSource: Send + Sync {
    /// The oldest unpublished events, at most `limit`.
    async fn pending_events(&self, limit: i64) -> Result<Vec<EventEnvelope>, StoreError>;

    async fn remove_from_outbox(&self, ids: &[EventId]) -> Result<(), StoreError>;
}

/// Appends events to the durable log. Publishing the same event id twice must not duplicate it
/// (the embedded log ignores a known id; a broker adapter relies on idempotent consumers).
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, events: &[EventEnvelope]) -> Result<(), StoreError>;
}

/// The reading side of the log, with per-consumer committed offsets.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// How many partitions the log has. An event goes to
    /// [`partition_of`](crate::events::partition_of)`(its partition key, partitions)`, so one
    /// aggregate's events keep their order; offsets are per partition per consumer group, as a
    /// broker's are. The embedded log has one.
    fn partitions(&self) -> u32;

    /// Events of `partition` with an offset above `after`, in order, at most `limit`.
    async fn read_after(
        &self,
        partition: u32,
        after: i64,
        limit: i64,
    ) -> Result<Vec<LoggedEvent>, StoreError>;

    /// Where `group` stands in `partition` (0 before it has read anything).
    async fn committed_offset(&self, group: &str, partition: u32) -> Result<i64, StoreError>;

    /// Moves `group` forward in `partition` to `offset`; never backwards.
    async fn commit_offset(
        &self,
        group: &str,
        partition: u32,
        offset: i64,
    ) -> Result<(), StoreError>;
}

/// A consumer of the event log: one group (its name), handed each event at least once —
/// `handle` may see an event again after a crash or a takeover, and must give the same result.
#[async_trait]
pub trait EventHandler: Send + Sync {
    /// The consumer group's name: its committed offsets and its lease are stored under it.
    fn name(&self) -> &'static str;
    async fn handle(&self, event: &LoggedEvent) -> anyhow::Result<()>;

    /// Whether what `handle` did is durable only after [`flush`](Self::flush): then the group's
    /// offset moves once per batch, after the flush, instead of after each event (for a store
    /// whose commit is costly, such as a search index).
    fn batches(&self) -> bool {
        false
    }

    /// Makes what the events handled since the last flush did durable.
    async fn flush(&self) -> anyhow::Result<()> {
        Ok(())
    }
}
