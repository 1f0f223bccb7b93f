//! `CommentStore` on the relational engines: threaded comments with bounded depth, likes,
//! reports, deletion that keeps a `[deleted]` placeholder where replies hang, and the per-thread
//! alias numbers of anonymous threads.

use crate::batch::Write;
use crate::events::append_to_outbox;
use crate::posts::visible_to;
use crate::reactions::{file_report, set_like, COMMENTS};
use crate::store::{
    column, id_column, numbered_placeholders, optional_id_column, translate, WriteTransaction,
};
use crate::SqlStore;
use async_trait::async_trait;
use sqlx::any::AnyRow;
use veilgram_core::error::Conflict;
use veilgram_core::events::{EventEnvelope, EventFor};
use veilgram_core::ports::{
    alias_label, AliasBlock, Changed, CommentAuthor, CommentOwnership, CommentPlacement,
    CommentRecord, CommentStore, Created, IdempotencyKey, NewComment, NewReport, MAX_COMMENT_DEPTH,
};
use veilgram_core::{AliasBlockId, CommentId, PostId, StoreError, Timestamp, UserId};

/// Comments (alias `c`) the viewer at `viewer` may see: the post is visible to them, and the
/// comment's author and the viewer have not blocked each other (outside anonymous threads:
/// hiding a blocked account's aliases there would show the blocker, by the gaps in the alias
/// numbers, which alias that account is), nor has the viewer blocked the comment's alias.
fn comment_select(viewer: &str) -> String {
    comment_select_with(viewer, "")
}

/// [`comment_select`] with extra select-list columns (each starting with a comma).
fn comment_select_with(viewer: &str, extra_columns: &str) -> String {
    format!(
        "SELECT c.id{extra_columns}, c.post_id, c.parent_id, c.depth, c.author_id, c.alias_number, c.text, \
         c.created_at, c.deleted_at, c.like_count, c.reply_count, c.moderation_state, \
         c.moderation_reason, p.anonymous_thread, \
         writer.nickname AS writer_nickname, writer.avatar_media_id AS writer_avatar, \
         CAST(CASE WHEN EXISTS (SELECT 1 FROM comment_likes l WHERE l.comment_id = c.id AND l.user_id = {viewer}) \
              THEN 1 ELSE 0 END AS BIGINT) AS liked_by_me \
         FROM comments c JOIN posts p ON p.id = c.post_id \
         JOIN users author ON author.id = p.author_id \
         LEFT JOIN users writer ON writer.id = c.author_id \
         WHERE {} AND (c.author_id IS NULL OR (writer.deactivated_at IS NULL AND \
           (p.anonymous_thread <> 0 OR NOT EXISTS \
           (SELECT 1 FROM blocks b WHERE (b.blocker_id = c.author_id AND b.blocked_id = {viewer}) \
                                    OR (b.blocker_id = {viewer} AND b.blocked_id = c.author_id))))) \
         AND NOT EXISTS (SELECT 1 FROM alias_blocks ab WHERE ab.blocker_id = {viewer} \
           AND ab.post_id = c.post_id AND ab.alias_number = c.alias_number) \
         AND (c.moderation_state <> 'hidden' OR c.author_id = {viewer})",
        visible_to(viewer)
    )
}

fn comment_from_row(row: &AnyRow) -> Result<CommentRecord, StoreError> {
    let deleted = column::<Option<i64>>(row, "deleted_at")?.is_some();
    let author_id: Option<String> = column(row, "author_id")?;
    let anonymous = column::<i64>(row, "anonymous_thread")? != 0;
    let author = match (deleted, author_id) {
        (true, _) | (_, None) => CommentAuthor::Gone,
        (false, Some(_)) if anonymous => {
            let number: Option<i64> = column(row, "alias_number")?;
            CommentAuthor::Alias(alias_label(number.unwrap_or(0)))
        }
        (false, Some(_)) => CommentAuthor::Account {
            id: id_column(row, "author_id")?,
            nickname: column(row, "writer_nickname")?,
            avatar_media_id: column(row, "writer_avatar")?,
        },
    };
    Ok(CommentRecord {
        id: id_column(row, "id")?,
        post_id: id_column(row, "post_id")?,
        parent_id: optional_id_column(row, "parent_id")?,
        depth: column(row, "depth")?,
        author,
        text: if deleted {
            String::new()
        } else {
            column(row, "text")?
        },
        deleted,
        like_count: column(row, "like_count")?,
        reply_count: column(row, "reply_count")?,
        liked_by_me: column::<i64>(row, "liked_by_me")? != 0,
        created_at: Timestamp::from_millis(column(row, "created_at")?),
        moderation_state: column(row, "moderation_state")?,
        moderation_reason: column(row, "moderation_reason")?,
    })
}

