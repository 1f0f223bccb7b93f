//! The live-event protocol every process speaks on the pub/sub bus and `/ws` delivers: channel
//! names (`user:<id>`, and the bus-only `followers:<id>` groups) and the event envelope
//! `{"type":"event","channel":…,"event":…,"id":…,"data":…}`. Kept here, beside the ports, so
//! that the services publishing events (notifications, realtime) share it without importing
//! one another.

use crate::pubsub::Published;
use crate::UserId;
use std::sync::Arc;

/// The channel a user's live events (notifications, feed additions) go to.
pub fn user_channel(user_id: UserId) -> String {
    format!("{USER_CHANNEL_PREFIX}{user_id}")
}

/// The user whose channel `channel` is, if it is a user's channel.
pub fn user_of_channel(channel: &str) -> Option<UserId> {
    channel.strip_prefix(USER_CHANNEL_PREFIX)?.parse().ok()
}

const USER_CHANNEL_PREFIX: &str = "user:";

/// A live event on a channel, as `/ws` sends it.
pub fn live_event(channel: &str, event: &str, id: &str, data: serde_json::Value) -> Published {
    on_channel(channel, &event_fields(event, id, &data))
}

/// A live event for a group of users that each process resolves to its own connections
/// (the realtime hub's `followers:<id>`): one bus message instead of one per recipient. Its
/// payload is the event without a channel, which [`addressed`] completes per recipient.
pub fn unaddressed(group: &str, event: &str, id: &str, data: &serde_json::Value) -> Published {
    Published {
        channel: group.to_owned(),
        payload: Arc::from(event_fields(event, id, data)),
    }
}

/// An [`unaddressed`] event's payload as the live event `/ws` sends on `channel`.
pub fn addressed(channel: &str, unaddressed: &str) -> Published {
    on_channel(channel, unaddressed)
}

/// `"data":…,"event":…,"id":…}`: the end of an event's JSON object, after its channel.
fn event_fields(event: &str, id: &str, data: &serde_json::Value) -> String {
    let object = serde_json::json!({ "event": event, "id": id, "data": data }).to_string();
    object
        .strip_prefix('{')
        .map_or_else(|| object.clone(), str::to_owned)
}

fn on_channel(channel: &str, fields: &str) -> Published {
    let quoted = serde_json::Value::from(channel).to_string();
    Published {
        channel: channel.to_owned(),
        payload: Arc::from(format!(r#"{{"type":"event","channel":{quoted},{fields}"#)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn readdressed_events_are_whole_json_documents_per_channel() {
        let data = serde_json::json!({ "post_id": "p\"1" });
        let group = unaddressed("followers:a", "post.created", "e1", &data);
        assert_eq!(group.channel, "followers:a");
        for channel in ["user:a", "user:\"b"] {
            let event = addressed(channel, &group.payload);
            assert_eq!(event.channel, channel);
            let parsed: serde_json::Value = serde_json::from_str(&event.payload).unwrap();
            assert_eq!(
                parsed,
                serde_json::json!({
                    "type": "event", "channel": channel, "event": "post.created",
                    "id": "e1", "data": { "post_id": "p\"1" },
                })
            );
        }
        assert_eq!(
            live_event("post:1", "comment.created", "e2", data).channel,
            "post:1"
        );
    }
}
