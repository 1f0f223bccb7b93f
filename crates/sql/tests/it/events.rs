//! The outbox, the embedded event log and consumer offsets.

use crate::{account, session};
use veilgram_core::events::{DomainEvent, EventEnvelope};
use veilgram_core::ports::{CredentialStore, EventLog, EventPublisher, GraphStore, OutboxSource};
use veilgram_core::{Timestamp, UserId};
use veilgram_events::{consume_once, relay_once, EventCounter};
use veilgram_testkit::TestDatabase;

/// Takes the sign-ups' `user.updated` events out of the outbox (unpublished), checking that
/// each account announced its profile once.
async fn take_sign_ups(store: &veilgram_sql::SqlStore, accounts: &[UserId]) {
    let pending = store.pending_events(10).await.unwrap();
    let announced: Vec<DomainEvent> = pending.iter().map(|event| event.event.clone()).collect();
    let expected: Vec<DomainEvent> = accounts
        .iter()
        .map(|&user_id| DomainEvent::UserUpdated { user_id })
        .collect();
    assert_eq!(announced, expected, "a sign-up announces its profile");
    let ids: Vec<_> = pending.iter().map(|event| event.id).collect();
    store.remove_from_outbox(&ids).await.unwrap();
}

fn followed(follower: UserId, followee: UserId) -> EventEnvelope {
    EventEnvelope::new(
        Some(follower),
        Timestamp::now(),
        DomainEvent::UserFollowed {
            follower_id: follower,
            followee_id: followee,
        },
    )
}

async fn a_change_and_its_event_are_written_together(database: &TestDatabase) {
    let store = database.store().await;
    let (first, second) = (account("evt_a"), account("evt_b"));
    store
        .create_account(&first, &session(first.user_id, "e-a"))
        .await
        .unwrap();
    store
        .create_account(&second, &session(second.user_id, "e-b"))
        .await
        .unwrap();
    take_sign_ups(&store, &[first.user_id, second.user_id]).await;
    let event = followed(first.user_id, second.user_id);
    store
        .follow(first.user_id, second.user_id, Timestamp::now(), &event)
        .await
        .unwrap();
    let pending = store.pending_events(10).await.unwrap();
    assert_eq!(
        pending,
        vec![event.clone()],
        "the event waits in the outbox with the change"
    );

    // A change that fails writes no event: following a missing user.
    let missing = UserId::random();
    assert!(store
        .follow(
            first.user_id,
            missing,
            Timestamp::now(),
            &followed(first.user_id, missing)
        )
        .await
        .is_err());
    assert_eq!(store.pending_events(10).await.unwrap().len(), 1);
    // An idempotent repeat changes nothing and so says nothing.
    store
        .follow(
            first.user_id,
            second.user_id,
            Timestamp::now(),
            &followed(first.user_id, second.user_id),
        )
        .await
        .unwrap();
    assert_eq!(store.pending_events(10).await.unwrap().len(), 1);
}

async fn the_relay_moves_events_to_the_log_exactly_once(database: &TestDatabase) {
    let store = database.store().await;
    let (first, second) = (account("relay_a"), account("relay_b"));
    store
        .create_account(&first, &session(first.user_id, "r-a"))
        .await
        .unwrap();
    store
        .create_account(&second, &session(second.user_id, "r-b"))
        .await
        .unwrap();
    take_sign_ups(&store, &[first.user_id, second.user_id]).await;
    let event = followed(first.user_id, second.user_id);
    store
        .follow(first.user_id, second.user_id, Timestamp::now(), &event)
        .await
        .unwrap();
    // A crash after publishing but before removing from the outbox publishes again on restart:
    // the log keeps one copy.
    store.publish(std::slice::from_ref(&event)).await.unwrap();
    assert_eq!(relay_once(&store, &store).await.unwrap(), 1);
    assert_eq!(relay_once(&store, &store).await.unwrap(), 0);
    assert!(store.pending_events(10).await.unwrap().is_empty());
    let logged = store.read_after(0, 0, 10).await.unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].envelope, event);
}

async fn consumers_resume_from_their_committed_offset(database: &TestDatabase) {
    let store = database.store().await;
    let events: Vec<EventEnvelope> = (0..5)
        .map(|_| followed(UserId::random(), UserId::random()))
        .collect();
    store.publish(&events).await.unwrap();
    let counter = EventCounter::default();
    assert_eq!(consume_once(&store, &counter).await.unwrap(), 5);
    assert_eq!(counter.count("user.followed"), 5);
    assert_eq!(
        consume_once(&store, &counter).await.unwrap(),
        0,
        "nothing is handed over twice"
    );
    let newest = store
        .read_after(0, 0, 10)
        .await
        .unwrap()
        .last()
        .unwrap()
        .offset;
    assert_eq!(
        store.committed_offset("event-counter", 0).await.unwrap(),
        newest
    );
    // Offsets never move backwards.
    store.commit_offset("event-counter", 0, 1).await.unwrap();
    assert_eq!(
        store.committed_offset("event-counter", 0).await.unwrap(),
        newest
    );
    // A new consumer starts from the beginning.
    assert_eq!(store.committed_offset("someone-new", 0).await.unwrap(), 0);
}