fn text_id<I: std::str::FromStr>(text: &str) -> Result<I, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Unavailable("stored id is not an id".into()))
}

/// Who owns a comment the viewer may see (not deleted), on a pool or inside a transaction.
async fn ownership_on<'c, E>(
    executor: E,
    comment_id: CommentId,
    viewer: UserId,
) -> Result<Option<CommentOwnership>, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let sql = format!(
        "{} AND c.id = $1 AND c.deleted_at IS NULL",
        comment_select_with("$2", ", p.author_id AS post_author_id")
    );
    let row = sqlx::query(&sql)
        .bind(comment_id.to_string())
        .bind(viewer.to_string())
        .fetch_optional(executor)
        .await
        .map_err(translate)?;
    let Some(row) = row else { return Ok(None) };
    let author: Option<String> = column(&row, "author_id")?;
    let anonymous = column::<i64>(&row, "anonymous_thread")? != 0;
    Ok(Some(CommentOwnership {
        author: author.as_deref().map(text_id).transpose()?,
        alias_number: if anonymous {
            Some(column::<Option<i64>>(&row, "alias_number")?.unwrap_or(0))
        } else {
            None
        },
        post_id: id_column(&row, "post_id")?,
        post_author: id_column(&row, "post_author_id")?,
    }))
}

/// [`ownership_on`] inside a write transaction, `NotFound` when the viewer may not see it.
async fn visible_comment(
    transaction: &mut WriteTransaction,
    comment_id: CommentId,
    viewer: UserId,
) -> Result<CommentOwnership, StoreError> {
    ownership_on(&mut **transaction, comment_id, viewer)
        .await?
        .ok_or(StoreError::NotFound)
}

/// A new comment or reply; answers the record, or the id of the comment an idempotency key
/// already made.
struct CreateComment {
    comment: NewComment,
    idempotency: Option<IdempotencyKey>,
    event: EventFor<CommentPlacement>,
}

#[async_trait]
impl Write for CreateComment {
    type Output = Created<CommentRecord, CommentId>;

