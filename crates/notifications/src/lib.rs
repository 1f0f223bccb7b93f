//! Notifications: an event-log consumer turns likes, comments, replies, follows, mentions and
//! closed polls (to their author and voters) into in-app notifications (never for one's own
//! actions, never between people who blocked one another, grouped where a burst would flood),
//! publishes each on its recipient's channel for live delivery and queues its pushes; the
//! service lists them, counts the unread and marks them read.
//!
//! # Layout
//! - `push`: device registration and validation (no SSRF through Web Push endpoints).
//! - `delivery`: push jobs and the worker that sends them.
//! - [`webpush`]: RFC 8291 encryption and RFC 8292 VAPID; [`providers`]: FCM and APNs.

mod delivery;
pub mod providers;
mod push;
pub mod webpush;

pub use delivery::{PushQueue, PushWorker, PUSH_QUEUE};
pub use push::{PushDevices, PushError};

use async_trait::async_trait;
use std::sync::Arc;
use veilgram_core::events::{DomainEvent, LoggedEvent};
use veilgram_core::live::{live_event, user_channel};
use veilgram_core::ports::{
    ModerationAction, NewNotification, NotificationKind, NotificationRecord, NotificationStore,
};
use veilgram_core::pubsub::{PubSub, Published};
use veilgram_core::{NotificationId, StoreError, Timestamp, UserId};
use veilgram_events::EventHandler;

/// A notification as clients see it (API.md), for the list and for live delivery.
pub fn to_json(notification: &NotificationRecord) -> serde_json::Value {
    serde_json::json!({
        "id": notification.id.to_string(),
        "type": notification.kind.as_str(),
        "actor": notification.actor_id.map(|actor| actor.to_string()),
        "actors": notification.actors,
        "post_id": notification.post_id.map(|post| post.to_string()),
        "comment_id": notification.comment_id.map(|comment| comment.to_string()),
        "created_at": notification.created_at.to_rfc3339(),
        "read": notification.read,
    })
}

pub struct NotificationsService {
    store: Arc<dyn NotificationStore>,
}

impl NotificationsService {
    pub fn new(store: Arc<dyn NotificationStore>) -> Self {
        Self { store }
    }

    pub async fn list(
        &self,
        user_id: UserId,
        before: Option<NotificationId>,
        limit: i64,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        self.store.notifications(user_id, before, limit).await
    }

    pub async fn unread_count(&self, user_id: UserId) -> Result<i64, StoreError> {
        self.store.unread_count(user_id).await
    }

    pub async fn mark_read(
        &self,
        user_id: UserId,
        up_to: Option<NotificationId>,
    ) -> Result<(), StoreError> {
        self.store.mark_read(user_id, up_to, Timestamp::now()).await
    }
}

/// The event-log consumer that makes notifications.
pub struct NotificationMaker {
    store: Arc<dyn NotificationStore>,
    pubsub: Arc<dyn PubSub>,
    push: Option<Arc<PushQueue>>,
}

impl NotificationMaker {
    pub fn new(store: Arc<dyn NotificationStore>, pubsub: Arc<dyn PubSub>) -> Self {
        Self {
            store,
            pubsub,
            push: None,
        }
    }

    /// Also queues a push per device of each recipient.
    pub fn with_push(mut self, push: Arc<PushQueue>) -> Self {
        self.push = Some(push);
        self
    }

