//! Notifications: what is made from events, listed and marked read.

use super::*;

/// What a notification is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationKind {
    Like,
    Comment,
    Reply,
    Follow,
    Mention,
    PollClosed,
    Moderation,
}

impl NotificationKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Like => "like",
            Self::Comment => "comment",
            Self::Reply => "reply",
            Self::Follow => "follow",
            Self::Mention => "mention",
            Self::PollClosed => "poll_closed",
            Self::Moderation => "moderation",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Like,
            Self::Comment,
            Self::Reply,
            Self::Follow,
            Self::Mention,
            Self::PollClosed,
            Self::Moderation,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }

    /// Kinds a burst would flood with: an unread one about the same thing takes the next actor
    /// ("12 people liked your post") instead of a new notification.
    pub const fn groups(self) -> bool {
        matches!(self, Self::Like | Self::Comment | Self::Follow)
    }
}

/// A notification to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNotification {
    pub user_id: UserId,
    pub kind: NotificationKind,
    /// Who caused it (none for a poll that closed): notifications never go to the actor, nor
    /// between people who blocked one another. `hide_actor` keeps it from being shown
    /// (anonymous threads).
    pub actor_id: Option<UserId>,
    pub hide_actor: bool,
    pub post_id: Option<PostId>,
    pub comment_id: Option<CommentId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationRecord {
    pub id: NotificationId,
    pub user_id: UserId,
    pub kind: NotificationKind,
    /// The latest actor, unless hidden (anonymous threads) or deleted.
    pub actor_id: Option<UserId>,
    /// How many actors this notification stands for (grouped kinds).
    pub actors: i64,
    pub post_id: Option<PostId>,
    pub comment_id: Option<CommentId>,
    pub created_at: Timestamp,
    pub read: bool,
}

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Makes the notifications an event causes, once per event id (a redelivered event
    /// changes nothing and answers nothing); skips those to the actor and those between people
    /// blocked either way; groups unread ones of grouping kinds. Answers what it made or
    /// bumped.
    async fn notify(
        &self,
        event_id: EventId,
        notifications: &[NewNotification],
        now: Timestamp,
    ) -> Result<Vec<NotificationRecord>, StoreError>;

    /// Whether comments under the post are anonymous (their authors never shown).
    async fn thread_is_anonymous(&self, post_id: PostId) -> Result<bool, StoreError>;

    /// Everyone who voted in the poll (to tell them it closed; never shown to anyone).
    async fn poll_voters(&self, poll_id: PollId) -> Result<Vec<UserId>, StoreError>;

    /// Newest first, before `before`; hides those whose actor is now blocked either way.
    async fn notifications(
        &self,
        user_id: UserId,
        before: Option<NotificationId>,
        limit: i64,
    ) -> Result<Vec<NotificationRecord>, StoreError>;

    async fn unread_count(&self, user_id: UserId) -> Result<i64, StoreError>;

    /// Marks read every notification up to `up_to` (all if `None`).
    async fn mark_read(
        &self,
        user_id: UserId,
        up_to: Option<NotificationId>,
        now: Timestamp,
    ) -> Result<(), StoreError>;
}
