//! `ServerSecrets` on the relational engines: keys every process shares (thread aliases, feed
//! cursors, client-address hashing), made once from the operating system's random source.

use crate::store::translate;
use crate::SqlStore;
use async_trait::async_trait;
use rand::RngCore;
use veilgram_core::ports::ServerSecrets;
use veilgram_core::StoreError;

#[async_trait]
impl ServerSecrets for SqlStore {
    async fn server_secret(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        let mut fresh = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut fresh);
        self.server_value(name, fresh.to_vec()).await
    }

    async fn server_value(&self, name: &str, fresh: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let mut transaction = self.begin_write().await?;
        // The first writer's value wins; everyone reads it back.
        sqlx::query(
            "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(fresh)
        .execute(&mut *transaction)
        .await
        .map_err(translate)?;
        let value: Vec<u8> = sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *transaction)
            .await
            .map_err(translate)?;
        transaction.commit().await?;
        Ok(value)
    }

    async fn stored_server_value(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(translate)
    }

    async fn replace_server_value(
        &self,
        name: &str,
        expected: &[u8],
        new: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.begin_write().await?;
        let replaced =
            sqlx::query("UPDATE server_secrets SET value = $1 WHERE name = $2 AND value = $3")
                .bind(new)
                .bind(name)
                .bind(expected.to_vec())
                .execute(&mut *transaction)
                .await
                .map_err(translate)?;
        transaction.commit().await?;
        Ok(replaced.rows_affected() == 1)
    }

    async fn forget_server_secret(&self, name: &str) -> Result<(), StoreError> {
        let mut transaction = self.begin_write().await?;
        sqlx::query("DELETE FROM server_secrets WHERE name = $1")
            .bind(name)
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        transaction.commit().await
    }
}