    async fn apply(&self, transaction: &mut WriteTransaction) -> Result<Self::Output, StoreError> {
        let comment = &self.comment;
        if let Some(key) = &self.idempotency {
            let resource = comment.id.to_string();
            let claimed =
                crate::idempotency::claim(transaction, key, &resource, comment.created_at);
            if let Some(earlier) = claimed.await? {
                return Ok(Created::Replayed(text_id(&earlier)?));
            }
        }
        // The post, if the writer may see it, with the writer's byline for the answer.
        let post_sql = format!(
            "SELECT p.author_id, p.anonymous_thread, writer.nickname AS writer_nickname, \
             writer.avatar_media_id AS writer_avatar \
             FROM posts p JOIN users author ON author.id = p.author_id JOIN users writer ON writer.id = $2 \
             WHERE p.id = $1 AND {}",
            visible_to("$2")
        );
        let post = sqlx::query(&post_sql)
            .bind(comment.post_id.to_string())
            .bind(comment.author_id.to_string())
            .fetch_optional(&mut **transaction)
            .await
            .map_err(translate)?
            .ok_or(StoreError::NotFound)?;
        let post_author_id: UserId = id_column(&post, "author_id")?;
        let anonymous = column::<i64>(&post, "anonymous_thread")? != 0;

        let (parent_id, parent_author_id, depth) = match comment.reply_to {
            None => (None, None, 0),
            Some(reply_to) => {
                let CommentOwnership {
                    post_id: parent_post,
                    author: parent_author,
                    ..
                } = match visible_comment(transaction, reply_to, comment.author_id).await {
                    Ok(found) => found,
                    Err(StoreError::NotFound) => {
                        return Err(StoreError::Conflict(Conflict::Parent))
                    }
                    Err(other) => return Err(other),
                };
                if parent_post != comment.post_id {
                    return Err(StoreError::Conflict(Conflict::Parent));
                }
                let row = sqlx::query("SELECT depth, parent_id FROM comments WHERE id = $1")
                    .bind(reply_to.to_string())
                    .fetch_one(&mut **transaction)
                    .await
                    .map_err(translate)?;
                let parent_depth: i64 = column(&row, "depth")?;
                if parent_depth < MAX_COMMENT_DEPTH {
                    (Some(reply_to), parent_author, parent_depth + 1)
                } else {
                    // Too deep: attach beside the comment replied to, at the deepest level.
                    let grandparent: Option<String> = column(&row, "parent_id")?;
                    let grandparent: Option<CommentId> =
                        grandparent.as_deref().map(text_id).transpose()?;
                    (grandparent, parent_author, parent_depth)
                }
            }
        };

        let alias_number = if !anonymous {
            None
        } else if comment.author_id == post_author_id {
            Some(0)
        } else {
            let known: Option<i64> = sqlx::query_scalar(
                "SELECT alias_number FROM thread_aliases WHERE post_id = $1 AND alias_key = $2",
            )
            .bind(comment.post_id.to_string())
            .bind(comment.alias_key.to_vec())
            .fetch_optional(&mut **transaction)
            .await
            .map_err(translate)?;
            match known {
                Some(number) => Some(number),
                None => {
                    let number: i64 = sqlx::query_scalar(
                        "INSERT INTO thread_aliases (post_id, alias_key, alias_number) \
                         SELECT $1, $2, COALESCE(MAX(alias_number), 0) + 1 FROM thread_aliases WHERE post_id = $1 \
                         RETURNING alias_number",
                    )
                    .bind(comment.post_id.to_string())
                    .bind(comment.alias_key.to_vec())
                    .fetch_one(&mut **transaction)
                    .await
                    .map_err(|error| match translate(error) {
                        StoreError::Conflict(_) => StoreError::Conflict(Conflict::Alias),
                        other => other,
                    })?;
                    Some(number)
                }
            }
        };

        sqlx::query(
            "INSERT INTO comments (id, post_id, parent_id, depth, author_id, alias_number, text, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(comment.id.to_string())
        .bind(comment.post_id.to_string())
        .bind(parent_id.map(|parent| parent.to_string()))
        .bind(depth)
        .bind(comment.author_id.to_string())
        .bind(alias_number)
        .bind(comment.text.as_str())
        .bind(comment.created_at.as_millis())
        .execute(&mut **transaction)
        .await
        .map_err(translate)?;
        if let Some(parent) = parent_id {
            sqlx::query("UPDATE comments SET reply_count = reply_count + 1 WHERE id = $1")
                .bind(parent.to_string())
                .execute(&mut **transaction)
                .await
                .map_err(translate)?;
        }
        sqlx::query("UPDATE posts SET comment_count = comment_count + 1 WHERE id = $1")
            .bind(comment.post_id.to_string())
            .execute(&mut **transaction)
            .await
            .map_err(translate)?;
        let placement = CommentPlacement {
            post_author_id,
            parent_id,
            parent_author_id,
        };
        append_to_outbox(transaction, &(self.event)(placement)).await?;
        let author = match alias_number {
            Some(number) => CommentAuthor::Alias(alias_label(number)),
            None => CommentAuthor::Account {
                id: comment.author_id,
                nickname: column(&post, "writer_nickname")?,
                avatar_media_id: column(&post, "writer_avatar")?,
            },
        };
        Ok(Created::New(CommentRecord {
            id: comment.id,
            post_id: comment.post_id,
            parent_id,
            depth,
            author,
            text: comment.text.clone(),
            deleted: false,
            like_count: 0,
            reply_count: 0,
            liked_by_me: false,
            created_at: comment.created_at,
            moderation_state: "visible".to_owned(),
            moderation_reason: None,
        }))
    }
}

/// A like added or taken back, on a comment the user may see.
struct LikeComment {
    comment_id: CommentId,
    user_id: UserId,
    liked: bool,
    now: Timestamp,
    event: EventFor<PostId>,
}

#[async_trait]
impl Write for LikeComment {
    type Output = Changed;