/// A handler whose work is durable only at its flush, which fails while `failing` is set.
struct Batching {
    handled: std::sync::atomic::AtomicUsize,
    flushes: std::sync::atomic::AtomicUsize,
    failing: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl veilgram_events::EventHandler for Batching {
    fn name(&self) -> &'static str {
        "batching"
    }

    async fn handle(&self, _: &veilgram_core::events::LoggedEvent) -> anyhow::Result<()> {
        self.handled
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    fn batches(&self) -> bool {
        true
    }

    async fn flush(&self) -> anyhow::Result<()> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            anyhow::bail!("the flush failed");
        }
        self.flushes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// A batching consumer's offset moves only after its flush: a failed flush hands the batch
/// over again, and a good one moves the offset past the whole batch at once.
async fn a_batching_consumer_commits_only_what_it_flushed(database: &TestDatabase) {
    use std::sync::atomic::Ordering::SeqCst;
    let store = database.store().await;
    let events: Vec<EventEnvelope> = (0..6)
        .map(|_| followed(UserId::random(), UserId::random()))
        .collect();
    store.publish(&events).await.unwrap();
    let handler = Batching {
        handled: 0.into(),
        flushes: 0.into(),
        failing: true.into(),
    };
    assert!(consume_once(&store, &handler).await.is_err());
    for partition in 0..store.partitions() {
        assert_eq!(
            store.committed_offset("batching", partition).await.unwrap(),
            0
        );
    }
    handler.failing.store(false, SeqCst);
    let mut rounds = 0;
    while consume_once(&store, &handler).await.unwrap() > 0 {
        rounds += 1;
    }
    assert!(rounds > 0);
    for partition in 0..store.partitions() {
        let newest = store
            .read_after(partition, 0, 100)
            .await
            .unwrap()
            .last()
            .map_or(0, |event| event.offset);
        assert_eq!(
            store.committed_offset("batching", partition).await.unwrap(),
            newest
        );
    }
    assert!(
        handler.handled.load(SeqCst) > 6,
        "the failed batch was handed over again"
    );
    assert!(
        handler.flushes.load(SeqCst) <= store.partitions() as usize,
        "once per batch"
    );
}

/// Hands every event it is given to a channel.
struct Forward(tokio::sync::mpsc::UnboundedSender<veilgram_core::events::LoggedEvent>);

#[async_trait::async_trait]
impl veilgram_events::EventHandler for Forward {
    fn name(&self) -> &'static str {
        "forward"
    }

    async fn handle(&self, event: &veilgram_core::events::LoggedEvent) -> anyhow::Result<()> {
        self.0.send(event.clone())?;
        Ok(())
    }
}

/// A relay and a consumer that poll once an hour still carry each change at once: a commit
/// that wrote events wakes them.
async fn committed_events_wake_the_relay_and_consumers(database: &TestDatabase) {
    let store = std::sync::Arc::new(database.store().await);
    let hour = std::time::Duration::from_secs(3600);
    let (sender, mut received) = tokio::sync::mpsc::unbounded_channel();
    let tasks = [
        veilgram_events::spawn_relay(
            store.clone(),
            store.clone(),
            hour,
            Some(store.event_wakeups()),
        ),
        veilgram_events::spawn_consumer(
            store.clone(),
            std::sync::Arc::new(Forward(sender)),
            hour,
            Some(store.event_wakeups()),
        ),
    ];
    let (first, second) = (account("wake_a"), account("wake_b"));
    for (user, name) in [(&first, "w-a"), (&second, "w-b")] {
        store
            .create_account(user, &session(user.user_id, name))
            .await
            .unwrap();
    }
    // Two changes, the second after the first arrived (when both tasks wait again).
    for (follower, followee) in [(&first, &second), (&second, &first)] {
        let event = followed(follower.user_id, followee.user_id);
        store
            .follow(follower.user_id, followee.user_id, Timestamp::now(), &event)
            .await
            .unwrap();
        let arrived = loop {
            let arrived = tokio::time::timeout(std::time::Duration::from_secs(30), received.recv())
                .await
                .expect("an hour's poll interval, yet the event should come at once")
                .unwrap();
            // The sign-ups' announcements come through too, first.
            if !matches!(arrived.envelope.event, DomainEvent::UserUpdated { .. }) {
                break arrived;
            }
        };
        assert_eq!(arrived.envelope, event);
    }
    for task in tasks {
        task.abort();
    }
}

async fn the_embedded_log_keeps_the_event_log_contract(database: &TestDatabase) {
    let store = database.store().await;
    veilgram_testkit::contracts::events::events_are_logged_once_in_their_partition_in_order(&store)
        .await;
    veilgram_testkit::contracts::events::groups_keep_their_own_place_and_never_move_back(&store)
        .await;
    veilgram_testkit::contracts::events::a_lease_has_one_holder_and_moves_when_it_lapses(&store)
        .await;
}

veilgram_testkit::for_each_engine!(
    the_embedded_log_keeps_the_event_log_contract,
    committed_events_wake_the_relay_and_consumers,
    a_change_and_its_event_are_written_together,
    the_relay_moves_events_to_the_log_exactly_once,
    consumers_resume_from_their_committed_offset,
    a_batching_consumer_commits_only_what_it_flushed,
);
