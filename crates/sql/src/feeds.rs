//! `FeedStore` on the relational engines: the truth that feed caches are rebuilt from.

use crate::posts::{post_select, viewer_text, visible_to};
use crate::store::{column, id_column, numbered_placeholders, parse_id, translate};
use crate::SqlStore;
use async_trait::async_trait;
use sqlx::any::AnyRow;
use veilgram_core::ports::{
    AuthorByline, Engagement, FeedEntry, FeedStore, PostRecord, ViewerFacts, ViewerRelations,
};
use veilgram_core::{IdMap, PollId, PostId, StoreError, Timestamp, UserId};

fn entry_from_row(row: &AnyRow) -> Result<FeedEntry, StoreError> {
    Ok(FeedEntry {
        post_id: id_column(row, "id")?,
        created_at: Timestamp::from_millis(column(row, "created_at")?),
    })
}

/// An author's byline from a row with `name` (the nickname) and `extra` (the avatar id).
fn byline_from_row(row: &AnyRow) -> Result<AuthorByline, StoreError> {
    Ok(AuthorByline {
        nickname: column::<Option<String>>(row, "name")?.unwrap_or_default(),
        avatar_media_id: column(row, "extra")?,
    })
}

/// Every v7 id sorts below this.
const ABOVE_EVERY_ID: &str = "g";