    async fn apply(&self, transaction: &mut WriteTransaction) -> Result<Changed, StoreError> {
        let owner = visible_comment(transaction, self.comment_id, self.user_id).await?;
        let event = (self.event)(owner.post_id);
        let target = self.comment_id.to_string();
        set_like(
            transaction,
            &COMMENTS,
            target,
            self.user_id,
            self.liked,
            self.now,
            &event,
        )
        .await
    }
}

#[async_trait]
impl CommentStore for SqlStore {
    async fn create_comment(
        &self,
        comment: &NewComment,
        idempotency: Option<&IdempotencyKey>,
        event: EventFor<CommentPlacement>,
    ) -> Result<Created<CommentRecord>, StoreError> {
        let write = CreateComment {
            comment: comment.clone(),
            idempotency: idempotency.cloned(),
            event,
        };
        match self.write(write).await? {
            Created::New(record) => Ok(Created::New(record)),
            Created::Replayed(earlier) => {
                let earlier = self.comment(earlier, Some(comment.author_id)).await?;
                earlier.map(Created::Replayed).ok_or(StoreError::NotFound)
            }
        }
    }

    async fn comment(
        &self,
        comment_id: CommentId,
        viewer: Option<UserId>,
    ) -> Result<Option<CommentRecord>, StoreError> {
        let sql = format!("{} AND c.id = $1", comment_select("$2"));
        let row = sqlx::query(&sql)
            .bind(comment_id.to_string())
            .bind(viewer.map(|viewer| viewer.to_string()).unwrap_or_default())
            .fetch_optional(&self.pool)
            .await
            .map_err(translate)?;
        row.as_ref().map(comment_from_row).transpose()
    }

    async fn comments(
        &self,
        post_id: PostId,
        parent: Option<CommentId>,
        viewer: Option<UserId>,
        after: Option<CommentId>,
        limit: i64,
    ) -> Result<Vec<CommentRecord>, StoreError> {
        let parent_condition = if parent.is_some() {
            "c.parent_id = $5"
        } else {
            "c.parent_id IS NULL AND $5 = $5"
        };
        let sql = format!(
            "{} AND c.post_id = $1 AND {parent_condition} AND c.id > $3 ORDER BY c.id LIMIT $4",
            comment_select("$2")
        );
        let rows = sqlx::query(&sql)
            .bind(post_id.to_string())
            .bind(viewer.map(|viewer| viewer.to_string()).unwrap_or_default())
            .bind(after.map(|after| after.to_string()).unwrap_or_default())
            .bind(limit)
            .bind(parent.map(|parent| parent.to_string()).unwrap_or_default())
            .fetch_all(&self.pool)
            .await
            .map_err(translate)?;
        rows.iter().map(comment_from_row).collect()
    }

    async fn delete_comment(
        &self,
        comment_id: CommentId,
        event: &EventEnvelope,
    ) -> Result<(), StoreError> {
        let mut transaction = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT post_id, parent_id, reply_count, deleted_at FROM comments WHERE id = $1",
        )
        .bind(comment_id.to_string())
        .fetch_optional(&mut *transaction)
        .await
        .map_err(translate)?
        .ok_or(StoreError::NotFound)?;
        if column::<Option<i64>>(&row, "deleted_at")?.is_some() {
            return Err(StoreError::NotFound);
        }
        let post_id: String = column(&row, "post_id")?;
        if column::<i64>(&row, "reply_count")? > 0 {
            // Replies hang from it: keep a placeholder, erase what it said and who said it.
            sqlx::query(
                "UPDATE comments SET deleted_at = $1, text = '', author_id = NULL WHERE id = $2",
            )
            .bind(event.occurred_at.as_millis())
            .bind(comment_id.to_string())
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        } else {
            sqlx::query("DELETE FROM comments WHERE id = $1")
                .bind(comment_id.to_string())
                .execute(&mut *transaction)
                .await
                .map_err(translate)?;
            let parent: Option<String> = column(&row, "parent_id")?;
            if let Some(parent) = parent {
                sqlx::query("UPDATE comments SET reply_count = reply_count - 1 WHERE id = $1 AND reply_count > 0")
                    .bind(parent)
                    .execute(&mut *transaction)
                    .await
                    .map_err(translate)?;
            }
        }
        sqlx::query("UPDATE posts SET comment_count = comment_count - 1 WHERE id = $1 AND comment_count > 0")
            .bind(post_id)
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        append_to_outbox(&mut transaction, event).await?;
        transaction.commit().await
    }

    async fn set_comment_like(
        &self,
        comment_id: CommentId,
        user_id: UserId,
        liked: bool,
        now: Timestamp,
        event: EventFor<PostId>,
    ) -> Result<Changed, StoreError> {
        self.write(LikeComment {
            comment_id,
            user_id,
            liked,
            now,
            event,
        })
        .await
    }

