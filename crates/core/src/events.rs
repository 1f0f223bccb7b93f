//! Domain events: `{id, type, version, occurred_at, actor, payload}`.
//!
//! A service writes an event into the outbox in the same transaction as the change it describes;
//! a relay moves it to the event log; consumers read the log at least once, so every handler must
//! be idempotent (the event id is stable across redeliveries).
//!
//! Payloads name ids, never content a consumer could leak: no text, no votes by person.

use crate::{CommentId, EventId, MediaId, PollId, PostId, ReportId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The current version of every payload below. Bump a type's version when its payload changes
/// incompatibly, and keep consumers able to read the old one.
pub const EVENT_VERSION: i64 = 1;

/// Builds a write's event from what the store learns inside the write (a post's author, where a
/// comment went). Shared and callable more than once: a write may be applied again.
pub type EventFor<T> = Arc<dyn Fn(T) -> EventEnvelope + Send + Sync>;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload")]
pub enum DomainEvent {
    #[serde(rename = "post.created")]
    PostCreated {
        post_id: PostId,
        author_id: UserId,
        visibility: crate::ports::Visibility,
        hashtags: Vec<String>,
        mentions: Vec<UserId>,
    },
    #[serde(rename = "post.edited")]
    PostEdited {
        post_id: PostId,
        author_id: UserId,
        hashtags: Vec<String>,
        mentions: Vec<UserId>,
    },
    #[serde(rename = "post.deleted")]
    PostDeleted { post_id: PostId, author_id: UserId },
    #[serde(rename = "post.liked")]
    PostLiked {
        post_id: PostId,
        author_id: UserId,
        user_id: UserId,
    },
    #[serde(rename = "post.unliked")]
    PostUnliked {
        post_id: PostId,
        author_id: UserId,
        user_id: UserId,
    },
    #[serde(rename = "post.reported")]
    PostReported {
        post_id: PostId,
        report_id: ReportId,
        reason: crate::ports::ReportReason,
    },
    #[serde(rename = "comment.created")]
    CommentCreated {
        comment_id: CommentId,
        post_id: PostId,
        post_author_id: UserId,
        parent_id: Option<CommentId>,
        parent_author_id: Option<UserId>,
        author_id: UserId,
        mentions: Vec<UserId>,
    },
    #[serde(rename = "comment.deleted")]
    CommentDeleted {
        comment_id: CommentId,
        post_id: PostId,
    },
    #[serde(rename = "comment.liked")]
    CommentLiked {
        comment_id: CommentId,
        post_id: PostId,
        user_id: UserId,
    },
    #[serde(rename = "comment.unliked")]
    CommentUnliked {
        comment_id: CommentId,
        post_id: PostId,
        user_id: UserId,
    },
    #[serde(rename = "comment.reported")]
    CommentReported {
        comment_id: CommentId,
        report_id: ReportId,
        reason: crate::ports::ReportReason,
    },
    /// A vote was cast. Deliberately names neither the voter nor the option: votes are private.
    #[serde(rename = "poll.voted")]
    PollVoted { poll_id: PollId, post_id: PostId },
    #[serde(rename = "user.followed")]
    UserFollowed {
        follower_id: UserId,
        followee_id: UserId,
    },
    #[serde(rename = "user.unfollowed")]
    UserUnfollowed {
        follower_id: UserId,
        followee_id: UserId,
    },
    #[serde(rename = "user.blocked")]
    UserBlocked {
        blocker_id: UserId,
        blocked_id: UserId,
    },
    #[serde(rename = "user.unblocked")]
    UserUnblocked {
        blocker_id: UserId,
        blocked_id: UserId,
    },
    #[serde(rename = "user.deleted")]
    UserDeleted { user_id: UserId },
    /// An account's public face changed: it signed up, changed its nickname, status or avatar,
    /// was deactivated, or came back by logging in (search keeps its profile in step).
    #[serde(rename = "user.updated")]
    UserUpdated { user_id: UserId },
    /// A poll reached its closing time (announced once, after the fact).
    #[serde(rename = "poll.closed")]
    PollClosed {
        poll_id: PollId,
        post_id: PostId,
        author_id: UserId,
    },
    /// A video attached to a post finished processing (ready or failed).
    #[serde(rename = "media.processed")]
    MediaProcessed { media_id: MediaId, post_id: PostId },
    /// A moderator acted on reported content (`action`: `dismiss`, `hide`, `delete`,
    /// `suspend_author`). `comment_id` is set when the content was a comment.
    #[serde(rename = "content.moderated")]
    ContentModerated {
        post_id: PostId,
        comment_id: Option<CommentId>,
        /// None when the comment's account is gone.
        author_id: Option<UserId>,
        action: crate::ports::ModerationAction,
    },
}

impl DomainEvent {
    /// The aggregate the event belongs to, as text: events of one key stay in order, in one
    /// partition of the log (the post for what happens to a post and its comments, polls and
    /// media; the account whose relations change for follows and blocks).
    pub fn partition_key(&self) -> String {
        match self {
            Self::PostCreated { post_id, .. }
            | Self::PostEdited { post_id, .. }
            | Self::PostDeleted { post_id, .. }
            | Self::PostLiked { post_id, .. }
            | Self::PostUnliked { post_id, .. }
            | Self::PostReported { post_id, .. }
            | Self::CommentCreated { post_id, .. }
            | Self::CommentDeleted { post_id, .. }
            | Self::CommentLiked { post_id, .. }
            | Self::CommentUnliked { post_id, .. }
            | Self::PollVoted { post_id, .. }
            | Self::PollClosed { post_id, .. }
            | Self::MediaProcessed { post_id, .. }
            | Self::ContentModerated { post_id, .. } => post_id.to_string(),
            Self::CommentReported { comment_id, .. } => comment_id.to_string(),
            Self::UserFollowed { follower_id, .. } | Self::UserUnfollowed { follower_id, .. } => {
                follower_id.to_string()
            }
            Self::UserBlocked { blocker_id, .. } | Self::UserUnblocked { blocker_id, .. } => {
                blocker_id.to_string()
            }
            Self::UserDeleted { user_id } | Self::UserUpdated { user_id } => user_id.to_string(),
        }
    }

    /// The `type` of the envelope, e.g. `post.created`.
    pub const fn event_type(&self) -> &'static str {
        // The same names as the serde tags above (a test holds them equal), read without
        // serialising the event.
        match self {
            Self::PostCreated { .. } => "post.created",
            Self::PostEdited { .. } => "post.edited",
            Self::PostDeleted { .. } => "post.deleted",
            Self::PostLiked { .. } => "post.liked",
            Self::PostUnliked { .. } => "post.unliked",
            Self::PostReported { .. } => "post.reported",
            Self::CommentCreated { .. } => "comment.created",
            Self::CommentDeleted { .. } => "comment.deleted",
            Self::CommentLiked { .. } => "comment.liked",
            Self::CommentUnliked { .. } => "comment.unliked",
            Self::CommentReported { .. } => "comment.reported",
            Self::PollVoted { .. } => "poll.voted",
            Self::UserFollowed { .. } => "user.followed",
            Self::UserUnfollowed { .. } => "user.unfollowed",
            Self::UserBlocked { .. } => "user.blocked",
            Self::UserUnblocked { .. } => "user.unblocked",
            Self::UserDeleted { .. } => "user.deleted",
            Self::UserUpdated { .. } => "user.updated",
            Self::PollClosed { .. } => "poll.closed",
            Self::MediaProcessed { .. } => "media.processed",
            Self::ContentModerated { .. } => "content.moderated",
        }
    }

    /// The payload alone, as JSON.
    pub fn payload(&self) -> serde_json::Value {
        serde_json::to_value(self)
            .ok()
            .and_then(|mut value| value.get_mut("payload").map(serde_json::Value::take))
            .unwrap_or(serde_json::Value::Null)
    }

    /// Rebuilds an event from its stored type and payload.
    pub fn from_parts(
        event_type: &str,
        payload: serde_json::Value,
    ) -> Result<Self, serde_json::Error> {
        serde_json::from_value(serde_json::json!({ "type": event_type, "payload": payload }))
    }
}

