//! `PushDeviceStore` on the relational engines.

use crate::store::{column, id_column, translate};
use crate::SqlStore;
use async_trait::async_trait;
use sqlx::any::AnyRow;
use veilgram_core::ports::{PushDevice, PushDeviceStore, PushTarget};
use veilgram_core::{PushDeviceId, StoreError, Timestamp, UserId};

fn device_from_row(row: &AnyRow) -> Result<PushDevice, StoreError> {
    let platform: String = column(row, "platform")?;
    let token: String = column(row, "token")?;
    let target = match platform.as_str() {
        "fcm" => PushTarget::Fcm { token },
        "apns" => PushTarget::Apns { token },
        _ => PushTarget::WebPush {
            endpoint: token,
            p256dh: column::<Option<String>>(row, "p256dh")?.unwrap_or_default(),
            auth: column::<Option<String>>(row, "auth")?.unwrap_or_default(),
        },
    };
    Ok(PushDevice {
        id: id_column(row, "id")?,
        user_id: id_column(row, "user_id")?,
        target,
        created_at: Timestamp::from_millis(column(row, "created_at")?),
    })
}

#[async_trait]
impl PushDeviceStore for SqlStore {
    async fn register_device(&self, device: &PushDevice) -> Result<PushDevice, StoreError> {
        let (token, p256dh, auth) = match &device.target {
            PushTarget::Fcm { token } | PushTarget::Apns { token } => (token.as_str(), None, None),
            PushTarget::WebPush {
                endpoint,
                p256dh,
                auth,
            } => (
                endpoint.as_str(),
                Some(p256dh.as_str()),
                Some(auth.as_str()),
            ),
        };
        let mut transaction = self.begin_write().await?;
        let row = sqlx::query(
            "INSERT INTO push_devices (id, user_id, platform, token, p256dh, auth, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (platform, token) DO UPDATE SET user_id = excluded.user_id, \
             p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at \
             RETURNING id, user_id, platform, token, p256dh, auth, created_at",
        )
        .bind(device.id.to_string())
        .bind(device.user_id.to_string())
        .bind(device.target.platform())
        .bind(token)
        .bind(p256dh)
        .bind(auth)
        .bind(device.created_at.as_millis())
        .fetch_one(&mut *transaction)
        .await
        .map_err(translate)?;
        let stored = device_from_row(&row)?;
        transaction.commit().await?;
        Ok(stored)
    }

    async fn remove_device(&self, user_id: UserId, id: PushDeviceId) -> Result<(), StoreError> {
        let mut transaction = self.begin_write().await?;
        let removed = sqlx::query("DELETE FROM push_devices WHERE id = $1 AND user_id = $2")
            .bind(id.to_string())
            .bind(user_id.to_string())
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        transaction.commit().await?;
        if removed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn device(&self, id: PushDeviceId) -> Result<Option<PushDevice>, StoreError> {
        let row = sqlx::query(
            "SELECT id, user_id, platform, token, p256dh, auth, created_at FROM push_devices \
             WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(translate)?;
        row.as_ref().map(device_from_row).transpose()
    }

    async fn forget_device(&self, id: PushDeviceId) -> Result<(), StoreError> {
        let mut transaction = self.begin_write().await?;
        sqlx::query("DELETE FROM push_devices WHERE id = $1")
            .bind(id.to_string())
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        transaction.commit().await
    }

    async fn devices_of(&self, user_id: UserId) -> Result<Vec<PushDevice>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_id, platform, token, p256dh, auth, created_at FROM push_devices \
             WHERE user_id = $1 ORDER BY created_at",
        )
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(translate)?;
        rows.iter().map(device_from_row).collect()
    }
}
