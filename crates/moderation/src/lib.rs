//! Moderation: who moderates, the queue of open reports (grouped by the post or comment they
//! are about), and a moderator's decision on a group.
//!
//! A decision is one transaction in the store (hiding a post or suspending its author, closing
//! every open report about the content, and a `content.moderated` event that notifies the
//! author and reaches their live connections). Deleting content goes through the content's own
//! service first (the application layer's `moderate` does it), so a moderator's delete is
//! exactly an author's. The actor is a moderator or the system (automatic moderation).
//!
//! Automatic moderation ([`automatic`]) is the consumer group `moderation`: it classifies what
//! is written and records warnings, hides pending review and queue entries with the system as
//! actor, in the moderation log that every decision, a moderator's too, is written to.
//!
//! Roles are granted by operators (`veilgram moderator grant <user id>`), never through the
//! API.

pub mod automatic;

pub use automatic::{report_weight, AutoModerator, ReportThreshold};
use std::sync::Arc;
use veilgram_core::events::{DomainEvent, EventEnvelope};
use veilgram_core::ports::{
    Actor, ModerationAction, ModerationStore, ReportGroup, ReportTarget, Revocation,
};
use veilgram_core::{ReportId, StoreError, Timestamp, UserId};

pub const MODERATOR: &str = "moderator";
/// The longest note an appeal may carry.
pub const MAX_APPEAL_NOTE_CHARS: usize = 500;
/// The consumer group of automatic moderation.
pub const MODERATION_GROUP: &str = "moderation";
pub const MEMBER: &str = "member";

#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
    #[error("only moderators may do this")]
    NotModerator,
    #[error("no open report with this id")]
    NotFound,
    #[error("no such post or comment of yours")]
    ContentNotFound,
    #[error("it is neither warned nor hidden: there is nothing to appeal")]
    NothingToAppeal,
    #[error("this decision was appealed already")]
    AlreadyAppealed,
    #[error("note must be at most {MAX_APPEAL_NOTE_CHARS} characters")]
    NoteTooLong,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct ModerationService {
    store: Arc<dyn ModerationStore>,
}

impl ModerationService {
    pub fn new(store: Arc<dyn ModerationStore>) -> Self {
        Self { store }
    }

    pub async fn is_moderator(&self, user_id: UserId) -> Result<bool, ModerationError> {
        Ok(self.store.role(user_id).await?.as_deref() == Some(MODERATOR))
    }

    async fn require_moderator(&self, user_id: UserId) -> Result<(), ModerationError> {
        if self.is_moderator(user_id).await? {
            Ok(())
        } else {
            Err(ModerationError::NotModerator)
        }
    }

    /// Makes an account a moderator (or a member again); false if there is no such account.
    pub async fn set_moderator(
        &self,
        user_id: UserId,
        moderator: bool,
    ) -> Result<bool, ModerationError> {
        let role = if moderator { MODERATOR } else { MEMBER };
        Ok(self.store.set_role(user_id, role).await?)
    }

    /// Open report groups, oldest first (moderators only).
    pub async fn queue(
        &self,
        moderator: UserId,
        after: Option<ReportId>,
        limit: i64,
    ) -> Result<Vec<ReportGroup>, ModerationError> {
        self.require_moderator(moderator).await?;
        Ok(self.store.open_reports(after, limit).await?)
    }

    /// Moderators may act; the system always may.
    async fn require_allowed(&self, by: Actor) -> Result<(), ModerationError> {
        match by {
            Actor::User(user) => self.require_moderator(user).await,
            Actor::System => Ok(()),
        }
    }

    /// What an open report is about (moderators and the system only).
    pub async fn target(
        &self,
        by: Actor,
        report_id: ReportId,
    ) -> Result<ReportTarget, ModerationError> {
        self.require_allowed(by).await?;
        self.store
            .report_target(report_id)
            .await?
            .ok_or(ModerationError::NotFound)
    }

    /// The action a decision really takes: a comment cannot be hidden, only deleted.
    pub fn effective(target: &ReportTarget, action: ModerationAction) -> ModerationAction {
        match action {
            ModerationAction::Hide if target.comment_id.is_some() => ModerationAction::Delete,
            other => other,
        }
    }

    /// The author's appeal of the warning or hide on their post or comment, once per decision:
    /// it lands in the moderators' queue.
    pub async fn appeal(
        &self,
        author: UserId,
        content: veilgram_core::ports::ContentRef,
        note: Option<&str>,
    ) -> Result<(), ModerationError> {
        use veilgram_core::ports::Appealed;
        let note = note.map(str::trim).filter(|note| !note.is_empty());
        if note.is_some_and(|note| note.chars().count() > MAX_APPEAL_NOTE_CHARS) {
            return Err(ModerationError::NoteTooLong);
        }
        match self
            .store
            .appeal(content, author, note, Timestamp::now())
            .await?
        {
            Appealed::Filed => Ok(()),
            Appealed::AlreadyAppealed => Err(ModerationError::AlreadyAppealed),
            Appealed::NothingToAppeal => Err(ModerationError::NothingToAppeal),
            Appealed::NotFound => Err(ModerationError::ContentNotFound),
        }
    }

    /// The moderation log, newest first (moderators only).
    pub async fn log(
        &self,
        moderator: UserId,
        before: Option<uuid::Uuid>,
        limit: i64,
    ) -> Result<Vec<veilgram_core::ports::ModerationLogEntry>, ModerationError> {
        self.require_moderator(moderator).await?;
        Ok(self.store.moderation_log(before, limit).await?)
    }

    /// Records the decision on `target` (after any deletion it needed): closes its reports,
    /// applies a hide or a suspension, and announces it. Returns the suspension's revocations.
    pub async fn decide(
        &self,
        by: Actor,
        target: &ReportTarget,
        action: ModerationAction,
    ) -> Result<Vec<Revocation>, ModerationError> {
        self.require_allowed(by).await?;
        let action = Self::effective(target, action);
        let now = Timestamp::now();
        if action == ModerationAction::SuspendAuthor && target.author_id.is_none() {
            return Err(ModerationError::NotFound);
        }
        let event = EventEnvelope::new(
            by.user(),
            now,
            DomainEvent::ContentModerated {
                post_id: target.post_id,
                comment_id: target.comment_id,
                author_id: target.author_id,
                action,
            },
        );
        Ok(self.store.resolve(target, action, by, now, &event).await?)
    }
}
