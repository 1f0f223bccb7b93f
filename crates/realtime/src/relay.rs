//! The relay: domain events in, live events out. New comments and counts go to `post:<id>`,
//! tallies (aggregates only) to `poll:<id>`, a new post to its author's `user:<id>` and, as
//! one `followers:<id>` message, to the `user:<id>` of the followers each process serves.
//! Payloads carry ids and counts, never text or who did what, so a channel a client may
//! listen to reveals nothing the REST API would not.

use async_trait::async_trait;
use std::sync::Arc;
use veilgram_core::events::{DomainEvent, LoggedEvent};
use veilgram_core::live::{live_event, unaddressed, user_channel};
use veilgram_core::ports::{FeedStore, ModerationAction, PollStore};
use veilgram_core::pubsub::{PubSub, Published};
use veilgram_core::{PostId, UserId};
use veilgram_events::EventHandler;

pub struct Relay {
    pubsub: Arc<dyn PubSub>,
    feeds: Arc<dyn FeedStore>,
    polls: Arc<dyn PollStore>,
    /// Authors with more followers are not announced live (their followers see the post on
    /// their next feed read), as fan-out skips them.
    fan_out_limit: i64,
}

pub fn post_channel(post_id: PostId) -> String {
    format!("post:{post_id}")
}

/// The bus-only group channel of an author's followers (clients cannot subscribe to it).
pub fn followers_channel(author: UserId) -> String {
    format!("{FOLLOWERS_PREFIX}{author}")
}

pub(crate) const FOLLOWERS_PREFIX: &str = "followers:";

impl Relay {
    pub fn new(
        pubsub: Arc<dyn PubSub>,
        feeds: Arc<dyn FeedStore>,
        polls: Arc<dyn PollStore>,
        fan_out_limit: i64,
    ) -> Self {
        Self {
            pubsub,
            feeds,
            polls,
            fan_out_limit,
        }
    }

    async fn counts(&self, post_id: PostId, id: &str) -> anyhow::Result<Option<Published>> {
        let Some(engagement) = self.feeds.engagement(post_id).await? else {
            return Ok(None);
        };
        let channel = post_channel(post_id);
        let data = serde_json::json!({
            "post_id": post_id.to_string(),
            "like_count": engagement.likes,
            "comment_count": engagement.comments,
        });
        // Its own id: one event can cause a comment and a count on the same channel.
        Ok(Some(live_event(
            &channel,
            "post.updated",
            &format!("{id}.counts"),
            data,
        )))
    }

    /// A new post goes to its author's channel and, as one bus message, to the author's
    /// followers: each process's hub delivers it to the followers it serves (see
    /// [`Hub::spawn_dispatch`](crate::Hub::spawn_dispatch)), so announcing costs the same
    /// whatever the number of followers, and nothing is done for followers nobody serves.
    async fn announce(
        &self,
        post_id: PostId,
        author: UserId,
        id: &str,
    ) -> anyhow::Result<Vec<Published>> {
        let data =
            serde_json::json!({ "post_id": post_id.to_string(), "author_id": author.to_string() });
        let mut messages = vec![live_event(
            &user_channel(author),
            "post.created",
            id,
            data.clone(),
        )];
        if self.feeds.followers_count(author).await? <= self.fan_out_limit {
            messages.push(unaddressed(
                &followers_channel(author),
                "post.created",
                id,
                &data,
            ));
        }
        Ok(messages)
    }
}

#[async_trait]
impl EventHandler for Relay {
    fn name(&self) -> &'static str {
        "realtime"
    }

    async fn handle(&self, event: &LoggedEvent) -> anyhow::Result<()> {
        let id = event.envelope.id.to_string();
        let mut messages = Vec::new();
        match &event.envelope.event {
            DomainEvent::CommentCreated {
                comment_id,
                post_id,
                ..
            } => {
                let data = serde_json::json!({
                    "post_id": post_id.to_string(),
                    "comment_id": comment_id.to_string(),
                });
                messages.push(live_event(
                    &post_channel(*post_id),
                    "comment.created",
                    &id,
                    data,
                ));
                messages.extend(self.counts(*post_id, &id).await?);
            }
            DomainEvent::CommentDeleted { post_id, .. }
            | DomainEvent::PostLiked { post_id, .. }
            | DomainEvent::PostUnliked { post_id, .. } => {
                messages.extend(self.counts(*post_id, &id).await?);
            }
            DomainEvent::PollVoted { poll_id, .. } => {
                if let Some(poll) = self.polls.poll(*poll_id, None).await? {
                    let options: Vec<serde_json::Value> = poll
                        .options
                        .iter()
                        .map(|(text, votes)| serde_json::json!({ "text": text, "votes": votes }))
                        .collect();
                    let data = serde_json::json!({
                        "poll_id": poll_id.to_string(),
                        "options": options,
                        "total_votes": poll.total_votes,
                    });
                    let channel = format!("poll:{poll_id}");
                    messages.push(live_event(&channel, "poll.updated", &id, data));
                }
            }
            DomainEvent::PostCreated {
                post_id, author_id, ..
            } => messages.extend(self.announce(*post_id, *author_id, &id).await?),
            // The author's own content changed: their clients show it (ids and the action only).
            DomainEvent::ContentModerated {
                post_id,
                comment_id,
                author_id: Some(author_id),
                action,
            } if *action != ModerationAction::Dismiss => {
                let data = serde_json::json!({
                    "post_id": post_id.to_string(),
                    "comment_id": comment_id.map(|id| id.to_string()),
                    "action": action,
                });
                messages.push(live_event(
                    &user_channel(*author_id),
                    "moderation.changed",
                    &id,
                    data,
                ));
            }
            _ => {}
        }
        if !messages.is_empty() {
            if let Err(error) = self.pubsub.publish(&messages).await {
                tracing::warn!(%error, "live events were delivered in this process only");
            }
        }
        Ok(())
    }
}
