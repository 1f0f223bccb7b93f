//! `AddressBlockStore`: blocked networks as keyed hashes, one row per day a block lasts.

use crate::store::{column, id_column, translate};
use crate::SqlStore;
use async_trait::async_trait;
use veilgram_core::ports::{AddressBlock, AddressBlockKind, AddressBlockStore, DayHash};
use veilgram_core::{AddressBlockId, StoreError, Timestamp};

#[async_trait]
impl AddressBlockStore for SqlStore {
    async fn add_address_block(
        &self,
        block: &AddressBlock,
        hashes: &[DayHash],
    ) -> Result<(), StoreError> {
        let mut transaction = self.begin_write().await?;
        sqlx::query("DELETE FROM address_blocks WHERE until <= $1")
            .bind(block.created_at.as_millis())
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        sqlx::query(
            "INSERT INTO address_blocks (id, kind, family, prefix, reason, until, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(block.id.to_string())
        .bind(block.kind.name())
        .bind(block.family)
        .bind(i64::from(block.prefix))
        .bind(block.reason.as_str())
        .bind(block.until.as_millis())
        .bind(block.created_at.as_millis())
        .execute(&mut *transaction)
        .await
        .map_err(translate)?;
        for hash in hashes {
            sqlx::query(
                "INSERT INTO address_block_hashes (block_id, day, hash) VALUES ($1, $2, $3)",
            )
            .bind(block.id.to_string())
            .bind(hash.day)
            .bind(hash.hash.as_str())
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        }
        transaction.commit().await
    }

    async fn address_blocks(&self, now: Timestamp) -> Result<Vec<AddressBlock>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, family, prefix, reason, until, created_at FROM address_blocks \
             WHERE until > $1 ORDER BY id DESC LIMIT 1000",
        )
        .bind(now.as_millis())
        .fetch_all(&self.pool)
        .await
        .map_err(translate)?;
        rows.iter()
            .map(|row| {
                let kind: String = column(row, "kind")?;
                let family: String = column(row, "family")?;
                let prefix: i64 = column(row, "prefix")?;
                Ok(AddressBlock {
                    id: id_column(row, "id")?,
                    kind: AddressBlockKind::parse(&kind).unwrap_or(AddressBlockKind::Manual),
                    family: if family == "ipv6" { "ipv6" } else { "ipv4" },
                    prefix: u8::try_from(prefix).unwrap_or(0),
                    reason: column(row, "reason")?,
                    until: Timestamp::from_millis(column(row, "until")?),
                    created_at: Timestamp::from_millis(column(row, "created_at")?),
                })
            })
            .collect()
    }

    async fn blocked_hashes(&self, day: i64, now: Timestamp) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT h.hash FROM address_block_hashes h \
             JOIN address_blocks b ON b.id = h.block_id \
             WHERE h.day = $1 AND b.until > $2",
        )
        .bind(day)
        .bind(now.as_millis())
        .fetch_all(&self.pool)
        .await
        .map_err(translate)
    }

    async fn lift_address_block(&self, id: AddressBlockId) -> Result<bool, StoreError> {
        let mut transaction = self.begin_write().await?;
        sqlx::query("DELETE FROM address_block_hashes WHERE block_id = $1")
            .bind(id.to_string())
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        let deleted = sqlx::query("DELETE FROM address_blocks WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        transaction.commit().await?;
        Ok(deleted.rows_affected() > 0)
    }
}

#[async_trait]
impl veilgram_core::ports::StandingStore for SqlStore {
    async fn standing(
        &self,
        user: veilgram_core::UserId,
        now: Timestamp,
    ) -> Result<Option<veilgram_core::ports::Standing>, StoreError> {
        let day_ago = now.as_millis() - 24 * 3600 * 1000;
        let row = sqlx::query(
            "SELECT u.created_at, \
               (SELECT COUNT(*) FROM posts p WHERE p.author_id = u.id AND p.created_at < $2 \
                  AND p.moderation_state = 'visible') \
             + (SELECT COUNT(*) FROM comments c WHERE c.author_id = u.id AND c.created_at < $2 \
                  AND c.deleted_at IS NULL) AS kept \
             FROM users u WHERE u.id = $1",
        )
        .bind(user.to_string())
        .bind(day_ago)
        .fetch_optional(&self.pool)
        .await
        .map_err(translate)?;
        row.map(|row| {
            Ok(veilgram_core::ports::Standing {
                created_at: Timestamp::from_millis(column(&row, "created_at")?),
                content_kept: column(&row, "kept")?,
            })
        })
        .transpose()
    }
}
