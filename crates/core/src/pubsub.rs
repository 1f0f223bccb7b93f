//! The pub/sub port: a message published on a channel reaches the subscribers of every process
//! (the seed's Redis Pub/Sub). Delivery is at most once and unordered across processes; what
//! must not be lost (notifications, feeds) is kept elsewhere, and clients refetch after a gap.

use async_trait::async_trait;
use std::sync::Arc;

/// One message: a channel (`user:<id>`, `post:<id>`, `poll:<id>`) and a JSON payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub channel: String,
    pub payload: Arc<str>,
}

#[derive(Debug, thiserror::Error)]
#[error("the shared bus is unavailable: {0}")]
pub struct PubSubError(pub String);

#[async_trait]
pub trait PubSub: Send + Sync {
    /// `memory` or `redis`, for logs and readiness.
    fn name(&self) -> &'static str;

    /// Delivers to this process's subscribers at once, and to other processes' through the
    /// shared bus. An error means only the shared bus failed: local delivery happened.
    async fn publish(&self, messages: &[Published]) -> Result<(), PubSubError>;

    /// Every message any process publishes from now on. A subscriber that falls behind loses
    /// the oldest messages (and learns how many it lost).
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Published>;
}
