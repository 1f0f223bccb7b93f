//! The per-process hub.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{broadcast, mpsc, Notify};
use veilgram_core::live::{addressed, user_channel, user_of_channel};
use veilgram_core::ports::FeedStore;
use veilgram_core::pubsub::{PubSub, Published};
use veilgram_core::UserId;

use crate::relay::FOLLOWERS_PREFIX;

/// Messages a connection may have waiting before it counts as too slow.
pub const QUEUE_LENGTH: usize = 256;
/// Channels one connection may listen to (its own included).
pub const MAX_SUBSCRIPTIONS: usize = 64;
/// Messages kept per channel for clients that reconnect, and channels kept (the longest
/// unused are forgotten first).
const KEPT: usize = 32;
const CHANNELS_KEPT: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionId(u64);

struct Connection {
    queue: mpsc::Sender<Arc<str>>,
    /// Signalled when the connection fell too far behind.
    slow: Arc<Notify>,
    channels: HashSet<String>,
}

#[derive(Default)]
struct State {
    connections: HashMap<ConnectionId, Connection>,
    listeners: HashMap<String, HashSet<ConnectionId>>,
    /// The last messages of recently used channels, listened to or not (a client away is
    /// what replay is for): `(id, payload)`.
    recent: HashMap<String, Recent>,
    /// `(channel, stamp)` in the order channels were written, least recent first; an entry
    /// whose stamp is no longer its channel's is stale and skipped (touching a channel costs
    /// O(1), not a scan: fan-outs write thousands of channels at once).
    recent_order: VecDeque<(String, u64)>,
    next_stamp: u64,
}

#[derive(Default)]
struct Recent {
    /// When the channel was last written (`State::next_stamp`).
    stamp: u64,
    events: VecDeque<(String, Arc<str>)>,
}

pub struct Hub {
    state: Mutex<State>,
    next_id: AtomicU64,
}

/// What a new connection holds: its id, its queue, and the signal that it was too slow.
pub struct Registration {
    pub id: ConnectionId,
    pub queue: mpsc::Receiver<Arc<str>>,
    pub slow: Arc<Notify>,
}

/// What a client that asks for events since an id gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Replay {
    /// The messages after that id, oldest first (possibly none).
    Missed(Vec<Arc<str>>),
    /// That id is no longer kept: the client must refetch the channel's state.
    Refetch,
}

/// The `"id"` of a live event's JSON.
fn event_id(payload: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(payload)
        .ok()?
        .get("id")?
        .as_str()
        .map(str::to_owned)
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            state: Mutex::new(State::default()),
            next_id: AtomicU64::new(1),
        }
    }
}

impl Hub {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn register(&self) -> Registration {
        let id = ConnectionId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let (sender, queue) = mpsc::channel(QUEUE_LENGTH);
        let slow = Arc::new(Notify::new());
        self.state().connections.insert(
            id,
            Connection {
                queue: sender,
                slow: Arc::clone(&slow),
                channels: HashSet::new(),
            },
        );
        Registration { id, queue, slow }
    }

    /// Adds a channel to a connection; `false` when it already listens to the most allowed.
    pub fn subscribe(&self, id: ConnectionId, channel: &str) -> bool {
        let mut state = self.state();
        let Some(connection) = state.connections.get_mut(&id) else {
            return false;
        };
        if !connection.channels.contains(channel) && connection.channels.len() >= MAX_SUBSCRIPTIONS
        {
            return false;
        }
        connection.channels.insert(channel.to_owned());
        state
            .listeners
            .entry(channel.to_owned())
            .or_default()
            .insert(id);
        true
    }

    pub fn unsubscribe(&self, id: ConnectionId, channel: &str) {
        let mut state = self.state();
        if let Some(connection) = state.connections.get_mut(&id) {
            connection.channels.remove(channel);
        }
        forget_listener(&mut state, id, channel);
    }

    /// Removes a connection and its subscriptions.
    pub fn remove(&self, id: ConnectionId) {
        let mut state = self.state();
        if let Some(connection) = state.connections.remove(&id) {
            for channel in connection.channels {
                forget_listener(&mut state, id, &channel);
            }
        }
    }

    /// How many connections this process holds.
    pub fn connections(&self) -> usize {
        self.state().connections.len()
    }

