//! `NotificationStore` on the relational engines.

use crate::store::{column, id_column, optional_id_column, translate};
use crate::SqlStore;
use async_trait::async_trait;
use sqlx::any::AnyRow;
use veilgram_core::ports::{
    NewNotification, NotificationKind, NotificationRecord, NotificationStore,
};
use veilgram_core::{EventId, NotificationId, PollId, PostId, StoreError, Timestamp, UserId};

/// Handled event ids are remembered this long (far beyond any redelivery).
const NOTIFIED_KEPT_MILLIS: i64 = 7 * 24 * 3600 * 1000;

const COLUMNS: &str = "n.id, n.user_id, n.kind, \
     CASE WHEN n.hide_actor = 1 THEN NULL ELSE n.actor_id END AS shown_actor, \
     n.actors, n.post_id, n.comment_id, n.created_at, n.read_at";

fn record_from_row(row: &AnyRow) -> Result<NotificationRecord, StoreError> {
    let kind: String = column(row, "kind")?;
    Ok(NotificationRecord {
        id: id_column(row, "id")?,
        user_id: id_column(row, "user_id")?,
        kind: NotificationKind::parse(&kind)
            .ok_or_else(|| StoreError::Unavailable(format!("unknown notification kind {kind}")))?,
        actor_id: optional_id_column(row, "shown_actor")?,
        actors: column(row, "actors")?,
        post_id: optional_id_column(row, "post_id")?,
        comment_id: optional_id_column(row, "comment_id")?,
        created_at: Timestamp::from_millis(column(row, "created_at")?),
        read: column::<Option<i64>>(row, "read_at")?.is_some(),
    })
}

/// The subject grouped notifications share (one unread row per recipient and group).
/// Notifications (alias `n`) still shown: between people who have not blocked one another
/// since, unless the actor is hidden (an anonymous thread: a notification vanishing after a
/// block would say which alias the blocked account was).
const SHOWN: &str = "(n.hide_actor = 1 OR NOT EXISTS (SELECT 1 FROM blocks b \
     WHERE (b.blocker_id = n.user_id AND b.blocked_id = n.actor_id) \
        OR (b.blocker_id = n.actor_id AND b.blocked_id = n.user_id)))";

fn group_key(notification: &NewNotification) -> Option<String> {
    if !notification.kind.groups() {
        return None;
    }
    let subject = notification
        .post_id
        .map_or_else(String::new, |post| post.to_string());
    Some(format!("{}:{subject}", notification.kind.as_str()))
}

