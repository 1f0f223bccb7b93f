//! Realtime: which of this process's WebSocket connections listen to which channel, and the
//! relay that turns domain events into live events.
//!
//! # Layout
//! - [`Hub`]: connections register, subscribe to channels and receive, through a bounded
//!   queue each, every message the pub/sub port brings for their channels. The last messages
//!   of each channel are kept, so a client that reconnects can ask for what it missed.
//! - [`Relay`]: the event-log consumer that publishes new comments and counts on `post:<id>`,
//!   tallies on `poll:<id>`, and new posts on followers' `user:<id>` channels.
//!
//! # Invariants
//! - A connection never makes the hub wait: a full queue marks it slow and it is closed.
//! - Every live event carries an id; ids of one channel increase (UUID v7 or notification ids).

mod hub;
mod relay;

pub use hub::{ConnectionId, Hub, Registration, Replay, MAX_SUBSCRIPTIONS, QUEUE_LENGTH};
pub use relay::{post_channel, Relay};
