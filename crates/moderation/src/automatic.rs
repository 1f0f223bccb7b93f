//! Automatic moderation: the consumer group `moderation`. For every post written or edited and
//! every comment written, it reads the item as it is now, classifies its text
//! (`veilgram_classify`: the keyword rules and both models, under the operator's policy), and
//! records the decision through [`ModerationStore::decide`] with the system as actor: warn
//! (shown behind a notice with the category), hide pending review (and a report of the
//! system's own in the moderators' queue), queue for people, or allow (lifting a warning an
//! earlier version had). A change of state appends `content.moderated`, which notifies the
//! author and reaches their live connections, as a moderator's decision does.
//!
//! Spam is told without personal data ([`AutoModerator::spam`]): a MinHash signature of the
//! normalised text finds near copies among the last day's posts and comments, and an account younger than
//! a day may not carry many links; the policy's `spam` decision applies (hide by default).
//!
//! It also weighs reports: when the open reports about an item from distinct accounts weigh
//! [`ReportThreshold`] or more ([`report_weight`]: a reporter's record of upheld and dismissed
//! reports, and nothing for an account younger than a day), the item is hidden pending review
//! (category `reports`), so a brigade of fresh accounts cannot hide anything by itself.
//!
//! It classifies state, not events: a redelivered event classifies the same text again and
//! changes nothing, and an edit is judged as it now reads. Nothing here runs inside the write.

use crate::MODERATION_GROUP;
use async_trait::async_trait;
use std::sync::Arc;
use veilgram_classify::normalise::Normalised;
use veilgram_classify::similarity::Signature;
use veilgram_classify::{Category, Decision, TextClassifier, Verdict};
use veilgram_core::events::{DomainEvent, EventEnvelope, LoggedEvent};
use veilgram_core::ports::{
    AutomaticAction, AutomaticDecision, ContentRef, EventHandler, ModeratedContent,
    ModerationAction, ModerationStore, Reporter,
};
use veilgram_core::Timestamp;

/// The total weight of open reports that hides an item pending review.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReportThreshold(pub f64);

impl Default for ReportThreshold {
    /// Three reports from established accounts with no record either way.
    fn default() -> Self {
        Self(3.0)
    }
}

const DAY_MS: f64 = 86_400_000.0;
/// Near copies of a text in a day (itself included) that make it spam.
pub const SPAM_COPIES: i64 = 5;
/// Links a post or comment from an account younger than a day may carry.
pub const NEW_ACCOUNT_LINKS: usize = 2;

/// How much one report weighs: 1 for an account a week old or more with no record, nothing
/// for one younger than a day (rising in between); more for a reporter whose reports moderators
/// acted on, less for one whose reports they dismissed (at most 3).
pub fn report_weight(reporter: &Reporter, now: Timestamp) -> f64 {
    let age_days = (now.as_millis() - reporter.signed_up_at.as_millis()) as f64 / DAY_MS;
    let maturity = ((age_days - 1.0) / 6.0).clamp(0.0, 1.0);
    let (upheld, dismissed) = (reporter.upheld as f64, reporter.dismissed as f64);
    let record = (1.0 + 2.0 * upheld) / (1.0 + upheld + 2.0 * dismissed);
    (maturity * record).clamp(0.0, 3.0)
}

pub struct AutoModerator {
    store: Arc<dyn ModerationStore>,
    classifier: Arc<TextClassifier>,
    threshold: ReportThreshold,
}

impl AutoModerator {
    pub fn new(
        store: Arc<dyn ModerationStore>,
        classifier: Arc<TextClassifier>,
        threshold: ReportThreshold,
    ) -> Self {
        Self {
            store,
            classifier,
            threshold,
        }
    }

    /// Hides the item pending review if its open reports weigh enough.
    async fn weigh_reports(&self, content: ContentRef) -> anyhow::Result<()> {
        let now = Timestamp::now();
        let weight: f64 = self
            .store
            .open_reporters(content)
            .await?
            .iter()
            .map(|reporter| report_weight(reporter, now))
            .sum();
        if weight < self.threshold.0 {
            return Ok(());
        }
        let Some(item) = self.store.content(content).await? else {
            return Ok(());
        };
        let decision = AutomaticDecision {
            action: AutomaticAction::Hide,
            category: "reports".to_owned(),
            rule: "report-threshold".to_owned(),
            score: weight,
        };
        self.record(&item, decision, now).await
    }

    /// Records `decision` about `item`, announcing a change of state.
    async fn record(
        &self,
        item: &ModeratedContent,
        decision: AutomaticDecision,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let event = EventEnvelope::new(
            None,
            now,
            DomainEvent::ContentModerated {
                post_id: item.target.post_id,
                comment_id: item.target.comment_id,
                author_id: item.target.author_id,
                action: match decision.action {
                    AutomaticAction::Hide => ModerationAction::Hide,
                    AutomaticAction::Allow => ModerationAction::Dismiss,
                    AutomaticAction::Queue | AutomaticAction::Warn => ModerationAction::Warn,
                },
            },
        );
        self.store
            .decide(&item.target, &decision, now, &event)
            .await?;
        Ok(())
    }

