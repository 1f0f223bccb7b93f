//! `Leases` on the relational engines: one row per lease, taken by a conditional upsert.

use crate::store::translate;
use crate::SqlStore;
use async_trait::async_trait;
use veilgram_core::ports::Leases;
use veilgram_core::{StoreError, Timestamp};

#[async_trait]
impl Leases for SqlStore {
    async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.begin_write().await?;
        // Taken when free, expired, or already ours; another holder's running lease stays.
        let claimed = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
               expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at <= $4",
        )
        .bind(name)
        .bind(holder)
        .bind(now.plus(ttl).as_millis())
        .bind(now.as_millis())
        .execute(&mut *transaction)
        .await
        .map_err(translate)?;
        transaction.commit().await?;
        Ok(claimed.rows_affected() == 1)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut transaction = self.begin_write().await?;
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        transaction.commit().await
    }
}
