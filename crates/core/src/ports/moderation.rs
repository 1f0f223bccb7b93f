//! Moderation: roles, the queue of open reports grouped by content, and decisions.

use super::*;

/// What a moderator may do about reported content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModerationAction {
    /// Nothing wrong: the reports are closed.
    Dismiss,
    /// A post stays for its author but nobody else sees it (a comment is deleted instead).
    Hide,
    /// The content is shown behind a notice with the reason (the reader taps through).
    Warn,
    /// The content is deleted as its author could delete it.
    Delete,
    /// The author's account is hidden, signed out everywhere and cannot sign in again.
    SuspendAuthor,
}

impl ModerationAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Dismiss => "dismiss",
            Self::Hide => "hide",
            Self::Warn => "warn",
            Self::Delete => "delete",
            Self::SuspendAuthor => "suspend_author",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Dismiss,
            Self::Hide,
            Self::Warn,
            Self::Delete,
            Self::SuspendAuthor,
        ]
        .into_iter()
        .find(|action| action.as_str() == text)
    }
}

/// The post or comment a report is about, and who wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportTarget {
    pub post_id: PostId,
    pub comment_id: Option<CommentId>,
    /// None for a comment whose account is gone.
    pub author_id: Option<UserId>,
}

/// The open reports about one post or comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportGroup {
    /// The oldest open report's id: what a moderator resolves the group by.
    pub report_id: ReportId,
    pub target: ReportTarget,
    /// The reported text, for the moderator to judge.
    pub text: String,
    pub reports: i64,
    /// How many reports gave each reason.
    pub reasons: Vec<(String, i64)>,
    pub first_reported_at: Timestamp,
}

/// What automatic moderation does about a post or comment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutomaticAction {
    /// Nothing wrong (a warning the system gave an earlier version is lifted).
    Allow,
    /// Shown, and put in the moderators' queue.
    Queue,
    /// Shown behind a notice with the category.
    Warn,
    /// Hidden from everyone but its author, and put in the moderators' queue.
    Hide,
}

impl AutomaticAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Queue => "queue",
            Self::Warn => "warn",
            Self::Hide => "hide",
        }
    }
}

/// A classifier's decision about a post or comment, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct AutomaticDecision {
    pub action: AutomaticAction,
    /// `slur`, `profanity`, `toxicity` (empty for `Allow`).
    pub category: String,
    /// The keyword list or model that decided (`ko-profanity`, `en-profanity-model`, …).
    pub rule: String,
    pub score: f64,
}

/// A post or comment as automatic moderation reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModeratedContent {
    pub target: ReportTarget,
    pub text: String,
    /// `visible`, `warned` or `hidden`.
    pub state: String,
    /// When its author signed up (None when the account is gone).
    pub author_signed_up_at: Option<Timestamp>,
}

/// One entry of the moderation log: a decision about a post or comment.
#[derive(Clone, Debug, PartialEq)]
pub struct ModerationLogEntry {
    /// Time-ordered: what the log pages by.
    pub id: uuid::Uuid,
    pub post_id: PostId,
    pub comment_id: Option<CommentId>,
    /// An automatic action (`queue`, `warn`, `hide`, `allow`) or a moderator's.
    pub decision: String,
    pub category: Option<String>,
    pub rule: Option<String>,
    pub score: Option<f64>,
    /// Whether the system decided (otherwise a moderator, who is never named).
    pub by_system: bool,
    pub created_at: Timestamp,
}

/// A post or a comment, by its own id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentRef {
    Post(PostId),
    Comment(CommentId),
}

/// Someone who reported an item, as the weight of their report is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reporter {
    pub signed_up_at: Timestamp,
    /// Their earlier reports that moderators acted on, and those they dismissed.
    pub upheld: i64,
    pub dismissed: i64,
}

/// What became of an appeal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appealed {
    /// It is in the moderators' queue.
    Filed,
    /// This decision was appealed before.
    AlreadyAppealed,
    /// The item is neither warned nor hidden.
    NothingToAppeal,
    /// No such post or comment of the caller's.
    NotFound,
}

#[async_trait]
pub trait ModerationStore: Send + Sync {
    /// `member` or `moderator`; None for an account that does not exist.
    async fn role(&self, user_id: UserId) -> Result<Option<String>, StoreError>;

    /// Sets the account's role; false if there is no such account.
    async fn set_role(&self, user_id: UserId, role: &str) -> Result<bool, StoreError>;

    /// Groups of open reports about content that still exists, oldest first, after the group
    /// whose report id is `after`.
    async fn open_reports(
        &self,
        after: Option<ReportId>,
        limit: i64,
    ) -> Result<Vec<ReportGroup>, StoreError>;

    /// What an open report is about; None if no open report has this id.
    async fn report_target(&self, report_id: ReportId) -> Result<Option<ReportTarget>, StoreError>;

    /// In one transaction: applies `Hide` (a post) or `SuspendAuthor`, closes every open report
    /// about the target with the action, and appends `event`. (`Delete` happened before,
    /// through the content's own service.) Returns the revocations a suspension wrote.
    async fn resolve(
        &self,
        target: &ReportTarget,
        action: ModerationAction,
        by: Actor,
        now: Timestamp,
        event: &EventEnvelope,
    ) -> Result<Vec<Revocation>, StoreError>;

    /// The post or comment as it is now; None if it is gone.
    async fn content(&self, content: ContentRef) -> Result<Option<ModeratedContent>, StoreError>;

    /// Records the fingerprint of a post's or comment's text and its band values, and returns
    /// the last day's fingerprints that share a band with it (itself included), with their
    /// authors, at most a thousand; fingerprints older than two days are dropped.
    async fn fingerprint_candidates(
        &self,
        target: &ReportTarget,
        author: UserId,
        fingerprint: &str,
        bands: [i64; 4],
        now: Timestamp,
    ) -> Result<Vec<(UserId, String)>, StoreError>;

    /// The people behind the open reports about a post or comment (not the system's), with
    /// what the weight of their word depends on.
    async fn open_reporters(&self, content: ContentRef) -> Result<Vec<Reporter>, StoreError>;

    /// In one transaction, applies an automatic decision to what `content` read: `Warn` marks
    /// a visible item warned, `Hide` hides it and files a report of the system's own (once per
    /// item while one is open), `Queue` only files the report, `Allow` lifts a warning; logs
    /// what changed or asks for review, and appends `event` if the item's state changed.
    /// Returns whether it did.
    async fn decide(
        &self,
        target: &ReportTarget,
        decision: &AutomaticDecision,
        now: Timestamp,
        event: &EventEnvelope,
    ) -> Result<bool, StoreError>;

    /// In one transaction: the author's appeal of the decision standing on their warned or
    /// hidden post or comment (once per decision), and a report of it (no reporter, reason
    /// `appeal`, the note) in the moderators' queue.
    async fn appeal(
        &self,
        content: ContentRef,
        author: UserId,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<Appealed, StoreError>;

    /// The moderation log, newest first, before the entry `before`.
    async fn moderation_log(
        &self,
        before: Option<uuid::Uuid>,
        limit: i64,
    ) -> Result<Vec<ModerationLogEntry>, StoreError>;
}
