//! `Idempotency-Key`: the first answer to (user, operation, key) is remembered for a window, so
//! that a retry returns it instead of creating something again.

use crate::store::{column, translate, WriteTransaction};
use veilgram_core::error::Conflict;
use veilgram_core::ports::IdempotencyKey;
use veilgram_core::{StoreError, Timestamp};

/// Claims `key` for `resource_id` inside the creating transaction. Returns the id of what an
/// earlier request with the same key and body created (the caller then creates nothing), or
/// `Conflict(Conflict::IdempotencyMismatch)` when the key came with another body.
pub(crate) async fn claim(
    transaction: &mut WriteTransaction,
    key: &IdempotencyKey,
    resource_id: &str,
    now: Timestamp,
) -> Result<Option<String>, StoreError> {
    let seen = sqlx::query(
        "SELECT request_hash, resource_id FROM idempotency_keys \
         WHERE user_id = $1 AND scope = $2 AND key = $3 AND created_at >= $4",
    )
    .bind(key.user_id.to_string())
    .bind(key.scope)
    .bind(key.key.as_str())
    .bind(key.not_before.as_millis())
    .fetch_optional(&mut **transaction)
    .await
    .map_err(translate)?;
    if let Some(seen) = seen {
        let request_hash: Vec<u8> = column(&seen, "request_hash")?;
        if request_hash != key.request_hash {
            return Err(StoreError::Conflict(Conflict::IdempotencyMismatch));
        }
        return Ok(Some(column(&seen, "resource_id")?));
    }
    // An expired record of the same key is replaced.
    sqlx::query("DELETE FROM idempotency_keys WHERE user_id = $1 AND scope = $2 AND key = $3")
        .bind(key.user_id.to_string())
        .bind(key.scope)
        .bind(key.key.as_str())
        .execute(&mut **transaction)
        .await
        .map_err(translate)?;
    sqlx::query(
        "INSERT INTO idempotency_keys (user_id, scope, key, request_hash, resource_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(key.user_id.to_string())
    .bind(key.scope)
    .bind(key.key.as_str())
    .bind(key.request_hash.to_vec())
    .bind(resource_id)
    .bind(now.as_millis())
    .execute(&mut **transaction)
    .await
    .map_err(translate)?;
    Ok(None)
}