    /// The notifications `event` calls for (before the store drops those to the actor and
    /// between blocked people). One recipient gets one notification per event: a reply to the
    /// post's author is a reply, not also a comment; a mention in either is not repeated.
    async fn wanted(&self, event: &DomainEvent) -> Result<Vec<NewNotification>, StoreError> {
        let mut wanted: Vec<NewNotification> = Vec::new();
        let mut add = |notification: NewNotification| {
            if !wanted
                .iter()
                .any(|earlier| earlier.user_id == notification.user_id)
            {
                wanted.push(notification);
            }
        };
        match event {
            // Likes of a post whose thread is anonymous do not name the liker either.
            DomainEvent::PostLiked {
                post_id,
                author_id,
                user_id,
            } => add(NewNotification {
                user_id: *author_id,
                kind: NotificationKind::Like,
                actor_id: Some(*user_id),
                hide_actor: self.store.thread_is_anonymous(*post_id).await?,
                post_id: Some(*post_id),
                comment_id: None,
            }),
            DomainEvent::PostCreated {
                post_id,
                author_id,
                mentions,
                ..
            } => {
                for mentioned in mentions {
                    add(NewNotification {
                        user_id: *mentioned,
                        kind: NotificationKind::Mention,
                        actor_id: Some(*author_id),
                        hide_actor: false,
                        post_id: Some(*post_id),
                        comment_id: None,
                    });
                }
            }
            DomainEvent::CommentCreated {
                comment_id,
                post_id,
                post_author_id,
                parent_author_id,
                author_id,
                mentions,
                ..
            } => {
                let anonymous = self.store.thread_is_anonymous(*post_id).await?;
                let about = |user_id: UserId, kind: NotificationKind| NewNotification {
                    user_id,
                    kind,
                    actor_id: Some(*author_id),
                    hide_actor: anonymous,
                    post_id: Some(*post_id),
                    comment_id: Some(*comment_id),
                };
                if let Some(parent_author) = parent_author_id {
                    add(about(*parent_author, NotificationKind::Reply));
                }
                add(about(*post_author_id, NotificationKind::Comment));
                for mentioned in mentions {
                    add(about(*mentioned, NotificationKind::Mention));
                }
            }
            DomainEvent::UserFollowed {
                follower_id,
                followee_id,
            } => add(NewNotification {
                user_id: *followee_id,
                kind: NotificationKind::Follow,
                actor_id: Some(*follower_id),
                hide_actor: false,
                post_id: None,
                comment_id: None,
            }),
            DomainEvent::PollClosed {
                poll_id,
                post_id,
                author_id,
            } => {
                let mut told = vec![*author_id];
                told.extend(self.store.poll_voters(*poll_id).await?);
                for user_id in told {
                    add(NewNotification {
                        user_id,
                        kind: NotificationKind::PollClosed,
                        actor_id: None,
                        hide_actor: false,
                        post_id: Some(*post_id),
                        comment_id: None,
                    });
                }
            }
            // The author learns what a moderator did to their content (not who moderated, and
            // nothing when reports were dismissed). Deleted content is not linked.
            DomainEvent::ContentModerated {
                post_id,
                comment_id,
                author_id: Some(author_id),
                action,
            } if *action != ModerationAction::Dismiss => {
                let deleted = *action == ModerationAction::Delete;
                add(NewNotification {
                    user_id: *author_id,
                    kind: NotificationKind::Moderation,
                    actor_id: None,
                    hide_actor: true,
                    post_id: (!deleted || comment_id.is_some()).then_some(*post_id),
                    comment_id: comment_id.filter(|_| !deleted),
                });
            }
            _ => {}
        }
        Ok(wanted)
    }
}

#[async_trait]
impl EventHandler for NotificationMaker {
    fn name(&self) -> &'static str {
        "notifications"
    }

    async fn handle(&self, event: &LoggedEvent) -> anyhow::Result<()> {
        let envelope = &event.envelope;
        let wanted = self.wanted(&envelope.event).await?;
        if wanted.is_empty() {
            return Ok(());
        }
        let made = self
            .store
            .notify(envelope.id, &wanted, Timestamp::now())
            .await?;
        let live: Vec<Published> = made
            .iter()
            .map(|notification| {
                let channel = user_channel(notification.user_id);
                let id = notification.id.to_string();
                live_event(&channel, "notification", &id, to_json(notification))
            })
            .collect();
        if let Some(push) = &self.push {
            for notification in &made {
                push.queue(notification).await?;
            }
        }
        // Live delivery is best effort: the notification is stored, and listed on refetch.
        if let Err(error) = self.pubsub.publish(&live).await {
            tracing::warn!(%error, "notifications were stored but not delivered live");
        }
        Ok(())
    }
}
