//! The outbox, the embedded event log and consumer offsets.

use crate::{account, session};
use veilgram_core::events::{DomainEvent, EventEnvelope};
use veilgram_core::ports::{CredentialStore, EventLog, EventPublisher, GraphStore, OutboxSource};
use veilgram_core::{Timestamp, UserId};
use veilgram_events::{consume_once, relay_once, EventCounter};
use veilgram_testkit::TestDatabase;

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
    let logged = store.read_after(0, 10).await.unwrap();
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
        .read_after(0, 10)
        .await
        .unwrap()
        .last()
        .unwrap()
        .offset;
    assert_eq!(
        store.committed_offset("event-counter").await.unwrap(),
        newest
    );
    // Offsets never move backwards.
    store.commit_offset("event-counter", 1).await.unwrap();
    assert_eq!(
        store.committed_offset("event-counter").await.unwrap(),
        newest
    );
    // A new consumer starts from the beginning.
    assert_eq!(store.committed_offset("someone-new").await.unwrap(), 0);
}

veilgram_testkit::for_each_engine!(
    a_change_and_its_event_are_written_together,
    the_relay_moves_events_to_the_log_exactly_once,
    consumers_resume_from_their_committed_offset,
);
