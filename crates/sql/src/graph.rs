//! `GraphStore` on the relational engines: follows and blocks, with the counters on `users` kept
//! in the same transaction.

use crate::events::append_to_outbox;
use crate::profiles::{adjust_user_counter, user_from_row_prefixed};
use crate::store::{column, translate, WriteTransaction};
use crate::SqlStore;
use async_trait::async_trait;
use veilgram_core::events::EventEnvelope;
use veilgram_core::ports::{Changed, GraphCursor, GraphEntry, GraphList, GraphStore};
use veilgram_core::{StoreError, Timestamp, UserId};

/// Whether either of `$1`, `$2` blocked the other.
const BLOCKED_EITHER_WAY: &str =
    "SELECT blocker_id FROM blocks WHERE (blocker_id = $1 AND blocked_id = $2) \
     OR (blocker_id = $2 AND blocked_id = $1)";

async fn user_is_active(
    transaction: &mut WriteTransaction,
    user_id: UserId,
) -> Result<bool, StoreError> {
    let found: Option<String> =
        sqlx::query_scalar("SELECT id FROM users WHERE id = $1 AND deactivated_at IS NULL")
            .bind(user_id.to_string())
            .fetch_optional(&mut **transaction)
            .await
            .map_err(translate)?;
    Ok(found.is_some())
}

/// Whether either user blocked the other, on a pool or inside a transaction.
async fn blocked_either_way_on<'c, E>(
    executor: E,
    first: UserId,
    second: UserId,
) -> Result<bool, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let found: Option<String> = sqlx::query_scalar(BLOCKED_EITHER_WAY)
        .bind(first.to_string())
        .bind(second.to_string())
        .fetch_optional(executor)
        .await
        .map_err(translate)?;
    Ok(found.is_some())
}

/// Removes one follow edge and adjusts both counters. Returns whether it existed.
async fn remove_follow(
    transaction: &mut WriteTransaction,
    follower: UserId,
    followee: UserId,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let deleted = sqlx::query("DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2")
        .bind(follower.to_string())
        .bind(followee.to_string())
        .execute(&mut **transaction)
        .await
        .map_err(translate)?;
    if deleted.rows_affected() == 0 {
        return Ok(false);
    }
    adjust_follow_counts(transaction, follower, followee, -1, now).await?;
    Ok(true)
}

async fn adjust_follow_counts(
    transaction: &mut WriteTransaction,
    follower: UserId,
    followee: UserId,
    delta: i64,
    now: Timestamp,
) -> Result<(), StoreError> {
    adjust_user_counter(transaction, follower, "following_count", delta, now).await?;
    adjust_user_counter(transaction, followee, "followers_count", delta, now).await?;
    Ok(())
}

#[async_trait]
impl GraphStore for SqlStore {
    async fn blocked_either_way(&self, first: UserId, second: UserId) -> Result<bool, StoreError> {
        blocked_either_way_on(&self.pool, first, second).await
    }

