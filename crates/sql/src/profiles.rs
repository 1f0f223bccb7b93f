//! `ProfileStore` on the relational engines: profiles, deactivation, deletion, export.

use crate::credentials::{insert_revocation, revoke_families, Families};
use crate::events::append_to_outbox;
use crate::store::{column, id_column, translate, WriteTransaction};
use crate::SqlStore;
use async_trait::async_trait;
use sqlx::any::AnyRow;
use veilgram_core::events::{DomainEvent, EventEnvelope};
use veilgram_core::ports::{
    ProfileChange, ProfileStore, Revocation, SessionSummary, UserChange, UserRecord,
};
use veilgram_core::{StoreError, Timestamp, UserId};

const USER_COLUMNS: &str = "id, nickname, status_message, avatar_media_id, created_at, \
     deactivated_at, followers_count, following_count, posts_count";

/// Appends to the profile change feed, in the transaction that changed the profile.
pub(crate) async fn record_user_change(
    transaction: &mut WriteTransaction,
    user_id: UserId,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO user_changes (user_id, changed_at) VALUES ($1, $2)")
        .bind(user_id.to_string())
        .bind(now.as_millis())
        .execute(&mut **transaction)
        .await
        .map_err(translate)?;
    Ok(())
}

/// Records a change to what anyone may see of an account (nickname, status, avatar,
/// deactivation, reactivation): the change feed entry (caches evict it) and the announcement.
pub(crate) async fn record_profile_change(
    transaction: &mut WriteTransaction,
    user_id: UserId,
    now: Timestamp,
) -> Result<(), StoreError> {
    record_user_change(transaction, user_id, now).await?;
    announce_profile(transaction, user_id, now).await
}

/// Appends `user.updated` to the outbox, for the consumers that keep a copy of profiles
/// (search). A sign-up announces its profile without a change feed entry: no cache holds it.
pub(crate) async fn announce_profile(
    transaction: &mut WriteTransaction,
    user_id: UserId,
    now: Timestamp,
) -> Result<(), StoreError> {
    let event = EventEnvelope::new(Some(user_id), now, DomainEvent::UserUpdated { user_id });
    append_to_outbox(transaction, &event).await
}

/// A user's name and picture as shown beside what they wrote.
pub(crate) struct Byline {
    pub nickname: String,
    pub avatar_media_id: Option<String>,
}

/// Moves one of a user's counters (`followers_count`, `following_count`, `posts_count`) by
/// `delta`, never below zero, and records the change so every process's profile cache evicts it.
/// Every counter change goes through here. Answers the user's byline, `None` when the counter
/// did not move (no such user, or it would have gone below zero).
pub(crate) async fn adjust_user_counter(
    transaction: &mut WriteTransaction,
    user_id: UserId,
    counter: &'static str,
    delta: i64,
    now: Timestamp,
) -> Result<Option<Byline>, StoreError> {
    let row = sqlx::query(&format!(
        "UPDATE users SET {counter} = {counter} + $1 WHERE id = $2 AND {counter} + $1 >= 0 \
         RETURNING nickname, avatar_media_id"
    ))
    .bind(delta)
    .bind(user_id.to_string())
    .fetch_optional(&mut **transaction)
    .await
    .map_err(translate)?;
    record_user_change(transaction, user_id, now).await?;
    row.map(|row| {
        Ok(Byline {
            nickname: column(&row, "nickname")?,
            avatar_media_id: column(&row, "avatar_media_id")?,
        })
    })
    .transpose()
}

fn user_from_row(row: &AnyRow) -> Result<UserRecord, StoreError> {
    user_from_row_prefixed(row, "")
}

/// Reads a user whose columns carry `prefix` (for queries that join users under an alias).
pub(crate) fn user_from_row_prefixed(row: &AnyRow, prefix: &str) -> Result<UserRecord, StoreError> {
    let name = |column_name: &str| format!("{prefix}{column_name}");
    Ok(UserRecord {
        id: id_column(row, &name("id"))?,
        nickname: column(row, &name("nickname"))?,
        status_message: column(row, &name("status_message"))?,
        avatar_media_id: column(row, &name("avatar_media_id"))?,
        created_at: Timestamp::from_millis(column(row, &name("created_at"))?),
        deactivated_at: column::<Option<i64>>(row, &name("deactivated_at"))?
            .map(Timestamp::from_millis),
        followers_count: column(row, &name("followers_count"))?,
        following_count: column(row, &name("following_count"))?,
        posts_count: column(row, &name("posts_count"))?,
    })
}

