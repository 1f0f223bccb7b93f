//! Posts: visibility, the post store (with likes, reports and idempotent creation).

use super::*;

/// Who may see a post.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Public,
    /// The author's followers and the author.
    Followers,
}

impl Visibility {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Followers => "followers",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "public" => Some(Self::Public),
            "followers" => Some(Self::Followers),
            _ => None,
        }
    }
}

/// A client's `Idempotency-Key`, scoped to the user and the operation.
#[derive(Clone, Debug)]
pub struct IdempotencyKey {
    pub user_id: UserId,
    pub scope: &'static str,
    pub key: String,
    /// SHA-256 of the request body: the same key with another body is refused.
    pub request_hash: SecretHash,
    /// Keys older than this are forgotten.
    pub not_before: Timestamp,
}

/// What an idempotent create answers. `Earlier` is how a replay names the first result, when
/// that is less than a new one carries (an id to read it by).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created<T, Earlier = T> {
    New(T),
    /// The same key and body were seen before: this is the first result.
    Replayed(Earlier),
}

impl<T, Earlier> Created<T, Earlier> {
    pub const fn is_replayed(&self) -> bool {
        matches!(self, Self::Replayed(_))
    }
}

impl<T> Created<T> {
    pub fn into_value(self) -> T {
        match self {
            Self::New(value) | Self::Replayed(value) => value,
        }
    }
}

/// A poll created with its post (already validated: 2–4 options, a closing time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPoll {
    pub id: PollId,
    pub options: Vec<String>,
    pub closes_at: Timestamp,
}

/// A poll's results as a viewer sees them. Never says who voted for what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollRecord {
    pub id: PollId,
    pub post_id: PostId,
    pub options: Vec<(String, i64)>,
    pub total_votes: i64,
    pub closes_at: Timestamp,
    pub my_vote: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct NewPost {
    pub id: PostId,
    pub poll: Option<NewPoll>,
    /// Uploads of the author's to attach (`NotFound` if one is not theirs, already attached,
    /// or gone).
    pub media: Vec<MediaId>,
    pub author_id: UserId,
    pub text: String,
    pub visibility: Visibility,
    pub anonymous_thread: bool,
    pub hashtags: Vec<String>,
    pub mentions: Vec<UserId>,
    pub created_at: Timestamp,
}

/// A new text for a post, with what was parsed from it.
#[derive(Clone, Debug)]
pub struct PostEdit {
    pub post_id: PostId,
    pub author_id: UserId,
    pub text: String,
    pub hashtags: Vec<String>,
    pub mentions: Vec<UserId>,
    pub edited_at: Timestamp,
}

/// Why something was reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportReason {
    Spam,
    Abuse,
    Nsfw,
    Other,
}

impl ReportReason {
    pub const ALL: [Self; 4] = [Self::Spam, Self::Abuse, Self::Nsfw, Self::Other];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Spam => "spam",
            Self::Abuse => "abuse",
            Self::Nsfw => "nsfw",
            Self::Other => "other",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == text)
    }
}
pub const MAX_REPORT_NOTE_CHARS: usize = 500;

#[derive(Clone, Debug)]
pub struct NewReport {
    pub id: ReportId,
    pub reporter_id: UserId,
    pub reason: ReportReason,
    pub note: Option<String>,
    pub created_at: Timestamp,
}

/// Why a report's input was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportInputError {
    /// Not one of [`ReportReason`]'s names.
    Reason,
    /// Longer than [`MAX_REPORT_NOTE_CHARS`].
    Note,
}

impl NewReport {
    /// A report of anything (post or comment), its input checked; a blank note is no note.
    pub fn new(
        reporter_id: UserId,
        reason: &str,
        note: Option<&str>,
    ) -> Result<Self, ReportInputError> {
        let reason = ReportReason::parse(reason).ok_or(ReportInputError::Reason)?;
        let note = note.map(str::trim).filter(|note| !note.is_empty());
        if note.is_some_and(|note| note.chars().count() > MAX_REPORT_NOTE_CHARS) {
            return Err(ReportInputError::Note);
        }
        Ok(Self {
            id: ReportId::generate(),
            reporter_id,
            reason,
            note: note.map(str::to_owned),
            created_at: Timestamp::now(),
        })
    }
}

/// A post as a viewer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostRecord {
    pub id: PostId,
    pub poll: Option<PollRecord>,
    /// Attached uploads, in the order the author gave.
    pub media: Vec<MediaRecord>,
    pub author_id: UserId,
    pub author_nickname: String,
    pub author_avatar_media_id: Option<String>,
    pub text: String,
    pub visibility: Visibility,
    pub anonymous_thread: bool,
    pub hashtags: Vec<String>,
    pub like_count: i64,
    pub comment_count: i64,
    pub liked_by_me: bool,
    pub created_at: Timestamp,
    pub edited_at: Option<Timestamp>,
    /// `visible`, `warned` (shown behind a notice) or `hidden` (only its author sees it).
    pub moderation_state: String,
    /// Why it is warned or hidden: a category (`profanity`, …) or `moderator`.
    pub moderation_reason: Option<String>,
}

/// Whether a write changed anything (idempotent operations answer the same either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Changed {
    Yes,
    AlreadySo,
}

/// Resolves `@mentions`: shared by posts and comments.
#[async_trait]
pub trait MentionDirectory: Send + Sync {
    /// Active users whose nickname key is one of `keys`.
    async fn users_by_nickname_keys(&self, keys: &[String]) -> Result<Vec<UserId>, StoreError>;
}

/// What the posts service needs from the relational store. Every write also appends its domain
/// event to the outbox, in the same transaction. A post a viewer may not see is `NotFound`,
/// exactly like one that does not exist.
#[async_trait]
pub trait PostStore: Send + Sync {
    /// Creates the post (and its hashtags and mentions) and answers it as its author sees it,
    /// unless the idempotency key was seen: then the first post is answered (`NotFound` if it is
    /// gone). `Conflict(Conflict::IdempotencyKey)` for the same key with another body.
    async fn create_post(
        &self,
        post: &NewPost,
        idempotency: Option<&IdempotencyKey>,
        event: &EventEnvelope,
    ) -> Result<Created<PostRecord>, StoreError>;

    /// The post if `viewer` (or an anonymous caller) may see it.
    async fn post(
        &self,
        post_id: PostId,
        viewer: Option<UserId>,
    ) -> Result<Option<PostRecord>, StoreError>;

    /// A user's posts that `viewer` may see, newest first, before `before` (exclusive).
    async fn posts_by_author(
        &self,
        author_id: UserId,
        viewer: Option<UserId>,
        before: Option<PostId>,
        limit: i64,
    ) -> Result<Vec<PostRecord>, StoreError>;

    /// Replaces the text (and so hashtags and mentions) of the author's own post.
    async fn edit_post(&self, edit: &PostEdit, event: &EventEnvelope) -> Result<(), StoreError>;

    async fn delete_post(&self, post_id: PostId, event: &EventEnvelope) -> Result<(), StoreError>;

    /// Adds (`liked`) or removes the user's like of a post they may see. `event` builds the
    /// domain event from the post's author, which the visibility check learns anyway.
    async fn set_post_like(
        &self,
        post_id: PostId,
        user_id: UserId,
        liked: bool,
        now: Timestamp,
        event: EventFor<UserId>,
    ) -> Result<Changed, StoreError>;

    /// Files a report (once per reporter and target; a repeat changes nothing).
    async fn report_post(
        &self,
        post_id: PostId,
        report: &NewReport,
        event: &EventEnvelope,
    ) -> Result<Changed, StoreError>;
}
