//! `PostsService`: the post operations of API.md on top of the `PostStore` port.

use std::sync::Arc;
use std::time::Duration;
use veilgram_core::error::Conflict;
use veilgram_core::events::{DomainEvent, EventEnvelope, EventFor};
use veilgram_core::ports::{
    Changed, IdempotencyKey, MentionDirectory, NewPoll, NewPost, NewReport, PostEdit, PostRecord,
    PostStore, ReportInputError, SecretHash, Visibility,
};
use veilgram_core::text::{hashtags, mention_keys};
use veilgram_core::{MediaId, PollId, PostId, StoreError, Timestamp, UserId};

pub const MAX_TEXT_CHARS: usize = 2200;
pub const MAX_HASHTAGS: usize = 30;
pub const MAX_MENTIONS: usize = 50;
pub const MAX_MEDIA: usize = 10;
/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum PostError {
    #[error("text must be 1 to 2200 characters")]
    InvalidText,
    #[error("a post may carry at most 30 hashtags")]
    TooManyHashtags,
    #[error("a post may mention at most 50 people")]
    TooManyMentions,
    #[error("visibility must be \"public\" or \"followers\"")]
    InvalidVisibility,
    #[error("a post may carry at most 10 media")]
    TooManyMedia,
    #[error("media not found")]
    MediaNotFound,
    #[error("a poll needs 2 to 4 distinct options of 1 to 80 characters")]
    InvalidPollOptions,
    #[error("a poll closes in 300 seconds (5 minutes) to 604800 seconds (7 days)")]
    InvalidPollDuration,
    #[error("reason must be one of spam, abuse, nsfw, other")]
    InvalidReason,
    #[error("note must be at most 500 characters")]
    InvalidNote,
    #[error("post not found")]
    NotFound,
    #[error("only the author may do that")]
    NotAuthor,
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyMismatch,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for PostError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            StoreError::Conflict(Conflict::IdempotencyMismatch) => Self::IdempotencyMismatch,
            other => Self::Store(other),
        }
    }
}

/// A poll as requested with a new post (not yet validated).
#[derive(Clone, Debug, Default)]
pub struct PollRequest {
    pub options: Vec<String>,
    pub closes_in_seconds: i64,
}

pub const POLL_OPTIONS: std::ops::RangeInclusive<usize> = 2..=4;
pub const POLL_OPTION_CHARS: usize = 80;
pub const POLL_DURATION_SECONDS: std::ops::RangeInclusive<i64> = 300..=604_800;

fn validate_poll(request: &PollRequest, now: Timestamp) -> Result<NewPoll, PostError> {
    let options: Vec<String> = request
        .options
        .iter()
        .map(|option| option.trim().to_owned())
        .collect();
    let mut seen: Vec<String> = Vec::new();
    for option in &options {
        let length = option.chars().count();
        let key = option.to_lowercase();
        if length == 0 || length > POLL_OPTION_CHARS || seen.contains(&key) {
            return Err(PostError::InvalidPollOptions);
        }
        seen.push(key);
    }
    if !POLL_OPTIONS.contains(&options.len()) {
        return Err(PostError::InvalidPollOptions);
    }
    if !POLL_DURATION_SECONDS.contains(&request.closes_in_seconds) {
        return Err(PostError::InvalidPollDuration);
    }
    Ok(NewPoll {
        id: PollId::generate(),
        options,
        closes_at: now.plus(Duration::from_secs(
            request.closes_in_seconds.unsigned_abs(),
        )),
    })
}

/// A create request as received (not yet validated).
#[derive(Clone, Debug, Default)]
pub struct NewPostRequest {
    pub text: String,
    pub media_ids: Vec<String>,
    pub poll: Option<PollRequest>,
    pub visibility: Option<String>,
    pub anonymous_thread: bool,
}

pub struct PostsService {
    store: Arc<dyn PostStore>,
    directory: Arc<dyn MentionDirectory>,
}

