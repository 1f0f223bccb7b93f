//! `PostStore` on the relational engines.
//!
//! Visibility is decided in SQL, in one predicate shared by every read: a post is visible to a
//! viewer when its author is active, neither blocked the other, it is not hidden by moderation
//! (except to its author), and it is public, the viewer's own, or followers-only with the viewer
//! following the author.

use crate::batch::Write;
use crate::events::append_to_outbox;
use crate::profiles::{adjust_user_counter, Byline};
use crate::reactions::{file_report, set_like, POSTS};
use crate::store::{
    column, id_column, numbered_placeholders, translate, values_placeholders, WriteTransaction,
};
use crate::SqlStore;
use async_trait::async_trait;
use sqlx::any::AnyRow;
use veilgram_core::events::{EventEnvelope, EventFor};
use veilgram_core::ports::{
    Changed, Created, IdempotencyKey, MediaRecord, MentionDirectory, NewPost, NewReport,
    PollRecord, PostEdit, PostRecord, PostStore, Visibility,
};
use veilgram_core::{PostId, StoreError, Timestamp, UserId};

/// The visibility predicate for post alias `p` and the viewer bound at `$viewer` (an empty string
/// for anonymous callers, which matches no user).
pub(crate) fn visible_to(viewer: &str) -> String {
    format!(
        "(author.deactivated_at IS NULL \
         AND (p.moderation_state <> 'hidden' OR p.author_id = {viewer}) \
         AND (p.visibility = 'public' OR p.author_id = {viewer} \
              OR EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = {viewer} AND f.followee_id = p.author_id)) \
         AND NOT EXISTS (SELECT 1 FROM blocks b WHERE (b.blocker_id = p.author_id AND b.blocked_id = {viewer}) \
                                              OR (b.blocker_id = {viewer} AND b.blocked_id = p.author_id)))"
    )
}

pub(crate) fn post_select(viewer: &str) -> String {
    format!(
        "SELECT p.id, p.author_id, author.nickname AS author_nickname, \
         author.avatar_media_id AS author_avatar, p.text, p.visibility, p.anonymous_thread, \
         p.created_at, p.edited_at, p.like_count, p.comment_count, p.moderation_state, \
         p.moderation_reason, p.hashtags, (SELECT pl.id FROM polls pl WHERE pl.post_id = p.id) AS poll_id, \
         CAST(CASE WHEN EXISTS (SELECT 1 FROM post_likes l WHERE l.post_id = p.id AND l.user_id = {viewer}) \
              THEN 1 ELSE 0 END AS BIGINT) AS liked_by_me \
         FROM posts p JOIN users author ON author.id = p.author_id"
    )
}

fn post_from_row(row: &AnyRow) -> Result<PostRecord, StoreError> {
    let visibility: String = column(row, "visibility")?;
    Ok(PostRecord {
        id: id_column(row, "id")?,
        author_id: id_column(row, "author_id")?,
        author_nickname: column(row, "author_nickname")?,
        author_avatar_media_id: column(row, "author_avatar")?,
        text: column(row, "text")?,
        visibility: Visibility::parse(&visibility)
            .ok_or_else(|| StoreError::Unavailable(format!("unknown visibility {visibility}")))?,
        anonymous_thread: column::<i64>(row, "anonymous_thread")? != 0,
        hashtags: column::<String>(row, "hashtags")?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        poll: None,
        media: Vec::new(),
        like_count: column(row, "like_count")?,
        comment_count: column(row, "comment_count")?,
        liked_by_me: column::<i64>(row, "liked_by_me")? != 0,
        created_at: Timestamp::from_millis(column(row, "created_at")?),
        edited_at: column::<Option<i64>>(row, "edited_at")?.map(Timestamp::from_millis),
        moderation_state: column(row, "moderation_state")?,
        moderation_reason: column(row, "moderation_reason")?,
    })
}

pub(crate) fn viewer_text(viewer: Option<UserId>) -> String {
    viewer.map(|viewer| viewer.to_string()).unwrap_or_default()
}

