//! The transactional outbox and the embedded event log.
//!
//! Services' write transactions call [`append_to_outbox`]; the relay moves outbox rows into
//! `event_log` (the embedded stand-in for Kafka), where consumers read by offset.

use crate::store::{column, id_column, optional_id_column, translate, WriteTransaction};
use crate::{Engine, SqlStore};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use veilgram_core::events::{DomainEvent, EventEnvelope, LoggedEvent};
use veilgram_core::ports::{EventLog, EventPublisher, OutboxSource};
use veilgram_core::{EventId, StoreError, Timestamp};

/// Writes `event` into the outbox inside the caller's transaction.
pub(crate) async fn append_to_outbox(
    transaction: &mut WriteTransaction,
    event: &EventEnvelope,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox (id, event_type, version, occurred_at, actor_id, payload) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(event.id.to_string())
    .bind(event.event.event_type())
    .bind(event.version)
    .bind(event.occurred_at.as_millis())
    .bind(event.actor.map(|actor| actor.to_string()))
    .bind(event.event.payload().to_string())
    .execute(&mut **transaction)
    .await
    .map_err(translate)?;
    transaction.wrote_events = true;
    Ok(())
}

fn envelope_from_row(row: &AnyRow) -> Result<EventEnvelope, StoreError> {
    let event_type: String = column(row, "event_type")?;
    let payload: String = column(row, "payload")?;
    let payload: serde_json::Value = serde_json::from_str(&payload)
        .map_err(|error| StoreError::Unavailable(format!("stored event payload: {error}")))?;
    let event = DomainEvent::from_parts(&event_type, payload)
        .map_err(|error| StoreError::Unavailable(format!("stored event {event_type}: {error}")))?;
    Ok(EventEnvelope {
        id: id_column(row, "id")?,
        version: column(row, "version")?,
        occurred_at: Timestamp::from_millis(column(row, "occurred_at")?),
        actor: optional_id_column(row, "actor_id")?,
        event,
    })
}

#[async_trait]
impl OutboxSource for SqlStore {
    async fn pending_events(&self, limit: i64) -> Result<Vec<EventEnvelope>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, event_type, version, occurred_at, actor_id, payload FROM outbox \
             ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(translate)?;
        rows.iter().map(envelope_from_row).collect()
    }

    async fn remove_from_outbox(&self, ids: &[EventId]) -> Result<(), StoreError> {
        let mut transaction = self.begin_write().await?;
        for id in ids {
            sqlx::query("DELETE FROM outbox WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *transaction)
                .await
                .map_err(translate)?;
        }
        transaction.commit().await
    }
}

#[async_trait]
impl EventPublisher for SqlStore {
    async fn publish(&self, events: &[EventEnvelope]) -> Result<(), StoreError> {
        let mut transaction = self.begin_write().await?;
        if self.engine() == Engine::Postgres {
            // Offsets must become visible in the order they are handed out, or a consumer could
            // commit past an offset whose transaction is still open. One appender at a time.
            sqlx::query("LOCK TABLE event_log IN EXCLUSIVE MODE")
                .execute(&mut *transaction)
                .await
                .map_err(translate)?;
        }
        for event in events {
            sqlx::query(
                "INSERT INTO event_log (id, event_type, version, occurred_at, actor_id, payload) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
            )
            .bind(event.id.to_string())
            .bind(event.event.event_type())
            .bind(event.version)
            .bind(event.occurred_at.as_millis())
            .bind(event.actor.map(|actor| actor.to_string()))
            .bind(event.event.payload().to_string())
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        }
        transaction.wrote_events = !events.is_empty();
        transaction.commit().await
    }
}

/// The embedded log is one partition: any other is an error, never silently empty.
fn only_partition(partition: u32) -> Result<(), StoreError> {
    if partition == 0 {
        Ok(())
    } else {
        Err(StoreError::Unavailable(format!(
            "the embedded event log has one partition, not {partition}"
        )))
    }
}

#[async_trait]
impl EventLog for SqlStore {
    fn partitions(&self) -> u32 {
        1
    }

    async fn read_after(
        &self,
        partition: u32,
        after: i64,
        limit: i64,
    ) -> Result<Vec<LoggedEvent>, StoreError> {
        only_partition(partition)?;
        let rows = sqlx::query(
            "SELECT log_offset, id, event_type, version, occurred_at, actor_id, payload \
             FROM event_log WHERE log_offset > $1 ORDER BY log_offset LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(translate)?;
        rows.iter()
            .map(|row| {
                Ok(LoggedEvent {
                    offset: column(row, "log_offset")?,
                    envelope: envelope_from_row(row)?,
                })
            })
            .collect()
    }

    async fn committed_offset(&self, group: &str, partition: u32) -> Result<i64, StoreError> {
        only_partition(partition)?;
        let offset: Option<i64> =
            sqlx::query_scalar("SELECT log_offset FROM consumer_offsets WHERE consumer = $1")
                .bind(group)
                .fetch_optional(&self.pool)
                .await
                .map_err(translate)?;
        Ok(offset.unwrap_or(0))
    }

    async fn commit_offset(
        &self,
        group: &str,
        partition: u32,
        offset: i64,
    ) -> Result<(), StoreError> {
        only_partition(partition)?;
        let mut transaction = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO consumer_offsets (consumer, log_offset) VALUES ($1, $2) \
             ON CONFLICT (consumer) DO UPDATE SET log_offset = excluded.log_offset \
             WHERE consumer_offsets.log_offset < excluded.log_offset",
        )
        .bind(group)
        .bind(offset)
        .execute(&mut *transaction)
        .await
        .map_err(translate)?;
        transaction.commit().await
    }
}
