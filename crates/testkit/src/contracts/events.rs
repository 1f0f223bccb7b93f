//! The event-log contract, with the consumer groups' offsets and the leases they run under.
//! Written against the ports (`EventPublisher`, `EventLog`, `Leases`): the embedded log runs it
//! on SQLite and PostgreSQL, and a broker adapter (Kafka) must pass it too.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;
use veilgram_core::events::{partition_of, DomainEvent, EventEnvelope, LoggedEvent};
use veilgram_core::ports::{EventLog, EventPublisher, Leases};
use veilgram_core::{PostId, Timestamp, UserId};

fn liked(post_id: PostId) -> EventEnvelope {
    EventEnvelope::new(
        None,
        Timestamp::now(),
        DomainEvent::PostLiked {
            post_id,
            author_id: UserId::random(),
            user_id: UserId::random(),
        },
    )
}

/// Everything in the log, partition by partition.
async fn everything(log: &dyn EventLog) -> Vec<(u32, LoggedEvent)> {
    let mut all = Vec::new();
    for partition in 0..log.partitions() {
        let mut after = 0;
        loop {
            let batch = log.read_after(partition, after, 100).await.unwrap();
            let Some(last) = batch.last() else { break };
            after = last.offset;
            all.extend(batch.into_iter().map(|event| (partition, event)));
        }
    }
    all
}

/// Each event is in the log once however often it is published (a relay re-publishes after a
/// crash), in the partition its key names, and one key's events keep their order. Runs on an
/// empty log.
pub async fn events_are_logged_once_in_their_partition_in_order<L>(log: &L)
where
    L: EventPublisher + EventLog,
{
    let posts = [PostId::generate(), PostId::generate(), PostId::generate()];
    let events: Vec<EventEnvelope> = (0..12).map(|index| liked(posts[index % 3])).collect();
    log.publish(&events[..8]).await.unwrap();
    log.publish(&events[4..]).await.unwrap();
    let logged = everything(log).await;
    assert_eq!(logged.len(), events.len(), "every event once");
    let mut seen = HashMap::new();
    for (partition, event) in &logged {
        let key = event.envelope.event.partition_key();
        assert_eq!(*partition, partition_of(&key, log.partitions()));
        seen.entry(key)
            .or_insert_with(Vec::new)
            .push((event.offset, event.envelope.id));
    }
    for post in posts {
        let published: Vec<_> = events
            .iter()
            .filter(|event| event.event.partition_key() == post.to_string())
            .map(|event| event.id)
            .collect();
        let mut read = seen.remove(&post.to_string()).unwrap();
        read.sort();
        let read: Vec<_> = read.into_iter().map(|(_, id)| id).collect();
        assert_eq!(read, published, "one key's events in the order published");
    }
}

/// Each group has its own place in each partition; it never moves back; a new group starts at
/// the beginning.
pub async fn groups_keep_their_own_place_and_never_move_back<L>(log: &L)
where
    L: EventPublisher + EventLog,
{
    let post = PostId::generate();
    let events: Vec<EventEnvelope> = (0..5).map(|_| liked(post)).collect();
    log.publish(&events).await.unwrap();
    let partition = partition_of(&post.to_string(), log.partitions());
    // (The log may hold other events: this post's are the ones that count.)
    let mine = |events: Vec<LoggedEvent>| -> Vec<LoggedEvent> {
        events
            .into_iter()
            .filter(|event| event.envelope.event.partition_key() == post.to_string())
            .collect()
    };
    let logged = mine(log.read_after(partition, 0, 1000).await.unwrap());
    assert_eq!(logged.len(), 5);
    let third = logged[2].offset;
    log.commit_offset("contract-a", partition, third)
        .await
        .unwrap();
    assert_eq!(
        log.committed_offset("contract-a", partition).await.unwrap(),
        third
    );
    assert_eq!(
        log.committed_offset("contract-b", partition).await.unwrap(),
        0
    );
    log.commit_offset("contract-a", partition, logged[0].offset)
        .await
        .unwrap();
    assert_eq!(
        log.committed_offset("contract-a", partition).await.unwrap(),
        third,
        "never backwards"
    );
    let rest = mine(log.read_after(partition, third, 1000).await.unwrap());
    assert_eq!(
        rest.iter()
            .map(|event| event.envelope.id)
            .collect::<Vec<_>>(),
        events[3..].iter().map(|event| event.id).collect::<Vec<_>>()
    );
}

/// A lease has one holder at a time; it moves to another when it expires or is given up, and a
/// holder that lost it cannot renew it.
pub async fn a_lease_has_one_holder_and_moves_when_it_lapses(leases: &dyn Leases) {
    let ttl = Duration::from_secs(5);
    let now = Timestamp::now();
    assert!(leases.claim_lease("contract", "a", ttl, now).await.unwrap());
    assert!(!leases.claim_lease("contract", "b", ttl, now).await.unwrap());
    // Renewing keeps it.
    let later = now.plus(Duration::from_secs(4));
    assert!(leases
        .claim_lease("contract", "a", ttl, later)
        .await
        .unwrap());
    let before_renewed_expiry = now.plus(Duration::from_secs(8));
    assert!(!leases
        .claim_lease("contract", "b", ttl, before_renewed_expiry)
        .await
        .unwrap());
    // Once it lapses, another takes it, and the first cannot renew.
    let lapsed = later.plus(ttl + Duration::from_millis(1));
    assert!(leases
        .claim_lease("contract", "b", ttl, lapsed)
        .await
        .unwrap());
    assert!(!leases
        .claim_lease("contract", "a", ttl, lapsed)
        .await
        .unwrap());
    // Giving up: only by the holder; then another may take it at once.
    leases.release_lease("contract", "a").await.unwrap();
    assert!(!leases
        .claim_lease("contract", "a", ttl, lapsed)
        .await
        .unwrap());
    leases.release_lease("contract", "b").await.unwrap();
    assert!(leases
        .claim_lease("contract", "a", ttl, lapsed)
        .await
        .unwrap());
    // Leases are apart by name.
    assert!(leases.claim_lease("other", "b", ttl, lapsed).await.unwrap());
}