/// Text checks shared by create and edit: returns (text, hashtags, mention keys).
fn validate_text(text: &str) -> Result<(String, Vec<String>, Vec<String>), PostError> {
    let trimmed = text.trim();
    let length = trimmed.chars().count();
    if length == 0
        || length > MAX_TEXT_CHARS
        || trimmed
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(PostError::InvalidText);
    }
    let tags = hashtags(trimmed);
    if tags.len() > MAX_HASHTAGS {
        return Err(PostError::TooManyHashtags);
    }
    let mentions = mention_keys(trimmed);
    if mentions.len() > MAX_MENTIONS {
        return Err(PostError::TooManyMentions);
    }
    Ok((trimmed.to_owned(), tags, mentions))
}

impl PostsService {
    pub fn new(store: Arc<dyn PostStore>, directory: Arc<dyn MentionDirectory>) -> Self {
        Self { store, directory }
    }

    async fn resolve_mentions(
        &self,
        keys: &[String],
        author: UserId,
    ) -> Result<Vec<UserId>, PostError> {
        let mut users = self.directory.users_by_nickname_keys(keys).await?;
        users.retain(|user| *user != author);
        Ok(users)
    }

    /// Creates a post. With an idempotency key (and the SHA-256 of the request body), a retry
    /// returns the first post instead of creating another.
    pub async fn create(
        &self,
        author: UserId,
        request: NewPostRequest,
        idempotency: Option<(String, SecretHash)>,
    ) -> Result<(PostRecord, bool), PostError> {
        let (text, tags, mention_keys) = validate_text(&request.text)?;
        let visibility = match request.visibility.as_deref() {
            None => Visibility::Public,
            Some(raw) => Visibility::parse(raw).ok_or(PostError::InvalidVisibility)?,
        };
        if request.media_ids.len() > MAX_MEDIA {
            return Err(PostError::TooManyMedia);
        }
        // Someone else's upload, or no upload at all, is not found alike.
        let media = request
            .media_ids
            .iter()
            .map(|raw| raw.parse::<MediaId>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| PostError::MediaNotFound)?;
        let mut distinct = media.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() != media.len() {
            return Err(PostError::MediaNotFound);
        }
        let now = Timestamp::now();
        let poll = request
            .poll
            .as_ref()
            .map(|poll| validate_poll(poll, now))
            .transpose()?;
        let mentions = self.resolve_mentions(&mention_keys, author).await?;
        let post = NewPost {
            id: PostId::generate(),
            author_id: author,
            text,
            visibility,
            anonymous_thread: request.anonymous_thread,
            hashtags: tags.clone(),
            mentions: mentions.clone(),
            created_at: now,
            poll,
            media,
        };
        let event = EventEnvelope::new(
            Some(author),
            now,
            DomainEvent::PostCreated {
                post_id: post.id,
                author_id: author,
                visibility,
                hashtags: tags,
                mentions,
            },
        );
        let key = idempotency.map(|(key, request_hash)| IdempotencyKey {
            user_id: author,
            scope: "post",
            key,
            request_hash,
            not_before: now.minus(IDEMPOTENCY_WINDOW),
        });
        let created = match self.store.create_post(&post, key.as_ref(), &event).await {
            // Two concurrent requests with one key: the loser reads the winner's answer.
            Err(StoreError::Conflict(Conflict::IdempotencyKey)) => {
                self.store.create_post(&post, key.as_ref(), &event).await?
            }
            // The author exists (they are signed in): what was not found is an upload.
            Err(StoreError::NotFound) => return Err(PostError::MediaNotFound),
            other => other?,
        };
        let replayed = created.is_replayed();
        Ok((created.into_value(), replayed))
    }

    pub async fn get(
        &self,
        post_id: PostId,
        viewer: Option<UserId>,
    ) -> Result<PostRecord, PostError> {
        self.store
            .post(post_id, viewer)
            .await?
            .ok_or(PostError::NotFound)
    }