impl SqlStore {
    /// Posts from `post_select` rows, with their polls.
    pub(crate) async fn posts_from_rows(
        &self,
        rows: &[AnyRow],
        viewer: Option<UserId>,
    ) -> Result<Vec<PostRecord>, StoreError> {
        let mut posts = Vec::with_capacity(rows.len());
        let mut with_poll = Vec::new();
        for row in rows {
            let post = post_from_row(row)?;
            if column::<Option<String>>(row, "poll_id")?.is_some() {
                with_poll.push(post.id);
            }
            posts.push(post);
        }
        self.hydrate(&mut posts, &with_poll, viewer).await?;
        Ok(posts)
    }

    /// Fills in the polls and media of a page of posts: one query each (none for polls when no
    /// post has one).
    async fn hydrate(
        &self,
        posts: &mut [PostRecord],
        with_poll: &[PostId],
        viewer: Option<UserId>,
    ) -> Result<(), StoreError> {
        let ids: Vec<PostId> = posts.iter().map(|post| post.id).collect();
        let mut media = self.media_of_posts(&ids).await?;
        for post in posts.iter_mut() {
            post.media = media.remove(&post.id).unwrap_or_default();
        }
        for poll in self
            .load_polls(crate::polls::Polls::OfPosts(with_poll), viewer)
            .await?
        {
            if let Some(post) = posts.iter_mut().find(|post| post.id == poll.post_id) {
                post.poll = Some(poll);
            }
        }
        Ok(())
    }

    /// The post, if the viewer may see it, read inside a write transaction.
    async fn visible_post_author(
        transaction: &mut WriteTransaction,
        post_id: PostId,
        viewer: UserId,
    ) -> Result<UserId, StoreError> {
        let sql = format!(
            "SELECT p.author_id FROM posts p JOIN users author ON author.id = p.author_id \
             WHERE p.id = $1 AND {}",
            visible_to("$2")
        );
        let author: Option<String> = sqlx::query_scalar(&sql)
            .bind(post_id.to_string())
            .bind(viewer.to_string())
            .fetch_optional(&mut **transaction)
            .await
            .map_err(translate)?;
        author
            .ok_or(StoreError::NotFound)?
            .parse()
            .map_err(|_| StoreError::Unavailable("stored author id is not an id".into()))
    }
}

async fn insert_tags_and_mentions(
    transaction: &mut WriteTransaction,
    post_id: PostId,
    hashtags: &[String],
    mentions: &[UserId],
) -> Result<(), StoreError> {
    let post_id = post_id.to_string();
    let mentions: Vec<String> = mentions.iter().map(UserId::to_string).collect();
    for (table, column, values) in [
        ("post_hashtags", "tag", hashtags),
        ("post_mentions", "user_id", mentions.as_slice()),
    ] {
        if values.is_empty() {
            continue;
        }
        let sql = format!(
            "INSERT INTO {table} (post_id, {column}) VALUES {} ON CONFLICT DO NOTHING",
            values_placeholders(values.len(), 2)
        );
        let mut query = sqlx::query(&sql);
        for value in values {
            query = query.bind(post_id.as_str()).bind(value.as_str());
        }
        query.execute(&mut **transaction).await.map_err(translate)?;
    }
    Ok(())
}

/// A post just created, as its author sees it.
fn new_post_record(post: &NewPost, author: Byline, media: Vec<MediaRecord>) -> PostRecord {
    PostRecord {
        id: post.id,
        media,
        poll: post.poll.as_ref().map(|poll| PollRecord {
            id: poll.id,
            post_id: post.id,
            options: poll.options.iter().map(|text| (text.clone(), 0)).collect(),
            total_votes: 0,
            closes_at: poll.closes_at,
            my_vote: None,
        }),
        author_id: post.author_id,
        author_nickname: author.nickname,
        author_avatar_media_id: author.avatar_media_id,
        text: post.text.clone(),
        visibility: post.visibility,
        anonymous_thread: post.anonymous_thread,
        hashtags: post.hashtags.clone(),
        like_count: 0,
        comment_count: 0,
        liked_by_me: false,
        created_at: post.created_at,
        edited_at: None,
        moderation_state: "visible".to_owned(),
        moderation_reason: None,
    }
}