    /// What `channel` carried after the event `since`.
    pub fn replay(&self, channel: &str, since: &str) -> Replay {
        let state = self.state();
        let Some(recent) = state.recent.get(channel) else {
            return Replay::Refetch;
        };
        match recent.events.iter().position(|(id, _)| id == since) {
            Some(found) => Replay::Missed(
                recent
                    .events
                    .iter()
                    .skip(found + 1)
                    .map(|(_, payload)| Arc::clone(payload))
                    .collect(),
            ),
            None => Replay::Refetch,
        }
    }

    /// Hands a message to every connection listening to its channel.
    pub fn deliver(&self, message: &Published) {
        let mut state = self.state();
        if let Some(id) = event_id(&message.payload) {
            remember(&mut state, &message.channel, id, &message.payload);
        }
        let Some(listeners) = state.listeners.get(&message.channel) else {
            return;
        };
        let listeners: Vec<ConnectionId> = listeners.iter().copied().collect();
        for listener in listeners {
            if let Some(connection) = state.connections.get(&listener) {
                if connection
                    .queue
                    .try_send(Arc::clone(&message.payload))
                    .is_err()
                {
                    connection.slow.notify_one();
                }
            }
        }
    }

    /// The users whose `user:<id>` channel this process serves: those connected here, and
    /// those whose channel is kept for replay (a client that reconnects asks for what it
    /// missed, so a kept channel must not miss anything).
    fn served_users(&self) -> Vec<UserId> {
        let state = self.state();
        let mut users: Vec<UserId> = state
            .listeners
            .keys()
            .chain(state.recent.keys())
            .filter_map(|channel| user_of_channel(channel))
            .collect();
        users.sort_unstable();
        users.dedup();
        users
    }

    /// Delivers a message sent to an author's followers (`followers:<id>`) on the
    /// `user:<id>` channel of each follower this process serves.
    async fn deliver_to_followers(&self, feeds: &dyn FeedStore, author: UserId, event: &str) {
        let served = self.served_users();
        if served.is_empty() {
            return;
        }
        match feeds.followers_among(author, &served).await {
            Ok(followers) => {
                for follower in followers {
                    self.deliver(&addressed(&user_channel(follower), event));
                }
            }
            // Live events are best effort: the post is in the followers' feeds regardless.
            Err(error) => tracing::warn!(%error, "a new post was not announced live"),
        }
    }