/// Candidates checked per statement by `followers_among` (well under every engine's limit on
/// bound parameters).
const CANDIDATES_PER_QUERY: usize = 500;

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
        //
        // The page comes back as one row, the ids joined by commas: what a page costs is
        // the driver's work per row (about 3 µs a row through sqlx's `Any` driver on SQLite,
        // ten times the engine's own scan), and a fan-out reads thousands. `string_agg` is
        // PostgreSQL's and SQLite's (3.44 on) alike; the page is sorted here, as the
        // aggregate's order is not promised.
        let joined: Option<String> = sqlx::query_scalar(
            "SELECT string_agg(follower_id, ',') FROM (SELECT follower_id FROM follows \
             WHERE followee_id = $1 AND follower_id > $2 ORDER BY follower_id LIMIT $3) AS page",
        )
        .bind(author.to_string())
        .bind(after.map(|after| after.to_string()).unwrap_or_default())
        .bind(limit)
        .fetch_one(&self.pool)
        .await
        .map_err(translate)?;
        let mut followers = joined
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .filter(|id| !id.is_empty())
            .map(|id| parse_id(id, "follower_id"))
            .collect::<Result<Vec<UserId>, StoreError>>()?;
        followers.sort_unstable();
        Ok(followers)
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

    async fn followers_among(
        &self,
        author: UserId,
        candidates: &[UserId],
    ) -> Result<Vec<UserId>, StoreError> {
        let mut followers = Vec::new();
        // Point lookups in `follows_followee`, a bounded number per statement.
        for chunk in candidates.chunks(CANDIDATES_PER_QUERY) {
            let sql = format!(
                "SELECT follower_id FROM follows WHERE followee_id = $1 AND follower_id IN ({})",
                numbered_placeholders(2, chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(author.to_string());
            for candidate in chunk {
                query = query.bind(candidate.to_string());
            }
            let rows = query.fetch_all(&self.pool).await.map_err(translate)?;
            for row in &rows {
                followers.push(id_column(row, "follower_id")?);
            }
        }
        Ok(followers)
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

    async fn hashtag_uses(
        &self,
        fragment: &str,
        anywhere: bool,
        since: Timestamp,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        // `LIKE` with `\` escaping `_` and `%` (a tag may hold `_`): right under any collation.
        let escaped: String = fragment
            .chars()
            .flat_map(|c| match c {
                '\\' | '%' | '_' => vec!['\\', c],
                other => vec![other],
            })
            .collect();
        let pattern = if anywhere {
            format!("%{escaped}%")
        } else {
            format!("{escaped}%")
        };
        let rows = sqlx::query(
            "SELECT h.tag, COUNT(*) AS uses FROM post_hashtags h JOIN posts p ON p.id = h.post_id \
             JOIN users author ON author.id = p.author_id \
             WHERE h.tag LIKE $1 ESCAPE '\\' AND h.post_id > $2 AND p.visibility = 'public' \
             AND p.moderation_state <> 'hidden' AND author.deactivated_at IS NULL \
             GROUP BY h.tag ORDER BY CASE WHEN h.tag = $3 THEN 0 ELSE 1 END, uses DESC, h.tag \
             LIMIT $4 OFFSET $5",
        )
        .bind(pattern)
        .bind(ids_since(since))
        .bind(fragment)
        .bind(limit)
        .bind(skip)
        .fetch_all(&self.pool)
        .await
        .map_err(translate)?;
        rows.iter()
            .map(|row| Ok((column(row, "tag")?, column(row, "uses")?)))
            .collect()
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
                "SELECT 'p', p.id, p.moderation_state, p.moderation_reason FROM posts p \
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
                    facts
                        .bylines
                        .insert(id_column(row, "id")?, byline_from_row(row)?);
                }
                "p" => {
                    let state: Option<String> = column(row, "name")?;
                    let reason: Option<String> = column(row, "extra")?;
                    facts
                        .moderation
                        .insert(id_column(row, "id")?, (state.unwrap_or_default(), reason));
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

    async fn bylines(&self, authors: &[UserId]) -> Result<IdMap<UserId, AuthorByline>, StoreError> {
        if authors.is_empty() {
            return Ok(IdMap::default());
        }
        let sql = format!(
            "SELECT id, nickname AS name, avatar_media_id AS extra FROM users \
             WHERE id IN ({}) AND deactivated_at IS NULL",
            numbered_placeholders(1, authors.len())
        );
        let mut query = sqlx::query(&sql);
        for author in authors {
            query = query.bind(author.to_string());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(translate)?;
        rows.iter()
            .map(|row| Ok((id_column(row, "id")?, byline_from_row(row)?)))
            .collect()
    }

    async fn viewer_relations(
        &self,
        viewer: UserId,
        since: Timestamp,
        limit: i64,
    ) -> Result<ViewerRelations, StoreError> {
        // $1 the viewer, $2 `since`, $3 one past the limit (to tell a full list from a longer
        // one). Each part is an index range scan, limited inside its own subquery.
        let none = "CAST(NULL AS TEXT)";
        let sql = [
            format!(
                "SELECT 'f' AS kind, f.followee_id AS id, {none} AS extra, \
                 CAST(0 AS BIGINT) AS at FROM follows f WHERE f.follower_id = $1 LIMIT $3"
            ),
            format!(
                "SELECT 'b', b.blocked_id, {none}, CAST(0 AS BIGINT) FROM blocks b \
                 WHERE b.blocker_id = $1 LIMIT $3"
            ),
            format!(
                "SELECT 'B', b.blocker_id, {none}, CAST(0 AS BIGINT) FROM blocks b \
                 WHERE b.blocked_id = $1 LIMIT $3"
            ),
            format!(
                "SELECT 'l', l.post_id, {none}, p.created_at FROM post_likes l \
                 JOIN posts p ON p.id = l.post_id WHERE l.user_id = $1 AND p.created_at >= $2 \
                 ORDER BY p.created_at DESC LIMIT $3"
            ),
            "SELECT 'v', v.poll_id, CAST(v.option_index AS TEXT), p.created_at \
             FROM poll_votes v JOIN polls o ON o.id = v.poll_id JOIN posts p ON p.id = o.post_id \
             WHERE v.user_id = $1 AND p.created_at >= $2 ORDER BY p.created_at DESC LIMIT $3"
                .to_owned(),
        ]
        .map(|part| format!("SELECT * FROM ({part}) AS part"))
        .join(" UNION ALL ");
        let rows = sqlx::query(&sql)
            .bind(viewer.to_string())
            .bind(since.as_millis())
            .bind(limit + 1)
            .fetch_all(&self.pool)
            .await
            .map_err(translate)?;
        let limit = usize::try_from(limit).unwrap_or(0);
        let (mut follows, mut blocks, mut blockers) = (Vec::new(), Vec::new(), Vec::new());
        let (mut likes, mut votes) = (Vec::new(), Vec::new());
        for row in &rows {
            let kind: String = column(row, "kind")?;
            let at: i64 = column(row, "at")?;
            match kind.as_str() {
                "f" => follows.push(id_column::<UserId>(row, "id")?),
                "b" => blocks.push(id_column::<UserId>(row, "id")?),
                "B" => blockers.push(id_column::<UserId>(row, "id")?),
                "l" => likes.push((at, id_column::<PostId>(row, "id")?)),
                _ => {
                    let option: Option<String> = column(row, "extra")?;
                    let option = option.and_then(|option| option.parse().ok()).unwrap_or(0);
                    votes.push((at, (id_column::<PollId>(row, "id")?, option)));
                }
            }
        }
        // A list that reached the limit is cut at its oldest post's time (exclusive), so what
        // is kept holds every like (vote) on posts created since. (Newest first: a union does
        // not promise its parts' order.)
        likes.sort_unstable_by_key(|(at, _)| std::cmp::Reverse(*at));
        votes.sort_unstable_by_key(|(at, _)| std::cmp::Reverse(*at));
        let mut since = since.as_millis();
        for list_at in [
            likes.get(limit).map(|(at, _)| *at),
            votes.get(limit).map(|(at, _)| *at),
        ]
        .into_iter()
        .flatten()
        {
            since = since.max(list_at + 1);
        }
        let mut liked: Vec<PostId> = likes
            .into_iter()
            .filter(|(at, _)| *at >= since)
            .map(|(_, id)| id)
            .collect();
        let mut voted: Vec<(PollId, i64)> = votes
            .into_iter()
            .filter(|(at, _)| *at >= since)
            .map(|(_, vote)| vote)
            .collect();
        liked.sort_unstable();
        voted.sort_unstable();
        let blocked_complete = blocks.len() <= limit && blockers.len() <= limit;
        let following_complete = follows.len() <= limit;
        follows.truncate(limit);
        blocks.extend(blockers);
        blocks.sort_unstable();
        blocks.dedup();
        follows.sort_unstable();
        Ok(ViewerRelations {
            following: follows,
            following_complete,
            blocked: blocks,
            blocked_complete,
            liked,
            votes: voted,
            since: Timestamp::from_millis(since),
        })
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

/// The smallest post id (UUIDv7, time-ordered) made at `since`: ids above it are younger.
fn ids_since(since: Timestamp) -> String {
    let millis = u64::try_from(since.as_millis()).unwrap_or(0) & 0xFFFF_FFFF_FFFF;
    format!(
        "{:08x}-{:04x}-7000-0000-000000000000",
        millis >> 16,
        millis & 0xFFFF
    )
}