#[async_trait]
impl MentionDirectory for SqlStore {
    async fn users_by_nickname_keys(&self, keys: &[String]) -> Result<Vec<UserId>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = numbered_placeholders(1, keys.len());
        let sql = format!(
            "SELECT id FROM users WHERE deactivated_at IS NULL AND nickname_key IN ({})",
            placeholders
        );
        let mut query = sqlx::query(&sql);
        for key in keys {
            query = query.bind(key.as_str());
        }
        let rows = query.fetch_all(&self.pool).await.map_err(translate)?;
        rows.iter().map(|row| id_column(row, "id")).collect()
    }
}

/// A new post; answers the record, or the id of the post an idempotency key already made.
struct CreatePost {
    post: NewPost,
    idempotency: Option<IdempotencyKey>,
    event: EventEnvelope,
}

#[async_trait]
impl Write for CreatePost {
    type Output = Created<PostRecord, PostId>;

    async fn apply(&self, transaction: &mut WriteTransaction) -> Result<Self::Output, StoreError> {
        let post = &self.post;
        if let Some(key) = &self.idempotency {
            let resource = post.id.to_string();
            let claimed = crate::idempotency::claim(transaction, key, &resource, post.created_at);
            if let Some(earlier) = claimed.await? {
                let earlier = earlier.parse().map_err(|_| {
                    StoreError::Unavailable("stored resource id is not an id".into())
                })?;
                return Ok(Created::Replayed(earlier));
            }
        }
        sqlx::query(
            "INSERT INTO posts (id, author_id, text, visibility, anonymous_thread, created_at, hashtags) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(post.id.to_string())
        .bind(post.author_id.to_string())
        .bind(post.text.as_str())
        .bind(post.visibility.as_str())
        .bind(i64::from(post.anonymous_thread))
        .bind(post.created_at.as_millis())
        .bind(post.hashtags.join(" "))
        .execute(&mut **transaction)
        .await
        .map_err(translate)?;
        insert_tags_and_mentions(transaction, post.id, &post.hashtags, &post.mentions).await?;
        let media = crate::media::attach_to_post(
            transaction,
            post.id,
            post.author_id,
            &post.media,
            post.created_at,
        )
        .await?;
        if let Some(poll) = &post.poll {
            crate::polls::insert_poll(transaction, post.id, poll).await?;
        }
        let author = adjust_user_counter(
            transaction,
            post.author_id,
            "posts_count",
            1,
            post.created_at,
        )
        .await?
        .ok_or(StoreError::NotFound)?;
        append_to_outbox(transaction, &self.event).await?;
        Ok(Created::New(new_post_record(post, author, media)))
    }
}

/// A like added or taken back, on a post the user may see.
struct LikePost {
    post_id: PostId,
    user_id: UserId,
    liked: bool,
    now: Timestamp,
    event: EventFor<UserId>,
}

#[async_trait]
impl Write for LikePost {
    type Output = Changed;