    /// Delivers everything `pubsub` brings until the process ends, resolving messages to an
    /// author's followers with `feeds`. Messages are handled one at a time, in bus order.
    pub fn spawn_dispatch(
        self: Arc<Self>,
        pubsub: &dyn PubSub,
        feeds: Arc<dyn FeedStore>,
    ) -> tokio::task::JoinHandle<()> {
        let mut messages = pubsub.subscribe();
        tokio::spawn(async move {
            loop {
                match messages.recv().await {
                    Ok(message) => match message
                        .channel
                        .strip_prefix(FOLLOWERS_PREFIX)
                        .map(str::parse::<UserId>)
                    {
                        Some(Ok(author)) => {
                            self.deliver_to_followers(feeds.as_ref(), author, &message.payload)
                                .await;
                        }
                        Some(Err(_)) => tracing::warn!("a followers message without an author"),
                        None => self.deliver(&message),
                    },
                    Err(broadcast::error::RecvError::Lagged(lost)) => {
                        tracing::warn!(lost, "the realtime hub fell behind the bus");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    }
}

fn forget_listener(state: &mut State, id: ConnectionId, channel: &str) {
    let emptied = state.listeners.get_mut(channel).is_some_and(|listeners| {
        listeners.remove(&id);
        listeners.is_empty()
    });
    if emptied {
        state.listeners.remove(channel);
    }
}

/// Keeps a channel's message for replay, forgetting the least recently written channel when
/// too many are kept.
fn remember(state: &mut State, channel: &str, id: String, payload: &Arc<str>) {
    state.next_stamp += 1;
    let stamp = state.next_stamp;
    let recent = state.recent.entry(channel.to_owned()).or_default();
    recent.stamp = stamp;
    recent.events.push_back((id, Arc::clone(payload)));
    if recent.events.len() > KEPT {
        recent.events.pop_front();
    }
    state.recent_order.push_back((channel.to_owned(), stamp));
    while state.recent.len() > CHANNELS_KEPT {
        let Some((oldest, stamp)) = state.recent_order.pop_front() else {
            break;
        };
        if state
            .recent
            .get(&oldest)
            .is_some_and(|recent| recent.stamp == stamp)
        {
            state.recent.remove(&oldest);
        }
    }
    // Stale entries are dropped in one pass now and then (amortised O(1) per write).
    if state.recent_order.len() > 4 * CHANNELS_KEPT {
        let recent = &state.recent;
        state.recent_order.retain(|(channel, stamp)| {
            recent.get(channel).is_some_and(|kept| kept.stamp == *stamp)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(channel: &str, id: &str) -> Published {
        Published {
            channel: channel.to_owned(),
            payload: Arc::from(format!("{{\"type\":\"event\",\"id\":\"{id}\"}}")),
        }
    }

    #[test]
    fn messages_reach_listeners_and_missed_ones_are_replayed() {
        let hub = Hub::default();
        let mut first = hub.register();
        let mut second = hub.register();
        assert!(hub.subscribe(first.id, "post:1"));
        hub.deliver(&event("post:1", "a"));
        hub.deliver(&event("post:2", "nobody listens yet"));
        assert!(first.queue.try_recv().unwrap().contains("\"a\""));
        assert!(second.queue.try_recv().is_err());
        hub.deliver(&event("post:1", "b"));
        hub.deliver(&event("post:1", "c"));
        let Replay::Missed(missed) = hub.replay("post:1", "a") else {
            panic!("a is kept");
        };
        assert_eq!(missed.len(), 2);
        assert_eq!(hub.replay("post:1", "unknown"), Replay::Refetch);
        hub.remove(first.id);
        assert_eq!(hub.connections(), 1);
        hub.deliver(&event("post:1", "d"));
        let Replay::Missed(missed) = hub.replay("post:1", "c") else {
            panic!("kept while nobody listens: a reconnecting client asks");
        };
        assert_eq!(missed.len(), 1);
        assert_eq!(
            hub.replay("post:2", "nobody listens yet"),
            Replay::Missed(Vec::new())
        );
    }

    #[test]
    fn the_least_recently_written_channels_are_forgotten_first() {
        let hub = Hub::default();
        hub.deliver(&event("user:kept", "k1"));
        for round in 0..CHANNELS_KEPT - 1 {
            hub.deliver(&event(&format!("user:{round}"), "x"));
        }
        // Written again, it is the most recent: the next channels push out the others.
        hub.deliver(&event("user:kept", "k2"));
        for round in CHANNELS_KEPT..2 * CHANNELS_KEPT - 1 {
            hub.deliver(&event(&format!("user:{round}"), "x"));
        }
        let Replay::Missed(missed) = hub.replay("user:kept", "k1") else {
            panic!("kept: written recently");
        };
        assert_eq!(missed.len(), 1);
        assert_eq!(hub.replay("user:0", "x"), Replay::Refetch, "forgotten");
        assert_eq!(
            hub.replay(&format!("user:{}", 2 * CHANNELS_KEPT - 2), "x"),
            Replay::Missed(Vec::new())
        );
        // Many more writes: the bookkeeping stays bounded.
        for round in 0..4 * CHANNELS_KEPT {
            hub.deliver(&event(&format!("post:{}", round % 64), "y"));
            hub.deliver(&event(&format!("user:more{round}"), "z"));
        }
        let state = hub.state();
        assert_eq!(state.recent.len(), CHANNELS_KEPT);
        assert!(state.recent_order.len() <= 4 * CHANNELS_KEPT);
    }

    #[test]
    fn a_full_queue_marks_the_connection_slow_and_subscriptions_are_bounded() {
        let hub = Hub::default();
        let registration = hub.register();
        for index in 0..MAX_SUBSCRIPTIONS {
            assert!(hub.subscribe(registration.id, &format!("post:{index}")));
        }
        assert!(!hub.subscribe(registration.id, "post:one-too-many"));
        for index in 0..=QUEUE_LENGTH {
            hub.deliver(&event("post:0", &index.to_string()));
        }
        let slow = Arc::clone(&registration.slow);
        let noticed = std::pin::pin!(slow.notified());
        // notify_one stored a permit: the first wait completes at once.
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        assert!(std::future::Future::poll(noticed, &mut context).is_ready());
    }
}