#[async_trait]
impl ProfileStore for SqlStore {
    async fn user(&self, user_id: UserId) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(user_id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(translate)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn update_profile(
        &self,
        user_id: UserId,
        change: &ProfileChange,
    ) -> Result<UserRecord, StoreError> {
        let mut transaction = self.begin_write().await?;
        if let Some((nickname, nickname_key)) = &change.nickname {
            sqlx::query("UPDATE users SET nickname = $1, nickname_key = $2 WHERE id = $3")
                .bind(nickname.as_str())
                .bind(nickname_key.as_str())
                .bind(user_id.to_string())
                .execute(&mut *transaction)
                .await
                .map_err(translate)?;
        }
        if let Some(avatar) = change.avatar {
            crate::media::set_avatar(&mut transaction, user_id, avatar, Timestamp::now()).await?;
        }
        if let Some(status_message) = &change.status_message {
            sqlx::query("UPDATE users SET status_message = $1 WHERE id = $2")
                .bind(status_message.as_str())
                .bind(user_id.to_string())
                .execute(&mut *transaction)
                .await
                .map_err(translate)?;
        }
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(user_id.to_string())
            .fetch_optional(&mut *transaction)
            .await
            .map_err(translate)?
            .ok_or(StoreError::NotFound)?;
        let user = user_from_row(&row)?;
        record_profile_change(&mut transaction, user_id, Timestamp::now()).await?;
        transaction.commit().await?;
        Ok(user)
    }

    async fn deactivate(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> Result<Vec<Revocation>, StoreError> {
        let mut transaction = self.begin_write().await?;
        let updated = sqlx::query("UPDATE users SET deactivated_at = $1 WHERE id = $2")
            .bind(now.as_millis())
            .bind(user_id.to_string())
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let revocations =
            revoke_families(&mut transaction, &Families::AllOfUser(user_id), now).await?;
        record_profile_change(&mut transaction, user_id, now).await?;
        transaction.commit().await?;
        Ok(revocations)
    }

    async fn delete_account(
        &self,
        user_id: UserId,
        now: Timestamp,
        event: &EventEnvelope,
    ) -> Result<Revocation, StoreError> {
        let mut transaction = self.begin_write().await?;
        // Counters elsewhere first: the cascade below removes the rows they count.
        for sql in [
            "INSERT INTO user_changes (user_id, changed_at) \
             SELECT followee_id, $2 FROM follows WHERE follower_id = $1 \
             UNION SELECT follower_id, $2 FROM follows WHERE followee_id = $1",
            "UPDATE users SET followers_count = followers_count - 1 WHERE followers_count > 0 \
             AND id IN (SELECT followee_id FROM follows WHERE follower_id = $1) AND $2 = $2",
            "UPDATE users SET following_count = following_count - 1 WHERE following_count > 0 \
             AND id IN (SELECT follower_id FROM follows WHERE followee_id = $1) AND $2 = $2",
            "UPDATE posts SET like_count = like_count - 1 WHERE like_count > 0 \
             AND id IN (SELECT post_id FROM post_likes WHERE user_id = $1) AND $2 = $2",
            "UPDATE comments SET like_count = like_count - 1 WHERE like_count > 0 \
             AND id IN (SELECT comment_id FROM comment_likes WHERE user_id = $1) AND $2 = $2",
            "UPDATE posts SET comment_count = comment_count - (SELECT COUNT(*) FROM comments c \
             WHERE c.post_id = posts.id AND c.author_id = $1 AND c.deleted_at IS NULL) \
             WHERE id IN (SELECT post_id FROM comments WHERE author_id = $1 AND deleted_at IS NULL) \
             AND $2 = $2",
            "UPDATE poll_options SET votes = votes - 1 WHERE votes > 0 AND EXISTS (SELECT 1 FROM poll_votes v \
             WHERE v.user_id = $1 AND v.poll_id = poll_options.poll_id AND v.option_index = poll_options.option_index) \
             AND $2 = $2",
            "UPDATE polls SET total_votes = total_votes - 1 WHERE total_votes > 0 \
             AND id IN (SELECT poll_id FROM poll_votes WHERE user_id = $1) AND $2 = $2",
            // What they wrote is erased; the rows stay as [deleted] where replies hang from
            // them (the author column empties with the account, ON DELETE SET NULL).
            "UPDATE comments SET text = '', deleted_at = $2 WHERE author_id = $1 AND deleted_at IS NULL",
            // A moderator who leaves is no longer named in what they decided.
            "UPDATE moderation_log SET actor = 'moderator' WHERE actor = $1 AND $2 = $2",
            "UPDATE reports SET resolved_by = 'moderator' WHERE resolved_by = $1 AND $2 = $2",
        ] {
            sqlx::query(sql)
                .bind(user_id.to_string())
                .bind(now.as_millis())
                .execute(&mut *transaction)
                .await
                .map_err(translate)?;
        }
        crate::media::discard_now(
            &mut transaction,
            crate::media::Discard::OfOwner(user_id),
            now,
        )
        .await?;
        // Session families and refresh tokens go with the row (ON DELETE CASCADE).
        let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id.to_string())
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let revocation = Revocation::Subject {
            user_id,
            revoked_at: now,
        };
        insert_revocation(&mut transaction, &revocation, now).await?;
        record_user_change(&mut transaction, user_id, now).await?;
        append_to_outbox(&mut transaction, event).await?;
        transaction.commit().await?;
        Ok(revocation)
    }

    async fn sessions(&self, user_id: UserId) -> Result<Vec<SessionSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, created_at, expires_at, revoked_at FROM session_families \
             WHERE user_id = $1 ORDER BY created_at",
        )
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(translate)?;
        rows.iter()
            .map(|row| {
                Ok(SessionSummary {
                    family_id: id_column(row, "id")?,
                    created_at: Timestamp::from_millis(column(row, "created_at")?),
                    expires_at: Timestamp::from_millis(column(row, "expires_at")?),
                    revoked_at: column::<Option<i64>>(row, "revoked_at")?
                        .map(Timestamp::from_millis),
                })
            })
            .collect()
    }

    async fn user_changes_since(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<UserChange>, StoreError> {
        let rows = sqlx::query(
            "SELECT sequence, user_id FROM user_changes WHERE sequence > $1 ORDER BY sequence LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(translate)?;
        rows.iter()
            .map(|row| {
                Ok(UserChange {
                    sequence: column(row, "sequence")?,
                    user_id: id_column(row, "user_id")?,
                })
            })
            .collect()
    }

    async fn purge_user_changes(&self, before: Timestamp) -> Result<u64, StoreError> {
        let mut transaction = self.begin_write().await?;
        let removed = sqlx::query("DELETE FROM user_changes WHERE changed_at < $1")
            .bind(before.as_millis())
            .execute(&mut *transaction)
            .await
            .map_err(translate)?
            .rows_affected();
        transaction.commit().await?;
        Ok(removed)
    }
}