    pub async fn by_author(
        &self,
        author: UserId,
        viewer: Option<UserId>,
        before: Option<PostId>,
        limit: i64,
    ) -> Result<Vec<PostRecord>, PostError> {
        Ok(self
            .store
            .posts_by_author(author, viewer, before, limit)
            .await?)
    }

    /// The post if the caller may see it and wrote it: `NotFound` if they may not see it,
    /// `NotAuthor` if they may see it but did not write it.
    async fn own_post(&self, post_id: PostId, caller: UserId) -> Result<PostRecord, PostError> {
        let post = self.get(post_id, Some(caller)).await?;
        if post.author_id != caller {
            return Err(PostError::NotAuthor);
        }
        Ok(post)
    }

    pub async fn edit(
        &self,
        post_id: PostId,
        caller: UserId,
        text: &str,
    ) -> Result<PostRecord, PostError> {
        self.own_post(post_id, caller).await?;
        let (text, tags, mention_keys) = validate_text(text)?;
        let mentions = self.resolve_mentions(&mention_keys, caller).await?;
        let now = Timestamp::now();
        let event = EventEnvelope::new(
            Some(caller),
            now,
            DomainEvent::PostEdited {
                post_id,
                author_id: caller,
                hashtags: tags.clone(),
                mentions: mentions.clone(),
            },
        );
        let edit = PostEdit {
            post_id,
            author_id: caller,
            text,
            hashtags: tags,
            mentions,
            edited_at: now,
        };
        self.store.edit_post(&edit, &event).await?;
        self.get(post_id, Some(caller)).await
    }

    pub async fn delete(&self, post_id: PostId, caller: UserId) -> Result<(), PostError> {
        let post = self.own_post(post_id, caller).await?;
        let event = EventEnvelope::new(
            Some(caller),
            Timestamp::now(),
            DomainEvent::PostDeleted {
                post_id,
                author_id: post.author_id,
            },
        );
        Ok(self.store.delete_post(post_id, &event).await?)
    }

    /// Deletes a post for a moderator (the caller has checked the role): as its author would.
    pub async fn remove(
        &self,
        post_id: PostId,
        author_id: UserId,
        by: veilgram_core::ports::Actor,
    ) -> Result<(), PostError> {
        let event = EventEnvelope::new(
            by.user(),
            Timestamp::now(),
            DomainEvent::PostDeleted { post_id, author_id },
        );
        Ok(self.store.delete_post(post_id, &event).await?)
    }

    pub async fn like(&self, post_id: PostId, caller: UserId) -> Result<Changed, PostError> {
        self.set_like(post_id, caller, true).await
    }

    pub async fn unlike(&self, post_id: PostId, caller: UserId) -> Result<Changed, PostError> {
        self.set_like(post_id, caller, false).await
    }

    async fn set_like(
        &self,
        post_id: PostId,
        caller: UserId,
        liked: bool,
    ) -> Result<Changed, PostError> {
        let now = Timestamp::now();
        let event: EventFor<UserId> = Arc::new(move |author_id: UserId| {
            let user_id = caller;
            let event = if liked {
                DomainEvent::PostLiked {
                    post_id,
                    author_id,
                    user_id,
                }
            } else {
                DomainEvent::PostUnliked {
                    post_id,
                    author_id,
                    user_id,
                }
            };
            EventEnvelope::new(Some(caller), now, event)
        });
        Ok(self
            .store
            .set_post_like(post_id, caller, liked, now, event)
            .await?)
    }

    pub async fn report(
        &self,
        post_id: PostId,
        caller: UserId,
        reason: &str,
        note: Option<&str>,
    ) -> Result<(), PostError> {
        let report = NewReport::new(caller, reason, note).map_err(|error| match error {
            ReportInputError::Reason => PostError::InvalidReason,
            ReportInputError::Note => PostError::InvalidNote,
        })?;
        let event = EventEnvelope::new(
            Some(caller),
            report.created_at,
            DomainEvent::PostReported {
                post_id,
                report_id: report.id,
                reason: report.reason,
            },
        );
        self.store.report_post(post_id, &report, &event).await?;
        Ok(())
    }
}
