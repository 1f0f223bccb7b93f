//! `CommentsService`: the comment operations of API.md on top of the `CommentStore` port.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;
use tokio::sync::OnceCell;
use veilgram_core::error::Conflict;
use veilgram_core::events::{DomainEvent, EventEnvelope, EventFor};
use veilgram_core::ports::{
    AliasBlock, Changed, CommentOwnership, CommentPlacement, CommentRecord, CommentStore,
    IdempotencyKey, MentionDirectory, NewComment, NewReport, ReportInputError, SecretHash,
};
use veilgram_core::text::mention_keys;
use veilgram_core::{AliasBlockId, CommentId, PostId, StoreError, Timestamp, UserId};

pub const MAX_COMMENT_CHARS: usize = 1000;
/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_WINDOW: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// Replies shown under each top-level comment of a page.
pub const FIRST_REPLIES: i64 = 3;
const THREAD_KEY_NAME: &str = "thread-alias-key";

#[derive(Debug, thiserror::Error)]
pub enum CommentError {
    #[error("text must be 1 to 1000 characters")]
    InvalidText,
    #[error("parent_id is not a comment of this post")]
    InvalidParent,
    #[error("reason must be one of spam, abuse, nsfw, other")]
    InvalidReason,
    #[error("note must be at most 500 characters")]
    InvalidNote,
    #[error("post not found")]
    PostNotFound,
    #[error("comment not found")]
    NotFound,
    #[error("only the comment's author or the post's author may delete it")]
    NotAllowed,
    #[error("you cannot block yourself")]
    OwnComment,
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyMismatch,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for CommentError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            StoreError::Conflict(Conflict::IdempotencyMismatch) => Self::IdempotencyMismatch,
            StoreError::Conflict(Conflict::Parent) => Self::InvalidParent,
            other => Self::Store(other),
        }
    }
}

/// A top-level comment with its first replies.
#[derive(Clone, Debug)]
pub struct ThreadView {
    pub comment: CommentRecord,
    pub replies: Vec<CommentRecord>,
}

pub struct CommentsService {
    store: Arc<dyn CommentStore>,
    directory: Arc<dyn MentionDirectory>,
    thread_key: OnceCell<Vec<u8>>,
}

impl CommentsService {
    pub fn new(store: Arc<dyn CommentStore>, directory: Arc<dyn MentionDirectory>) -> Self {
        Self {
            store,
            directory,
            thread_key: OnceCell::new(),
        }
    }