/// The envelope: what the outbox and the log store, and what consumers receive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventEnvelope {
    pub id: EventId,
    pub version: i64,
    pub occurred_at: Timestamp,
    /// Who caused it; `None` for the system.
    pub actor: Option<UserId>,
    pub event: DomainEvent,
}

impl EventEnvelope {
    pub fn new(actor: Option<UserId>, occurred_at: Timestamp, event: DomainEvent) -> Self {
        Self {
            id: EventId::generate(),
            version: EVENT_VERSION,
            occurred_at,
            actor,
            event,
        }
    }
}

/// An event as read back from the log, with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedEvent {
    pub offset: i64,
    pub envelope: EventEnvelope,
}

/// The partition of `partitions` that events with `key` go to: FNV-1a, stable across
/// processes and versions (a broker adapter must agree with it).
pub fn partition_of(key: &str, partitions: u32) -> u32 {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % u64::from(partitions.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_is_its_serde_tag() {
        let (post, user, comment) = (PostId::generate(), UserId::random(), CommentId::generate());
        let (poll, report) = (PollId::generate(), ReportId::generate());
        let events = [
            DomainEvent::PostCreated {
                post_id: post,
                author_id: user,
                visibility: crate::ports::Visibility::Public,
                hashtags: vec![],
                mentions: vec![],
            },
            DomainEvent::PostEdited {
                post_id: post,
                author_id: user,
                hashtags: vec![],
                mentions: vec![],
            },
            DomainEvent::PostDeleted {
                post_id: post,
                author_id: user,
            },
            DomainEvent::PostLiked {
                post_id: post,
                author_id: user,
                user_id: user,
            },
            DomainEvent::PostUnliked {
                post_id: post,
                author_id: user,
                user_id: user,
            },
            DomainEvent::PostReported {
                post_id: post,
                report_id: report,
                reason: crate::ports::ReportReason::Spam,
            },
            DomainEvent::CommentCreated {
                comment_id: comment,
                post_id: post,
                post_author_id: user,
                parent_id: None,
                parent_author_id: None,
                author_id: user,
                mentions: vec![],
            },
            DomainEvent::CommentDeleted {
                comment_id: comment,
                post_id: post,
            },
            DomainEvent::CommentLiked {
                comment_id: comment,
                post_id: post,
                user_id: user,
            },
            DomainEvent::CommentUnliked {
                comment_id: comment,
                post_id: post,
                user_id: user,
            },
            DomainEvent::CommentReported {
                comment_id: comment,
                report_id: report,
                reason: crate::ports::ReportReason::Spam,
            },
            DomainEvent::PollVoted {
                poll_id: poll,
                post_id: post,
            },
            DomainEvent::UserFollowed {
                follower_id: user,
                followee_id: user,
            },
            DomainEvent::UserUnfollowed {
                follower_id: user,
                followee_id: user,
            },
            DomainEvent::UserBlocked {
                blocker_id: user,
                blocked_id: user,
            },
            DomainEvent::UserUnblocked {
                blocker_id: user,
                blocked_id: user,
            },
            DomainEvent::UserDeleted { user_id: user },
            DomainEvent::UserUpdated { user_id: user },
            DomainEvent::PollClosed {
                poll_id: poll,
                post_id: post,
                author_id: user,
            },
            DomainEvent::MediaProcessed {
                media_id: MediaId::random(),
                post_id: post,
            },
            DomainEvent::ContentModerated {
                post_id: post,
                comment_id: None,
                author_id: None,
                action: crate::ports::ModerationAction::Hide,
            },
        ];
        for event in events {
            let tagged = serde_json::to_value(&event).unwrap();
            assert_eq!(tagged["type"], event.event_type());
        }
    }

    #[test]
    fn type_and_payload_round_trip() {
        let event = DomainEvent::UserFollowed {
            follower_id: UserId::random(),
            followee_id: UserId::random(),
        };
        assert_eq!(event.event_type(), "user.followed");
        let payload = event.payload();
        assert!(payload.get("follower_id").is_some());
        assert_eq!(
            DomainEvent::from_parts("user.followed", payload).unwrap(),
            event
        );
        assert!(DomainEvent::from_parts("user.exploded", serde_json::json!({})).is_err());
    }
}
