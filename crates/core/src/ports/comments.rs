//! Comments: threaded comments, their likes and reports, anonymous-thread aliases and alias blocks.

use super::*;

/// Who wrote a comment, as the API may show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommentAuthor {
    Account {
        id: UserId,
        nickname: String,
        avatar_media_id: Option<String>,
    },
    /// In an anonymous thread: `OP` or `#n`. The account behind it is never shown.
    Alias(String),
    /// The comment was deleted (it stays because it has replies) or its author is gone.
    Gone,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentRecord {
    pub id: CommentId,
    pub post_id: PostId,
    pub parent_id: Option<CommentId>,
    pub depth: i64,
    pub author: CommentAuthor,
    /// Empty when deleted.
    pub text: String,
    pub deleted: bool,
    pub like_count: i64,
    pub reply_count: i64,
    pub liked_by_me: bool,
    pub created_at: Timestamp,
    /// `visible`, `warned` (shown behind a notice) or `hidden` (only its author sees it).
    pub moderation_state: String,
    /// Why it is warned or hidden: a category (`profanity`, …) or `moderator`.
    pub moderation_reason: Option<String>,
}

/// Where a new comment goes, as the store resolved it.
#[derive(Clone, Debug)]
pub struct NewComment {
    pub id: CommentId,
    pub post_id: PostId,
    /// The comment replied to, as requested; the store re-attaches a reply that would be too
    /// deep to the deepest allowed level.
    pub reply_to: Option<CommentId>,
    pub author_id: UserId,
    pub text: String,
    pub mentions: Vec<UserId>,
    pub created_at: Timestamp,
    /// HMAC of (thread, author) under the server's thread key, for anonymous threads.
    pub alias_key: SecretHash,
}

/// What creating a comment resolved: used to build its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommentPlacement {
    pub post_author_id: UserId,
    pub parent_id: Option<CommentId>,
    pub parent_author_id: Option<UserId>,
}

/// Who a comment belongs to, for permission checks and events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommentOwnership {
    /// `None` once the author's account is gone.
    pub author: Option<UserId>,
    /// In an anonymous thread, the author's alias number there (0 for the post's author).
    pub alias_number: Option<i64>,
    pub post_id: PostId,
    pub post_author: UserId,
}

/// Replies deeper than this attach to their parent's level instead (0 is top level).
pub const MAX_COMMENT_DEPTH: i64 = 2;

#[async_trait]
pub trait CommentStore: ServerSecrets {
    /// Creates a comment on a post the author may see. `NotFound` for an invisible post,
    /// `Conflict(Conflict::Parent)` for a parent on another post or that does not exist. The event is
    /// built from the placement by `event` and written in the same transaction.
    /// Answers the comment as its author sees it. With an idempotency key already used with the
    /// same body, nothing is written and the earlier comment is answered
    /// (`Conflict(Conflict::IdempotencyMismatch)` for another body).
    async fn create_comment(
        &self,
        comment: &NewComment,
        idempotency: Option<&IdempotencyKey>,
        event: EventFor<CommentPlacement>,
    ) -> Result<Created<CommentRecord>, StoreError>;

    /// A comment on a post the viewer may see, unless its author and the viewer blocked each
    /// other.
    async fn comment(
        &self,
        comment_id: CommentId,
        viewer: Option<UserId>,
    ) -> Result<Option<CommentRecord>, StoreError>;

    /// Replies to `parent` (or top-level comments when `None`) of a post the viewer may see,
    /// oldest first, after `after`.
    async fn comments(
        &self,
        post_id: PostId,
        parent: Option<CommentId>,
        viewer: Option<UserId>,
        after: Option<CommentId>,
        limit: i64,
    ) -> Result<Vec<CommentRecord>, StoreError>;

    /// Deletes (or, when it has replies, masks) a comment. `Forbidden`-worthy checks are the
    /// service's; this only writes.
    async fn delete_comment(
        &self,
        comment_id: CommentId,
        event: &EventEnvelope,
    ) -> Result<(), StoreError>;

    /// Adds (`liked`) or removes the user's like of a comment they may see. `event` builds the
    /// domain event from the comment's post, which the visibility check learns anyway.
    async fn set_comment_like(
        &self,
        comment_id: CommentId,
        user_id: UserId,
        liked: bool,
        now: Timestamp,
        event: EventFor<PostId>,
    ) -> Result<Changed, StoreError>;

    async fn report_comment(
        &self,
        report: &NewReport,
        comment_id: CommentId,
        event: &EventEnvelope,
    ) -> Result<Changed, StoreError>;

    /// The first `per_parent` replies (oldest first) to each of `parents`, in one query, ordered
    /// by parent then age.
    async fn first_replies(
        &self,
        post_id: PostId,
        parents: &[CommentId],
        viewer: Option<UserId>,
        per_parent: i64,
    ) -> Result<Vec<CommentRecord>, StoreError>;

    /// Whether the viewer may see the post (comments of invisible posts are 404).
    async fn post_visible(
        &self,
        post_id: PostId,
        viewer: Option<UserId>,
    ) -> Result<bool, StoreError>;

    /// Who owns a (not deleted) comment, if the viewer may see it.
    async fn comment_ownership(
        &self,
        comment_id: CommentId,
        viewer: UserId,
    ) -> Result<Option<CommentOwnership>, StoreError>;

    /// Hides an alias's comments in one thread from the blocker. `AlreadySo` if it was.
    async fn block_alias(&self, block: &AliasBlock) -> Result<Changed, StoreError>;

    /// Lifts one of the blocker's alias blocks. `AlreadySo` if there is no such block of theirs.
    async fn unblock_alias(
        &self,
        blocker: UserId,
        block: AliasBlockId,
    ) -> Result<Changed, StoreError>;

    /// The blocker's alias blocks, newest first, before `before`.
    async fn alias_blocks(
        &self,
        blocker: UserId,
        before: Option<AliasBlockId>,
        limit: i64,
    ) -> Result<Vec<AliasBlock>, StoreError>;
}

/// How alias number `number` of an anonymous thread is shown: 0 is the post's author.
pub fn alias_label(number: i64) -> String {
    if number == 0 {
        "OP".to_owned()
    } else {
        format!("#{number}")
    }
}

/// "Alias #n in this thread", blocked by one account: it names no account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AliasBlock {
    pub id: AliasBlockId,
    pub blocker_id: UserId,
    pub post_id: PostId,
    pub alias_number: i64,
    pub created_at: Timestamp,
}
