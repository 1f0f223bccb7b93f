//! `FeedStore` on the relational engines: the truth that feed caches are rebuilt from.

use crate::posts::{post_select, viewer_text, visible_to};
use crate::store::{column, id_column, numbered_placeholders, translate};
use crate::SqlStore;
use async_trait::async_trait;
use sqlx::any::AnyRow;
use veilgram_core::ports::{
    AuthorByline, Engagement, FeedEntry, FeedStore, PostRecord, ViewerFacts,
};
use veilgram_core::{PollId, PostId, StoreError, Timestamp, UserId};

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

    async fn post_records(&self, ids: &[PostId]) -> Result<Vec<PostRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "{} WHERE p.id IN ({})",
            post_select("$1"),
            numbered_placeholders(2, ids.len())
        );
        let mut query = sqlx::query(&sql).bind(viewer_text(None));
        for id in ids {
            query = query.bind(id.to_string());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(translate)?;
        self.posts_from_rows(&rows, None).await
    }

    async fn viewer_facts(
        &self,
        viewer: Option<UserId>,
        posts: &[PostId],
        authors: &[UserId],
        polls: &[PollId],
    ) -> Result<ViewerFacts, StoreError> {
        let mut facts = ViewerFacts::default();
        if posts.is_empty() || authors.is_empty() {
            return Ok(facts);
        }
        // $1 the viewer, then the authors, the posts and the polls; each part is an index
        // lookup, and the parts about the viewer are left out for anonymous callers.
        let authors_in = numbered_placeholders(2, authors.len());
        let posts_in = numbered_placeholders(2 + authors.len(), posts.len());
        let polls_in = numbered_placeholders(2 + authors.len() + posts.len(), polls.len());
        let none = "CAST(NULL AS TEXT)";
        let mut parts = vec![
            format!(
                "SELECT 'a' AS kind, u.id AS id, u.nickname AS name, u.avatar_media_id AS extra \
                 FROM users u WHERE u.id IN ({authors_in}) AND u.deactivated_at IS NULL"
            ),
            format!(
                "SELECT 'p', p.id, p.moderation_state, {none} FROM posts p \
                 WHERE p.id IN ({posts_in})"
            ),
        ];
        if viewer.is_some() {
            parts.push(format!(
                "SELECT 'f', f.followee_id, {none}, {none} FROM follows f \
                 WHERE f.follower_id = $1 AND f.followee_id IN ({authors_in})"
            ));
            parts.push(format!(
                "SELECT 'b', b.blocked_id, {none}, {none} FROM blocks b \
                 WHERE b.blocker_id = $1 AND b.blocked_id IN ({authors_in})"
            ));
            parts.push(format!(
                "SELECT 'b', b.blocker_id, {none}, {none} FROM blocks b \
                 WHERE b.blocked_id = $1 AND b.blocker_id IN ({authors_in})"
            ));
            parts.push(format!(
                "SELECT 'l', l.post_id, {none}, {none} FROM post_likes l \
                 WHERE l.user_id = $1 AND l.post_id IN ({posts_in})"
            ));
            if !polls.is_empty() {
                parts.push(format!(
                    "SELECT 'v', v.poll_id, CAST(v.option_index AS TEXT), {none} \
                     FROM poll_votes v WHERE v.user_id = $1 AND v.poll_id IN ({polls_in})"
                ));
            }
        }
        let sql = parts.join(" UNION ALL ");
        let mut query = sqlx::query(&sql).bind(viewer_text(viewer));
        for author in authors {
            query = query.bind(author.to_string());
        }
        for post in posts {
            query = query.bind(post.to_string());
        }
        if viewer.is_some() {
            for poll in polls {
                query = query.bind(poll.to_string());
            }
        }
        let rows = query.fetch_all(&self.pool).await.map_err(translate)?;
        for row in &rows {
            let kind: String = column(row, "kind")?;
            match kind.as_str() {
                "a" => {
                    let byline = AuthorByline {
                        nickname: column::<Option<String>>(row, "name")?.unwrap_or_default(),
                        avatar_media_id: column(row, "extra")?,
                    };
                    facts.bylines.insert(id_column(row, "id")?, byline);
                }
                "p" => {
                    let state: Option<String> = column(row, "name")?;
                    facts
                        .moderation
                        .insert(id_column(row, "id")?, state.unwrap_or_default());
                }
                "f" => {
                    facts.following.insert(id_column(row, "id")?);
                }
                "b" => {
                    facts.blocked.insert(id_column(row, "id")?);
                }
                "l" => {
                    facts.liked.insert(id_column(row, "id")?);
                }
                _ => {
                    let option: Option<String> = column(row, "name")?;
                    if let Some(option) = option.and_then(|option| option.parse().ok()) {
                        facts.votes.insert(id_column(row, "id")?, option);
                    }
                }
            }
        }
        Ok(facts)
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