    async fn follows(&self, follower: UserId, followee: UserId) -> Result<bool, StoreError> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT follower_id FROM follows WHERE follower_id = $1 AND followee_id = $2",
        )
        .bind(follower.to_string())
        .bind(followee.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(translate)?;
        Ok(found.is_some())
    }

    async fn follow(
        &self,
        follower: UserId,
        followee: UserId,
        now: Timestamp,
        event: &EventEnvelope,
    ) -> Result<Changed, StoreError> {
        let mut transaction = self.begin_write().await?;
        if !user_is_active(&mut transaction, followee).await?
            || blocked_either_way_on(&mut *transaction, follower, followee).await?
        {
            return Err(StoreError::NotFound);
        }
        let inserted = sqlx::query(
            "INSERT INTO follows (follower_id, followee_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(follower.to_string())
        .bind(followee.to_string())
        .bind(now.as_millis())
        .execute(&mut *transaction)
        .await
        .map_err(translate)?;
        if inserted.rows_affected() == 0 {
            return Ok(Changed::AlreadySo);
        }
        adjust_follow_counts(&mut transaction, follower, followee, 1, now).await?;
        append_to_outbox(&mut transaction, event).await?;
        transaction.commit().await?;
        Ok(Changed::Yes)
    }

    async fn unfollow(
        &self,
        follower: UserId,
        followee: UserId,
        event: &EventEnvelope,
    ) -> Result<Changed, StoreError> {
        let mut transaction = self.begin_write().await?;
        if !remove_follow(&mut transaction, follower, followee, event.occurred_at).await? {
            return Ok(Changed::AlreadySo);
        }
        append_to_outbox(&mut transaction, event).await?;
        transaction.commit().await?;
        Ok(Changed::Yes)
    }

    async fn block(
        &self,
        blocker: UserId,
        blocked: UserId,
        now: Timestamp,
        event: &EventEnvelope,
    ) -> Result<Changed, StoreError> {
        let mut transaction = self.begin_write().await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
            .bind(blocked.to_string())
            .fetch_optional(&mut *transaction)
            .await
            .map_err(translate)?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let inserted = sqlx::query(
            "INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(blocker.to_string())
        .bind(blocked.to_string())
        .bind(now.as_millis())
        .execute(&mut *transaction)
        .await
        .map_err(translate)?;
        if inserted.rows_affected() == 0 {
            return Ok(Changed::AlreadySo);
        }
        remove_follow(&mut transaction, blocker, blocked, now).await?;
        remove_follow(&mut transaction, blocked, blocker, now).await?;
        append_to_outbox(&mut transaction, event).await?;
        transaction.commit().await?;
        Ok(Changed::Yes)
    }

    async fn unblock(
        &self,
        blocker: UserId,
        blocked: UserId,
        event: &EventEnvelope,
    ) -> Result<Changed, StoreError> {
        let mut transaction = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2")
            .bind(blocker.to_string())
            .bind(blocked.to_string())
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        if deleted.rows_affected() == 0 {
            return Ok(Changed::AlreadySo);
        }
        append_to_outbox(&mut transaction, event).await?;
        transaction.commit().await?;
        Ok(Changed::Yes)
    }

    async fn list(
        &self,
        user_id: UserId,
        which: GraphList,
        viewer: Option<UserId>,
        after: Option<GraphCursor>,
        limit: i64,
    ) -> Result<Vec<GraphEntry>, StoreError> {
        // Follow lists leave out people blocked either way; the block list is only blocks.
        let not_blocked = "AND NOT EXISTS (SELECT 1 FROM blocks b WHERE \
             (b.blocker_id = u.id AND b.blocked_id = $2) OR (b.blocker_id = $2 AND b.blocked_id = u.id))";
        let (table, anchor, listed, condition) = match which {
            GraphList::Followers => ("follows", "followee_id", "follower_id", not_blocked),
            GraphList::Following => ("follows", "follower_id", "followee_id", not_blocked),
            GraphList::Blocked => ("blocks", "blocker_id", "blocked_id", "AND $2 = $2"),
        };
        let sql = format!(
            "SELECT f.created_at AS since, u.id AS u_id, u.nickname AS u_nickname, \
             u.status_message AS u_status_message, u.avatar_media_id AS u_avatar_media_id, \
             u.created_at AS u_created_at, u.deactivated_at AS u_deactivated_at, \
             u.followers_count AS u_followers_count, u.following_count AS u_following_count, \
             u.posts_count AS u_posts_count \
             FROM {table} f JOIN users u ON u.id = f.{listed} \
             WHERE f.{anchor} = $1 AND u.deactivated_at IS NULL {condition} \
             AND (f.created_at < $3 OR (f.created_at = $3 AND u.id < $4)) \
             ORDER BY f.created_at DESC, u.id DESC LIMIT $5"
        );
        let (since, last_id) = match after {
            Some(cursor) => (cursor.since.as_millis(), cursor.user_id.to_string()),
            None => (i64::MAX, "g".to_owned()),
        };
        let rows = sqlx::query(&sql)
            .bind(user_id.to_string())
            .bind(viewer.map(|viewer| viewer.to_string()).unwrap_or_default())
            .bind(since)
            .bind(last_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(translate)?;
        rows.iter()
            .map(|row| {
                Ok(GraphEntry {
                    user: user_from_row_prefixed(row, "u_")?,
                    since: Timestamp::from_millis(column(row, "since")?),
                })
            })
            .collect()
    }
}