#[async_trait]
impl NotificationStore for SqlStore {
    async fn notify(
        &self,
        event_id: EventId,
        notifications: &[NewNotification],
        now: Timestamp,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let mut transaction = self.begin_write().await?;
        let first_time = sqlx::query(
            "INSERT INTO notified_events (event_id, created_at) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(event_id.to_string())
        .bind(now.as_millis())
        .execute(&mut *transaction)
        .await
        .map_err(translate)?;
        if first_time.rows_affected() == 0 {
            transaction.commit().await?;
            return Ok(Vec::new());
        }
        let mut made = Vec::new();
        for notification in notifications {
            if Some(notification.user_id) == notification.actor_id {
                continue;
            }
            // The recipient must exist, and neither may have blocked the other. About an
            // anonymous thread (the actor hidden), account blocks do not count: a notification
            // missing for one alias would tell the recipient it is someone they blocked; what
            // counts there is whether the recipient blocked that alias.
            let check = if notification.hide_actor {
                "SELECT 1 FROM users u WHERE u.id = $1 AND NOT EXISTS (SELECT 1 \
                 FROM alias_blocks ab JOIN comments c \
                   ON c.post_id = ab.post_id AND c.alias_number = ab.alias_number \
                 WHERE ab.blocker_id = $1 AND c.id = $3)"
            } else {
                "SELECT 1 FROM users u WHERE u.id = $1 AND NOT EXISTS (SELECT 1 FROM blocks b \
                 WHERE (b.blocker_id = $1 AND b.blocked_id = $2) \
                    OR (b.blocker_id = $2 AND b.blocked_id = $1)) AND $3 = $3"
            };
            let allowed: Option<i64> = sqlx::query_scalar(check)
                .bind(notification.user_id.to_string())
                .bind(
                    notification
                        .actor_id
                        .map(|actor| actor.to_string())
                        .unwrap_or_default(),
                )
                .bind(
                    notification
                        .comment_id
                        .map(|comment| comment.to_string())
                        .unwrap_or_default(),
                )
                .fetch_optional(&mut *transaction)
                .await
                .map_err(translate)?;
            if allowed.is_none() {
                continue;
            }
            let group = group_key(notification);
            let mut actors = 1;
            if let Some(group) = &group {
                let earlier: Option<i64> = sqlx::query_scalar(
                    "DELETE FROM notifications WHERE user_id = $1 AND group_key = $2 \
                     RETURNING actors",
                )
                .bind(notification.user_id.to_string())
                .bind(group.as_str())
                .fetch_optional(&mut *transaction)
                .await
                .map_err(translate)?;
                actors += earlier.unwrap_or(0);
            }
            let id = NotificationId::generate();
            sqlx::query(
                "INSERT INTO notifications (id, user_id, kind, actor_id, hide_actor, actors, \
                 post_id, comment_id, group_key, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(id.to_string())
            .bind(notification.user_id.to_string())
            .bind(notification.kind.as_str())
            .bind(notification.actor_id.map(|actor| actor.to_string()))
            .bind(i64::from(notification.hide_actor))
            .bind(actors)
            .bind(notification.post_id.map(|post| post.to_string()))
            .bind(notification.comment_id.map(|comment| comment.to_string()))
            .bind(group)
            .bind(now.as_millis())
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
            made.push(NotificationRecord {
                id,
                user_id: notification.user_id,
                kind: notification.kind,
                actor_id: notification.actor_id.filter(|_| !notification.hide_actor),
                actors,
                post_id: notification.post_id,
                comment_id: notification.comment_id,
                created_at: now,
                read: false,
            });
        }
        sqlx::query("DELETE FROM notified_events WHERE created_at < $1")
            .bind(now.as_millis() - NOTIFIED_KEPT_MILLIS)
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        transaction.commit().await?;
        Ok(made)
    }

    async fn thread_is_anonymous(&self, post_id: PostId) -> Result<bool, StoreError> {
        let anonymous: Option<i64> =
            sqlx::query_scalar("SELECT anonymous_thread FROM posts WHERE id = $1")
                .bind(post_id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(translate)?;
        Ok(anonymous.unwrap_or(0) != 0)
    }

    async fn poll_voters(&self, poll_id: PollId) -> Result<Vec<UserId>, StoreError> {
        let rows = sqlx::query("SELECT user_id FROM poll_votes WHERE poll_id = $1")
            .bind(poll_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(translate)?;
        rows.iter().map(|row| id_column(row, "user_id")).collect()
    }

    async fn notifications(
        &self,
        user_id: UserId,
        before: Option<NotificationId>,
        limit: i64,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM notifications n WHERE n.user_id = $1 AND n.id < $2 \
             AND {SHOWN} ORDER BY n.id DESC LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(user_id.to_string())
            .bind(before.map_or_else(|| "g".to_owned(), |before| before.to_string()))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(translate)?;
        rows.iter().map(record_from_row).collect()
    }

    async fn unread_count(&self, user_id: UserId) -> Result<i64, StoreError> {
        sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM notifications n WHERE n.user_id = $1 AND n.read_at IS NULL \
             AND {SHOWN}"
        ))
        .bind(user_id.to_string())
        .fetch_one(&self.pool)
        .await
        .map_err(translate)
    }

    async fn mark_read(
        &self,
        user_id: UserId,
        up_to: Option<NotificationId>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut transaction = self.begin_write().await?;
        // A read notification leaves its group: the next like starts a new one.
        sqlx::query(
            "UPDATE notifications SET read_at = $1, group_key = NULL \
             WHERE user_id = $2 AND read_at IS NULL AND id <= $3",
        )
        .bind(now.as_millis())
        .bind(user_id.to_string())
        .bind(up_to.map_or_else(|| "g".to_owned(), |up_to| up_to.to_string()))
        .execute(&mut *transaction)
        .await
        .map_err(translate)?;
        transaction.commit().await
    }
}
