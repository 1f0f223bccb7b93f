//! Pub/sub adapters: in-process (a broadcast channel; the embedded default) and Redis Pub/Sub
//! (one `PSUBSCRIBE` per process to every VeilGram channel, re-established whenever Redis comes
//! back). A process delivers its own messages locally before publishing them, and drops its own
//! echo from Redis, so local delivery goes on while Redis is down.

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use veilgram_core::pubsub::{PubSub, PubSubError, Published};

/// Messages a slow subscriber may fall behind by before it loses the oldest.
const BACKLOG: usize = 8192;
/// Every channel travels under this prefix on Redis.
const PREFIX: &str = "vg:rt:";

pub struct LocalPubSub {
    sender: broadcast::Sender<Published>,
}

impl Default for LocalPubSub {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(BACKLOG).0,
        }
    }
}

#[async_trait]
impl PubSub for LocalPubSub {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn publish(&self, messages: &[Published]) -> Result<(), PubSubError> {
        for message in messages {
            // No subscriber is no error.
            let _ = self.sender.send(message.clone());
        }
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Published> {
        self.sender.subscribe()
    }
}

/// What travels on Redis: the payload and the process it came from. (Owned text: a JSON
/// payload arrives escaped and cannot be borrowed.)
#[derive(Serialize, Deserialize)]
struct Envelope<'a> {
    origin: std::borrow::Cow<'a, str>,
    payload: std::borrow::Cow<'a, str>,
}

pub struct RedisPubSub {
    local: LocalPubSub,
    publisher: ConnectionManager,
    /// This process, so that its own messages coming back from Redis are dropped.
    origin: String,
    listener: tokio::task::JoinHandle<()>,
    /// How many times the Redis subscription was made, while it is up; 0 while it is down.
    subscribed: tokio::sync::watch::Receiver<u64>,
}

impl Drop for RedisPubSub {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl RedisPubSub {
    /// Connects to one Redis server (`redis://…`; for a cluster, any node: Redis Cluster
    /// forwards `PUBLISH` to every node).
    pub async fn connect(url: &str) -> Result<Self, PubSubError> {
        let failed = |error: redis::RedisError| PubSubError(error.to_string());
        let client = redis::Client::open(url).map_err(failed)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1);
        let publisher = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(failed)?;
        let local = LocalPubSub::default();
        let origin = process_name();
        let (subscribed_sender, subscribed) = tokio::sync::watch::channel(0);
        let listener = tokio::spawn(listen(
            client,
            local.sender.clone(),
            origin.clone(),
            subscribed_sender,
        ));
        Ok(Self {
            local,
            publisher,
            origin,
            listener,
            subscribed,
        })
    }

    /// Returns once the subscription on Redis is up (messages other processes publish from
    /// then on arrive).
    pub async fn wait_subscribed(&self) {
        self.wait_subscribed_after(0).await;
    }

    /// Which subscription is up (a number that grows with each resubscription), 0 if none.
    pub fn subscription(&self) -> u64 {
        *self.subscribed.borrow()
    }

    /// Returns once a subscription later than `earlier` (see [`Self::subscription`]) is up.
    pub async fn wait_subscribed_after(&self, earlier: u64) {
        let mut subscribed = self.subscribed.clone();
        let _ = subscribed.wait_for(|current| *current > earlier).await;
    }
}

/// A random name for this process (the standard library's randomly keyed hasher).
fn process_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

/// Forwards every VeilGram message from Redis to this process's subscribers, reconnecting
/// (at most once a second) whenever the subscription breaks.
async fn listen(
    client: redis::Client,
    local: broadcast::Sender<Published>,
    origin: String,
    subscribed: tokio::sync::watch::Sender<u64>,
) {
    let mut made = 0;
    loop {
        match client.get_async_pubsub().await {
            Ok(mut subscription) => {
                if subscription.psubscribe(format!("{PREFIX}*")).await.is_ok() {
                    made += 1;
                    subscribed.send_replace(made);
                    let mut messages = subscription.on_message();
                    while let Some(message) = messages.next().await {
                        let channel = message.get_channel_name().to_owned();
                        let Ok(text) = message.get_payload::<String>() else {
                            continue;
                        };
                        let Ok(envelope) = serde_json::from_str::<Envelope<'_>>(&text) else {
                            tracing::warn!("an unreadable message on the bus was dropped");
                            continue;
                        };
                        if envelope.origin == origin {
                            continue; // delivered locally when published
                        }
                        let Some(channel) = channel.strip_prefix(PREFIX) else {
                            continue;
                        };
                        let _ = local.send(Published {
                            channel: channel.to_owned(),
                            payload: Arc::from(envelope.payload.as_ref()),
                        });
                    }
                }
                subscribed.send_replace(0);
                tracing::warn!("the Redis subscription ended; resubscribing");
            }
            Err(error) => tracing::warn!(%error, "cannot subscribe on Redis; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[async_trait]
impl PubSub for RedisPubSub {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn publish(&self, messages: &[Published]) -> Result<(), PubSubError> {
        self.local.publish(messages).await?;
        if messages.is_empty() {
            return Ok(());
        }
        let mut pipeline = redis::pipe();
        for message in messages {
            let envelope = Envelope {
                origin: self.origin.as_str().into(),
                payload: message.payload.as_ref().into(),
            };
            let encoded = serde_json::to_string(&envelope).unwrap_or_default();
            pipeline
                .cmd("PUBLISH")
                .arg(format!("{PREFIX}{}", message.channel))
                .arg(encoded)
                .ignore();
        }
        // The first command after Redis comes back finds the old connection broken; the
        // manager reconnects, and the second attempt goes through.
        let mut connection = self.publisher.clone();
        match pipeline.query_async::<()>(&mut connection).await {
            Ok(()) => Ok(()),
            Err(_) => pipeline
                .query_async::<()>(&mut connection)
                .await
                .map_err(|error| PubSubError(error.to_string())),
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Published> {
        self.local.subscribe()
    }
}
