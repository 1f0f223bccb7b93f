//! `SearchSource` on the relational engines: posts and accounts as the search index holds them.

use crate::store::{column, id_column, translate};
use crate::SqlStore;
use async_trait::async_trait;
use sqlx::any::AnyRow;
use veilgram_core::ports::{PostDocument, SearchSource, UserDocument, Visibility};
use veilgram_core::{PostId, StoreError, Timestamp, UserId};

/// Posts search may propose: not hidden, by an account that is not suspended.
const POSTS: &str = "SELECT p.id, p.author_id, p.text, p.visibility, p.hashtags, p.created_at, \
     p.like_count FROM posts p JOIN users u ON u.id = p.author_id \
     WHERE p.moderation_state <> 'hidden' AND u.suspended_at IS NULL";
/// Accounts search may propose: active ones.
const USERS: &str = "SELECT id, nickname, status_message, followers_count FROM users \
     WHERE deactivated_at IS NULL";

fn post_from_row(row: &AnyRow) -> Result<PostDocument, StoreError> {
    let hashtags: String = column(row, "hashtags")?;
    let visibility: String = column(row, "visibility")?;
    Ok(PostDocument {
        id: id_column(row, "id")?,
        author_id: id_column(row, "author_id")?,
        text: column(row, "text")?,
        hashtags: hashtags.split_whitespace().map(str::to_owned).collect(),
        public: visibility == Visibility::Public.as_str(),
        created_at: Timestamp::from_millis(column(row, "created_at")?),
        like_count: column(row, "like_count")?,
    })
}

fn user_from_row(row: &AnyRow) -> Result<UserDocument, StoreError> {
    Ok(UserDocument {
        id: id_column(row, "id")?,
        nickname: column(row, "nickname")?,
        status_message: column(row, "status_message")?,
        followers_count: column(row, "followers_count")?,
    })
}

impl SqlStore {
    /// The row of `select` whose `id` column is `id`, read by `read`.
    async fn document<T>(
        &self,
        select: &str,
        column: &str,
        id: String,
        read: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let row = sqlx::query(&format!("{select} AND {column} = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(translate)?;
        row.as_ref().map(read).transpose()
    }

    /// The rows of `select` with an `id` column above `after`, by it, at most `limit`.
    async fn documents<T>(
        &self,
        select: &str,
        column: &str,
        after: Option<String>,
        limit: i64,
        read: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = sqlx::query(&format!(
            "{select} AND {column} > $1 ORDER BY {column} LIMIT $2"
        ))
        .bind(after.unwrap_or_default())
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(translate)?;
        rows.iter().map(read).collect()
    }
}

#[async_trait]
impl SearchSource for SqlStore {
    async fn post_document(&self, post_id: PostId) -> Result<Option<PostDocument>, StoreError> {
        self.document(POSTS, "p.id", post_id.to_string(), post_from_row)
            .await
    }

    async fn user_document(&self, user_id: UserId) -> Result<Option<UserDocument>, StoreError> {
        self.document(USERS, "id", user_id.to_string(), user_from_row)
            .await
    }

    async fn post_documents(
        &self,
        after: Option<PostId>,
        limit: i64,
    ) -> Result<Vec<PostDocument>, StoreError> {
        let after = after.map(|id| id.to_string());
        self.documents(POSTS, "p.id", after, limit, post_from_row)
            .await
    }

    async fn user_documents(
        &self,
        after: Option<UserId>,
        limit: i64,
    ) -> Result<Vec<UserDocument>, StoreError> {
        let after = after.map(|id| id.to_string());
        self.documents(USERS, "id", after, limit, user_from_row)
            .await
    }
}