    /// Classifies the post or comment as it is now and records what that decides.
    async fn judge(&self, content: ContentRef) -> anyhow::Result<()> {
        let Some(content) = self.store.content(content).await? else {
            return Ok(()); // deleted since
        };
        let now = Timestamp::now();
        let normalised = Normalised::new(&content.text);
        let mut verdict = self.classifier.classify_normalised(&normalised);
        if let Some(spam) = self.spam(&content, &normalised, now).await? {
            if spam.decision > verdict.decision {
                verdict = spam;
            }
        }
        let action = match verdict.decision {
            Decision::Allow => AutomaticAction::Allow,
            Decision::Queue => AutomaticAction::Queue,
            Decision::Warn => AutomaticAction::Warn,
            // A category the policy blocks that only a model found after the write: hidden
            // pending review (the write itself refuses what the keyword rules find).
            Decision::Hide | Decision::Block => AutomaticAction::Hide,
        };
        if action == AutomaticAction::Allow && content.state != "warned" {
            return Ok(()); // nothing to record
        }
        let decision = AutomaticDecision {
            action,
            category: verdict
                .category
                .map(|category| category.name().to_owned())
                .unwrap_or_default(),
            rule: verdict.rule.unwrap_or_default().to_owned(),
            score: verdict.score,
        };
        self.record(&content, decision, now).await
    }

    /// Spam, told without personal data: near copies of the text posted [`SPAM_COPIES`] times
    /// or more in a day (by one account or many), or more than [`NEW_ACCOUNT_LINKS`] links from
    /// an account younger than a day. The verdict the policy gives spam, if it is.
    async fn spam(
        &self,
        content: &ModeratedContent,
        normalised: &Normalised,
        now: Timestamp,
    ) -> anyhow::Result<Option<Verdict>> {
        let spam = |rule: &'static str, score: f64| Verdict {
            decision: self.classifier.policy().spam,
            category: Some(Category::Spam),
            score,
            rule: Some(rule),
        };
        let Some(author) = content.target.author_id else {
            return Ok(None);
        };
        let new_account = content
            .author_signed_up_at
            .is_some_and(|at| now.as_millis() - at.as_millis() < DAY_MS as i64);
        let links = veilgram_core::text::links(&content.text);
        if new_account && links > NEW_ACCOUNT_LINKS {
            return Ok(Some(spam("new-account-links", 1.0)));
        }
        let Some(signature) = Signature::of(normalised) else {
            return Ok(None);
        };
        let candidates = self
            .store
            .fingerprint_candidates(
                &content.target,
                author,
                &signature.to_hex(),
                signature.bands(),
                now,
            )
            .await?;
        let mut authors = std::collections::HashSet::new();
        let mut copies = 0i64;
        for (writer, other) in &candidates {
            if Signature::from_hex(other).is_some_and(|other| other.is_near(&signature)) {
                copies += 1;
                authors.insert(*writer);
            }
        }
        Ok((copies >= SPAM_COPIES).then(|| {
            let rule = if authors.len() > 1 {
                "near-copies-accounts"
            } else {
                "near-copies-repeated"
            };
            spam(rule, (copies as f64 / SPAM_COPIES as f64).min(1.0))
        }))
    }
}

#[async_trait]
impl EventHandler for AutoModerator {
    fn name(&self) -> &'static str {
        MODERATION_GROUP
    }

    async fn handle(&self, event: &LoggedEvent) -> anyhow::Result<()> {
        match &event.envelope.event {
            DomainEvent::PostCreated { post_id, .. } | DomainEvent::PostEdited { post_id, .. } => {
                self.judge(ContentRef::Post(*post_id)).await
            }
            DomainEvent::CommentCreated { comment_id, .. } => {
                self.judge(ContentRef::Comment(*comment_id)).await
            }
            DomainEvent::PostReported { post_id, .. } => {
                self.weigh_reports(ContentRef::Post(*post_id)).await
            }
            DomainEvent::CommentReported { comment_id, .. } => {
                self.weigh_reports(ContentRef::Comment(*comment_id)).await
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reporter(age_days: i64, upheld: i64, dismissed: i64, now: Timestamp) -> Reporter {
        Reporter {
            signed_up_at: Timestamp::from_millis(now.as_millis() - age_days * 86_400_000),
            upheld,
            dismissed,
        }
    }

    #[test]
    fn fresh_accounts_weigh_nothing_and_records_move_the_weight() {
        let now = Timestamp::from_millis(1_900_000_000_000);
        assert_eq!(report_weight(&reporter(0, 0, 0, now), now), 0.0);
        assert_eq!(report_weight(&reporter(0, 50, 0, now), now), 0.0);
        assert_eq!(report_weight(&reporter(7, 0, 0, now), now), 1.0);
        assert!(report_weight(&reporter(4, 0, 0, now), now) < 1.0);
        let trusted = report_weight(&reporter(30, 10, 0, now), now);
        let doubted = report_weight(&reporter(30, 0, 10, now), now);
        assert!(trusted > 1.5 && trusted <= 3.0, "{trusted}");
        assert!(doubted < 0.1, "{doubted}");
        // A brigade of a hundred day-old accounts does not reach the default threshold.
        let brigade: f64 = (0..100)
            .map(|_| report_weight(&reporter(1, 0, 0, now), now))
            .sum();
        assert!(brigade < ReportThreshold::default().0, "{brigade}");
    }
}
