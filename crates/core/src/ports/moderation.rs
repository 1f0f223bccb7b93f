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
            Self::Delete => "delete",
            Self::SuspendAuthor => "suspend_author",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Dismiss, Self::Hide, Self::Delete, Self::SuspendAuthor]
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
}