    async fn report_comment(
        &self,
        report: &NewReport,
        comment_id: CommentId,
        event: &EventEnvelope,
    ) -> Result<Changed, StoreError> {
        let mut transaction = self.begin_write().await?;
        visible_comment(&mut transaction, comment_id, report.reporter_id).await?;
        file_report(
            transaction,
            &COMMENTS,
            comment_id.to_string(),
            report,
            event,
        )
        .await
    }

    async fn first_replies(
        &self,
        post_id: PostId,
        parents: &[CommentId],
        viewer: Option<UserId>,
        per_parent: i64,
    ) -> Result<Vec<CommentRecord>, StoreError> {
        if parents.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = numbered_placeholders(4, parents.len());
        let sql = format!(
            "SELECT * FROM ({} AND c.post_id = $1 AND c.parent_id IN ({})) ranked \
             WHERE reply_rank <= $3 ORDER BY parent_id, id",
            comment_select_with(
                "$2",
                ", ROW_NUMBER() OVER (PARTITION BY c.parent_id ORDER BY c.id) AS reply_rank"
            ),
            placeholders
        );
        let mut query = sqlx::query(&sql)
            .bind(post_id.to_string())
            .bind(viewer.map(|viewer| viewer.to_string()).unwrap_or_default())
            .bind(per_parent);
        for parent in parents {
            query = query.bind(parent.to_string());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(translate)?;
        rows.iter().map(comment_from_row).collect()
    }

    async fn post_visible(
        &self,
        post_id: PostId,
        viewer: Option<UserId>,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "SELECT p.id FROM posts p JOIN users author ON author.id = p.author_id WHERE p.id = $1 AND {}",
            visible_to("$2")
        );
        let found: Option<String> = sqlx::query_scalar(&sql)
            .bind(post_id.to_string())
            .bind(viewer.map(|viewer| viewer.to_string()).unwrap_or_default())
            .fetch_optional(&self.pool)
            .await
            .map_err(translate)?;
        Ok(found.is_some())
    }

    async fn comment_ownership(
        &self,
        comment_id: CommentId,
        viewer: UserId,
    ) -> Result<Option<CommentOwnership>, StoreError> {
        ownership_on(&self.pool, comment_id, viewer).await
    }

    async fn block_alias(&self, block: &AliasBlock) -> Result<Changed, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO alias_blocks (id, blocker_id, post_id, alias_number, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(block.id.to_string())
        .bind(block.blocker_id.to_string())
        .bind(block.post_id.to_string())
        .bind(block.alias_number)
        .bind(block.created_at.as_millis())
        .execute(&self.pool)
        .await
        .map_err(translate)?;
        Ok(changed_rows(inserted.rows_affected()))
    }

    async fn unblock_alias(
        &self,
        blocker: UserId,
        block: AliasBlockId,
    ) -> Result<Changed, StoreError> {
        let deleted = sqlx::query("DELETE FROM alias_blocks WHERE id = $1 AND blocker_id = $2")
            .bind(block.to_string())
            .bind(blocker.to_string())
            .execute(&self.pool)
            .await
            .map_err(translate)?;
        Ok(changed_rows(deleted.rows_affected()))
    }

    async fn alias_blocks(
        &self,
        blocker: UserId,
        before: Option<AliasBlockId>,
        limit: i64,
    ) -> Result<Vec<AliasBlock>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, blocker_id, post_id, alias_number, created_at FROM alias_blocks \
             WHERE blocker_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(blocker.to_string())
        .bind(before.map(|id| id.to_string()).unwrap_or_default())
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(translate)?;
        rows.iter()
            .map(|row| {
                Ok(AliasBlock {
                    id: id_column(row, "id")?,
                    blocker_id: id_column(row, "blocker_id")?,
                    post_id: id_column(row, "post_id")?,
                    alias_number: column(row, "alias_number")?,
                    created_at: Timestamp::from_millis(column(row, "created_at")?),
                })
            })
            .collect()
    }
}

/// `Yes` when a statement touched a row, `AlreadySo` when there was nothing to change.
fn changed_rows(rows: u64) -> Changed {
    if rows == 0 {
        Changed::AlreadySo
    } else {
        Changed::Yes
    }
}
