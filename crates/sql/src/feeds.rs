//! `FeedStore` on the relational engines: the truth that feed caches are rebuilt from.

use crate::posts::{post_select, viewer_text, visible_to};
use crate::store::{column, id_column, translate};
use crate::SqlStore;
use async_trait::async_trait;
use sqlx::any::AnyRow;
use veilgram_core::ports::{Engagement, FeedEntry, FeedStore, PostRecord};
use veilgram_core::{PostId, StoreError, Timestamp, UserId};

fn entry_from_row(row: &AnyRow) -> Result<FeedEntry, StoreError> {
    Ok(FeedEntry {
        post_id: id_column(row, "id")?,
        created_at: Timestamp::from_millis(column(row, "created_at")?),
    })
}

/// Every v7 id sorts below this.
const ABOVE_EVERY_ID: &str = "g";

#[async_trait]
impl FeedStore for SqlStore {
    async fn follower_ids(
        &self,
        author: UserId,
        after: Option<UserId>,
        limit: i64,
    ) -> Result<Vec<UserId>, StoreError> {
        // An index-only scan of `follows_followee`. Deactivated followers are included: their
        // timelines are not read until they return, when these posts belong in them.
        let rows = sqlx::query(
            "SELECT follower_id FROM follows WHERE followee_id = $1 AND follower_id > $2 \
             ORDER BY follower_id LIMIT $3",
        )
        .bind(author.to_string())
        .bind(after.map(|after| after.to_string()).unwrap_or_default())
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(translate)?;
        rows.iter()
            .map(|row| id_column(row, "follower_id"))
            .collect()
    }

    async fn followers_count(&self, user_id: UserId) -> Result<i64, StoreError> {
        let count: Option<i64> =
            sqlx::query_scalar("SELECT followers_count FROM users WHERE id = $1")
                .bind(user_id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(translate)?;
        Ok(count.unwrap_or(0))
    }

    async fn home_entries(&self, viewer: UserId, limit: i64) -> Result<Vec<FeedEntry>, StoreError> {
        let sql = format!(
            "SELECT p.id, p.created_at FROM posts p JOIN users author ON author.id = p.author_id \
             WHERE (p.author_id = $1 OR p.author_id IN \
                    (SELECT f.followee_id FROM follows f WHERE f.follower_id = $1)) \
             AND {} ORDER BY p.id DESC LIMIT $2",
            visible_to("$1")
        );
        let rows = sqlx::query(&sql)
            .bind(viewer.to_string())
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(translate)?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn followed_above(
        &self,
        viewer: UserId,
        threshold: i64,
    ) -> Result<Vec<UserId>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.id FROM follows f JOIN users u ON u.id = f.followee_id \
             WHERE f.follower_id = $1 AND u.followers_count > $2 AND u.deactivated_at IS NULL",
        )
        .bind(viewer.to_string())
        .bind(threshold)
        .fetch_all(&self.pool)
        .await
        .map_err(translate)?;
        rows.iter().map(|row| id_column(row, "id")).collect()
    }

    async fn author_entries(
        &self,
        author: UserId,
        limit: i64,
    ) -> Result<Vec<FeedEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, created_at FROM posts WHERE author_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(author.to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(translate)?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn hashtag_entries(
        &self,
        tag: &str,
        before: Option<FeedEntry>,
        limit: i64,
    ) -> Result<Vec<FeedEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.id, p.created_at FROM post_hashtags h JOIN posts p ON p.id = h.post_id \
             JOIN users author ON author.id = p.author_id \
             WHERE h.tag = $1 AND h.post_id < $2 AND p.visibility = 'public' \
             AND p.moderation_state <> 'hidden' AND author.deactivated_at IS NULL \
             ORDER BY h.post_id DESC LIMIT $3",
        )
        .bind(tag)
        .bind(before.map_or_else(
            || ABOVE_EVERY_ID.to_owned(),
            |entry| entry.post_id.to_string(),
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(translate)?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn posts_by_ids(
        &self,
        ids: &[PostId],
        viewer: Option<UserId>,
    ) -> Result<Vec<PostRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (2..ids.len() + 2).map(|n| format!("${n}")).collect();
        let sql = format!(
            "{} WHERE p.id IN ({}) AND {}",
            post_select("$1"),
            placeholders.join(", "),
            visible_to("$1")
        );
        let mut query = sqlx::query(&sql).bind(viewer_text(viewer));
        for id in ids {
            query = query.bind(id.to_string());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(translate)?;
        self.posts_from_rows(&rows, viewer).await
    }

    async fn engagement(&self, post_id: PostId) -> Result<Option<Engagement>, StoreError> {
        let row = sqlx::query(
            "SELECT p.created_at, p.visibility, p.moderation_state, p.like_count, p.comment_count, \
             (SELECT COUNT(DISTINCT c.author_id) FROM comments c \
              WHERE c.post_id = p.id AND c.deleted_at IS NULL) AS commenters \
             FROM posts p WHERE p.id = $1",
        )
        .bind(post_id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(translate)?;
        row.map(|row| {
            let visibility: String = column(&row, "visibility")?;
            let moderation: String = column(&row, "moderation_state")?;
            Ok(Engagement {
                created_at: Timestamp::from_millis(column(&row, "created_at")?),
                public: visibility == "public" && moderation != "hidden",
                likes: column(&row, "like_count")?,
                comments: column(&row, "comment_count")?,
                commenters: column(&row, "commenters")?,
            })
        })
        .transpose()
    }
}
