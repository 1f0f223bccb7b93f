//! Likes and reports, shared by posts and comments: the same writes against different tables.

use crate::events::append_to_outbox;
use crate::store::{translate, WriteTransaction};
use veilgram_core::events::EventEnvelope;
use veilgram_core::ports::{Changed, NewReport};
use veilgram_core::{StoreError, Timestamp, UserId};

/// Where likes of one kind of thing live, and which table counts them.
pub(crate) struct Likeable {
    pub likes_table: &'static str,
    pub target_column: &'static str,
    pub counted_table: &'static str,
    /// `post` or `comment`, as stored in `reports.target_kind`.
    pub report_kind: &'static str,
}

pub(crate) const POSTS: Likeable = Likeable {
    likes_table: "post_likes",
    target_column: "post_id",
    counted_table: "posts",
    report_kind: "post",
};

pub(crate) const COMMENTS: Likeable = Likeable {
    likes_table: "comment_likes",
    target_column: "comment_id",
    counted_table: "comments",
    report_kind: "comment",
};

/// Adds (`liked`) or removes the user's like, keeps the counter right and appends the event, in
/// the caller's transaction. A like already in that state changes nothing.
pub(crate) async fn set_like(
    transaction: &mut WriteTransaction,
    kind: &Likeable,
    target_id: String,
    user_id: UserId,
    liked: bool,
    now: Timestamp,
    event: &EventEnvelope,
) -> Result<Changed, StoreError> {
    let Likeable {
        likes_table,
        target_column,
        counted_table,
        ..
    } = kind;
    let changed = if liked {
        sqlx::query(&format!(
            "INSERT INTO {likes_table} ({target_column}, user_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
        ))
        .bind(target_id.as_str())
        .bind(user_id.to_string())
        .bind(now.as_millis())
        .execute(&mut **transaction)
        .await
    } else {
        sqlx::query(&format!("DELETE FROM {likes_table} WHERE {target_column} = $1 AND user_id = $2"))
            .bind(target_id.as_str())
            .bind(user_id.to_string())
            .execute(&mut **transaction)
            .await
    }
    .map_err(translate)?;
    if changed.rows_affected() == 0 {
        return Ok(Changed::AlreadySo);
    }
    let delta: i64 = if liked { 1 } else { -1 };
    sqlx::query(&format!(
        "UPDATE {counted_table} SET like_count = like_count + $1 WHERE id = $2 AND like_count + $1 >= 0"
    ))
    .bind(delta)
    .bind(target_id.as_str())
    .execute(&mut **transaction)
    .await
    .map_err(translate)?;
    append_to_outbox(transaction, event).await?;
    Ok(Changed::Yes)
}

/// Files a report (once per reporter and target) and appends its event, committing.
pub(crate) async fn file_report(
    mut transaction: WriteTransaction,
    kind: &Likeable,
    target_id: String,
    report: &NewReport,
    event: &EventEnvelope,
) -> Result<Changed, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO reports (id, target_kind, target_id, reporter_id, reason, note, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(report.id.to_string())
    .bind(kind.report_kind)
    .bind(target_id)
    .bind(report.reporter_id.to_string())
    .bind(report.reason.as_str())
    .bind(report.note.as_deref())
    .bind(report.created_at.as_millis())
    .execute(&mut *transaction)
    .await
    .map_err(translate)?;
    if inserted.rows_affected() == 0 {
        return Ok(Changed::AlreadySo);
    }
    append_to_outbox(&mut transaction, event).await?;
    transaction.commit().await?;
    Ok(Changed::Yes)
}