    /// `HMAC-SHA256(thread key, post id ‖ account id)`: the key an alias is stored under.
    async fn alias_key(
        &self,
        post_id: PostId,
        user_id: UserId,
    ) -> Result<SecretHash, CommentError> {
        let key = self
            .thread_key
            .get_or_try_init(|| self.store.server_secret(THREAD_KEY_NAME))
            .await?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key)
            .map_err(|_| CommentError::Store(StoreError::Unavailable("thread key".into())))?;
        mac.update(post_id.to_string().as_bytes());
        mac.update(b"|");
        mac.update(user_id.to_string().as_bytes());
        Ok(mac.finalize().into_bytes().into())
    }

    pub async fn create(
        &self,
        post_id: PostId,
        author: UserId,
        text: &str,
        reply_to: Option<CommentId>,
        idempotency: Option<(String, SecretHash)>,
    ) -> Result<(CommentRecord, bool), CommentError> {
        let text = text.trim();
        let length = text.chars().count();
        if length == 0
            || length > MAX_COMMENT_CHARS
            || text.chars().any(|c| c.is_control() && c != '\n')
        {
            return Err(CommentError::InvalidText);
        }
        let mut mentions = self
            .directory
            .users_by_nickname_keys(&mention_keys(text))
            .await?;
        mentions.retain(|user| *user != author);
        let comment = NewComment {
            id: CommentId::generate(),
            post_id,
            reply_to,
            author_id: author,
            text: text.to_owned(),
            mentions: mentions.clone(),
            created_at: Timestamp::now(),
            alias_key: self.alias_key(post_id, author).await?,
        };
        let (comment_id, created_at) = (comment.id, comment.created_at);
        let event: EventFor<CommentPlacement> = Arc::new(move |placement: CommentPlacement| {
            EventEnvelope::new(
                Some(author),
                created_at,
                DomainEvent::CommentCreated {
                    comment_id,
                    post_id,
                    post_author_id: placement.post_author_id,
                    parent_id: placement.parent_id,
                    parent_author_id: placement.parent_author_id,
                    author_id: author,
                    mentions: mentions.clone(),
                },
            )
        });
        let key = idempotency.map(|(key, request_hash)| IdempotencyKey {
            user_id: author,
            scope: "comment",
            key,
            request_hash,
            not_before: comment.created_at.minus(IDEMPOTENCY_WINDOW),
        });
        // Two first comments racing for one alias number, or two requests for one idempotency
        // key: the loser tries again and sees the winner's result.
        let mut attempts = 0;
        let created = loop {
            match self
                .store
                .create_comment(&comment, key.as_ref(), Arc::clone(&event))
                .await
            {
                Ok(created) => break created,
                Err(StoreError::Conflict(Conflict::Alias | Conflict::IdempotencyKey))
                    if attempts < 3 =>
                {
                    attempts += 1
                }
                Err(StoreError::NotFound) => return Err(CommentError::PostNotFound),
                Err(other) => return Err(other.into()),
            }
        };
        let replayed = created.is_replayed();
        Ok((created.into_value(), replayed))
    }

    /// Top-level comments, oldest first, each with its first replies.
    pub async fn thread(
        &self,
        post_id: PostId,
        viewer: Option<UserId>,
        after: Option<CommentId>,
        limit: i64,
    ) -> Result<Vec<ThreadView>, CommentError> {
        if !self.store.post_visible(post_id, viewer).await? {
            return Err(CommentError::PostNotFound);
        }
        let top = self
            .store
            .comments(post_id, None, viewer, after, limit)
            .await?;
        // First replies of the whole page in one query, then handed to their parents.
        let parents: Vec<CommentId> = top
            .iter()
            .filter(|comment| comment.reply_count > 0)
            .map(|comment| comment.id)
            .collect();
        let mut replies = self
            .store
            .first_replies(post_id, &parents, viewer, FIRST_REPLIES)
            .await?;
        let views = top
            .into_iter()
            .map(|comment| {
                let (mine, rest): (Vec<_>, Vec<_>) = replies
                    .drain(..)
                    .partition(|reply| reply.parent_id == Some(comment.id));
                replies = rest;
                ThreadView {
                    comment,
                    replies: mine,
                }
            })
            .collect();
        Ok(views)
    }

    /// Direct replies to a comment, oldest first.
    pub async fn replies(
        &self,
        comment_id: CommentId,
        viewer: Option<UserId>,
        after: Option<CommentId>,
        limit: i64,
    ) -> Result<Vec<CommentRecord>, CommentError> {
        let parent = self
            .store
            .comment(comment_id, viewer)
            .await?
            .ok_or(CommentError::NotFound)?;
        Ok(self
            .store
            .comments(parent.post_id, Some(comment_id), viewer, after, limit)
            .await?)
    }

    async fn ownership(
        &self,
        comment_id: CommentId,
        caller: UserId,
    ) -> Result<CommentOwnership, CommentError> {
        self.store
            .comment_ownership(comment_id, caller)
            .await?
            .ok_or(CommentError::NotFound)
    }

    /// The comment's author or the post's author may delete it.
    pub async fn delete(&self, comment_id: CommentId, caller: UserId) -> Result<(), CommentError> {
        let owner = self.ownership(comment_id, caller).await?;
        if owner.author != Some(caller) && owner.post_author != caller {
            return Err(CommentError::NotAllowed);
        }
        let event = EventEnvelope::new(
            Some(caller),
            Timestamp::now(),
            DomainEvent::CommentDeleted {
                comment_id,
                post_id: owner.post_id,
            },
        );
        Ok(self.store.delete_comment(comment_id, &event).await?)
    }

    /// Deletes a comment for a moderator or the system (the caller has checked the role).
    pub async fn remove(
        &self,
        comment_id: CommentId,
        post_id: PostId,
        by: veilgram_core::ports::Actor,
    ) -> Result<(), CommentError> {
        let event = EventEnvelope::new(
            by.user(),
            Timestamp::now(),
            DomainEvent::CommentDeleted {
                comment_id,
                post_id,
            },
        );
        Ok(self.store.delete_comment(comment_id, &event).await?)
    }

    pub async fn like(
        &self,
        comment_id: CommentId,
        caller: UserId,
    ) -> Result<Changed, CommentError> {
        self.set_like(comment_id, caller, true).await
    }

    pub async fn unlike(
        &self,
        comment_id: CommentId,
        caller: UserId,
    ) -> Result<Changed, CommentError> {
        self.set_like(comment_id, caller, false).await
    }

    async fn set_like(
        &self,
        comment_id: CommentId,
        caller: UserId,
        liked: bool,
    ) -> Result<Changed, CommentError> {
        let now = Timestamp::now();
        let event: EventFor<PostId> = Arc::new(move |post_id: PostId| {
            let user_id = caller;
            let event = if liked {
                DomainEvent::CommentLiked {
                    comment_id,
                    post_id,
                    user_id,
                }
            } else {
                DomainEvent::CommentUnliked {
                    comment_id,
                    post_id,
                    user_id,
                }
            };
            EventEnvelope::new(Some(caller), now, event)
        });
        Ok(self
            .store
            .set_comment_like(comment_id, caller, liked, now, event)
            .await?)
    }

    pub async fn report(
        &self,
        comment_id: CommentId,
        caller: UserId,
        reason: &str,
        note: Option<&str>,
    ) -> Result<(), CommentError> {
        let report = NewReport::new(caller, reason, note).map_err(|error| match error {
            ReportInputError::Reason => CommentError::InvalidReason,
            ReportInputError::Note => CommentError::InvalidNote,
        })?;
        let event = EventEnvelope::new(
            Some(caller),
            report.created_at,
            DomainEvent::CommentReported {
                comment_id,
                report_id: report.id,
                reason: report.reason,
            },
        );
        self.store
            .report_comment(&report, comment_id, &event)
            .await?;
        Ok(())
    }

    /// Blocks whoever wrote a comment without telling the caller who it is. In an anonymous
    /// thread only the alias is blocked, in that thread (see [`AliasBlock`]): its comments there
    /// are hidden from the caller and it notifies them no more, and nothing anywhere else
    /// changes, so nothing answers differently for the account behind it. Elsewhere the author
    /// is named on the comment, and the account itself is to be blocked: answered here for the
    /// users service, never for the client.
    pub async fn block_author(
        &self,
        comment_id: CommentId,
        caller: UserId,
    ) -> Result<BlockedAuthor, CommentError> {
        let owner = self.ownership(comment_id, caller).await?;
        let author = owner.author.ok_or(CommentError::NotFound)?;
        if author == caller {
            return Err(CommentError::OwnComment);
        }
        let Some(alias_number) = owner.alias_number else {
            return Ok(BlockedAuthor::Account(author));
        };
        self.store
            .block_alias(&AliasBlock {
                id: AliasBlockId::generate(),
                blocker_id: caller,
                post_id: owner.post_id,
                alias_number,
                created_at: Timestamp::now(),
            })
            .await?;
        Ok(BlockedAuthor::Alias)
    }

    /// The caller's alias blocks, newest first.
    pub async fn alias_blocks(
        &self,
        caller: UserId,
        before: Option<AliasBlockId>,
        limit: i64,
    ) -> Result<Vec<AliasBlock>, CommentError> {
        Ok(self.store.alias_blocks(caller, before, limit).await?)
    }

    /// Lifts one of the caller's alias blocks. Idempotent.
    pub async fn unblock_alias(
        &self,
        caller: UserId,
        block: AliasBlockId,
    ) -> Result<Changed, CommentError> {
        Ok(self.store.unblock_alias(caller, block).await?)
    }
}

/// Whom [`CommentsService::block_author`] blocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockedAuthor {
    /// The named author of a comment outside anonymous threads: block the account.
    Account(UserId),
    /// An alias in an anonymous thread: done.
    Alias,
}