    async fn apply(&self, transaction: &mut WriteTransaction) -> Result<Changed, StoreError> {
        let author = SqlStore::visible_post_author(transaction, self.post_id, self.user_id).await?;
        let event = (self.event)(author);
        let target = self.post_id.to_string();
        set_like(
            transaction,
            &POSTS,
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
impl PostStore for SqlStore {
    async fn create_post(
        &self,
        post: &NewPost,
        idempotency: Option<&IdempotencyKey>,
        event: &EventEnvelope,
    ) -> Result<Created<PostRecord>, StoreError> {
        let write = CreatePost {
            post: post.clone(),
            idempotency: idempotency.cloned(),
            event: event.clone(),
        };
        match self.write(write).await? {
            Created::New(record) => Ok(Created::New(record)),
            Created::Replayed(earlier) => {
                let earlier = self.post(earlier, Some(post.author_id)).await?;
                earlier.map(Created::Replayed).ok_or(StoreError::NotFound)
            }
        }
    }

    async fn post(
        &self,
        post_id: PostId,
        viewer: Option<UserId>,
    ) -> Result<Option<PostRecord>, StoreError> {
        let sql = format!(
            "{} WHERE p.id = $1 AND {}",
            post_select("$2"),
            visible_to("$2")
        );
        let row = sqlx::query(&sql)
            .bind(post_id.to_string())
            .bind(viewer_text(viewer))
            .fetch_optional(&self.pool)
            .await
            .map_err(translate)?;
        let Some(row) = row else { return Ok(None) };
        let posts = self
            .posts_from_rows(std::slice::from_ref(&row), viewer)
            .await?;
        Ok(posts.into_iter().next())
    }

    async fn posts_by_author(
        &self,
        author_id: UserId,
        viewer: Option<UserId>,
        before: Option<PostId>,
        limit: i64,
    ) -> Result<Vec<PostRecord>, StoreError> {
        let sql = format!(
            "{} WHERE p.author_id = $1 AND p.id < $3 AND {} ORDER BY p.id DESC LIMIT $4",
            post_select("$2"),
            visible_to("$2")
        );
        // Every v7 id sorts below this.
        let before = before.map_or_else(|| "g".to_owned(), |id| id.to_string());
        let rows = sqlx::query(&sql)
            .bind(author_id.to_string())
            .bind(viewer_text(viewer))
            .bind(before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(translate)?;
        self.posts_from_rows(&rows, viewer).await
    }

    async fn edit_post(&self, edit: &PostEdit, event: &EventEnvelope) -> Result<(), StoreError> {
        let (post_id, author_id, now) = (edit.post_id, edit.author_id, edit.edited_at);
        let mut transaction = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE posts SET text = $1, edited_at = $2, hashtags = $5 WHERE id = $3 AND author_id = $4",
        )
        .bind(edit.text.as_str())
        .bind(now.as_millis())
        .bind(post_id.to_string())
        .bind(author_id.to_string())
        .bind(edit.hashtags.join(" "))
        .execute(&mut *transaction)
        .await
        .map_err(translate)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        for table in ["post_hashtags", "post_mentions"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE post_id = $1"))
                .bind(post_id.to_string())
                .execute(&mut *transaction)
                .await
                .map_err(translate)?;
        }
        insert_tags_and_mentions(&mut transaction, post_id, &edit.hashtags, &edit.mentions).await?;
        append_to_outbox(&mut transaction, event).await?;
        transaction.commit().await
    }

    async fn delete_post(&self, post_id: PostId, event: &EventEnvelope) -> Result<(), StoreError> {
        let mut transaction = self.begin_write().await?;
        let author: Option<String> =
            sqlx::query_scalar("DELETE FROM posts WHERE id = $1 RETURNING author_id")
                .bind(post_id.to_string())
                .fetch_optional(&mut *transaction)
                .await
                .map_err(translate)?;
        let author_id: UserId = author
            .ok_or(StoreError::NotFound)?
            .parse()
            .map_err(|_| StoreError::Unavailable("stored author id is not an id".into()))?;
        adjust_user_counter(
            &mut transaction,
            author_id,
            "posts_count",
            -1,
            event.occurred_at,
        )
        .await?;
        crate::media::discard_now(
            &mut transaction,
            crate::media::Discard::OfPost(post_id),
            event.occurred_at,
        )
        .await?;
        append_to_outbox(&mut transaction, event).await?;
        transaction.commit().await
    }

    async fn set_post_like(
        &self,
        post_id: PostId,
        user_id: UserId,
        liked: bool,
        now: Timestamp,
        event: EventFor<UserId>,
    ) -> Result<Changed, StoreError> {
        self.write(LikePost {
            post_id,
            user_id,
            liked,
            now,
            event,
        })
        .await
    }

    async fn report_post(
        &self,
        post_id: PostId,
        report: &NewReport,
        event: &EventEnvelope,
    ) -> Result<Changed, StoreError> {
        let mut transaction = self.begin_write().await?;
        SqlStore::visible_post_author(&mut transaction, post_id, report.reporter_id).await?;
        file_report(transaction, &POSTS, post_id.to_string(), report, event).await
    }
}
