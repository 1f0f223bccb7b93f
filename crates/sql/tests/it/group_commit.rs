//! Group commit: writes that queue up together share a transaction, and one that fails costs
//! the others nothing.

use crate::{account, session};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use veilgram_core::events::{DomainEvent, EventEnvelope, EventFor};
use veilgram_core::ports::{Changed, CredentialStore, GraphStore, NewPost, PostStore, Visibility};
use veilgram_core::{PostId, StoreError, Timestamp, UserId};
use veilgram_testkit::TestDatabase;

fn liked_event(post_id: PostId, user_id: UserId) -> EventFor<UserId> {
    Arc::new(move |author_id| {
        EventEnvelope::new(
            Some(user_id),
            Timestamp::now(),
            DomainEvent::PostLiked {
                post_id,
                author_id,
                user_id,
            },
        )
    })
}

/// Rounds of concurrent likes, each round with one like that must fail (its author blocked the
/// liker): every like gets the answer it would have had alone, the failed one writes nothing,
/// and the count is exact. On SQLite, over the rounds, writes must have shared commits and
/// failed batches must have been redone.
async fn a_failing_write_costs_its_batch_nothing(database: &TestDatabase) {
    const ROUNDS: usize = 5;
    const LIKERS: usize = 16;
    let store = Arc::new(database.store().await);
    let stats = store.commit_stats();
    let author = account("author");
    store
        .create_account(&author, &session(author.user_id, "author"))
        .await
        .unwrap();
    let blocked = account("blocked");
    store
        .create_account(&blocked, &session(blocked.user_id, "blocked"))
        .await
        .unwrap();
    let now = Timestamp::now();
    let block = EventEnvelope::new(
        Some(author.user_id),
        now,
        DomainEvent::UserBlocked {
            blocker_id: author.user_id,
            blocked_id: blocked.user_id,
        },
    );
    store
        .block(author.user_id, blocked.user_id, now, &block)
        .await
        .unwrap();
    for round in 0..ROUNDS {
        let post = NewPost {
            id: PostId::generate(),
            poll: None,
            media: Vec::new(),
            author_id: author.user_id,
            text: format!("round {round}"),
            visibility: Visibility::Public,
            anonymous_thread: false,
            hashtags: Vec::new(),
            mentions: Vec::new(),
            created_at: Timestamp::now(),
        };
        let created = EventEnvelope::new(
            Some(author.user_id),
            post.created_at,
            DomainEvent::PostCreated {
                post_id: post.id,
                author_id: author.user_id,
                visibility: veilgram_core::ports::Visibility::Public,
                hashtags: Vec::new(),
                mentions: Vec::new(),
            },
        );
        store.create_post(&post, None, &created).await.unwrap();
        let mut likers = Vec::new();
        for index in 0..LIKERS {
            let liker = account(&format!("liker_{round}_{index}"));
            store
                .create_account(
                    &liker,
                    &session(liker.user_id, &format!("l{round}-{index}")),
                )
                .await
                .unwrap();
            likers.push(liker.user_id);
        }
        likers.insert(LIKERS / 2, blocked.user_id);
        let mut attempts = tokio::task::JoinSet::new();
        for user_id in likers {
            let store = Arc::clone(&store);
            let post_id = post.id;
            attempts.spawn(async move {
                let event = liked_event(post_id, user_id);
                let answer = store
                    .set_post_like(post_id, user_id, true, Timestamp::now(), event)
                    .await;
                (user_id, answer)
            });
        }
        while let Some(attempt) = attempts.join_next().await {
            let (user_id, answer) = attempt.unwrap();
            if user_id == blocked.user_id {
                assert!(matches!(answer, Err(StoreError::NotFound)), "{answer:?}");
            } else {
                assert!(matches!(answer, Ok(Changed::Yes)), "{answer:?}");
            }
        }
        let read = store.post(post.id, None).await.unwrap().unwrap();
        assert_eq!(read.like_count, LIKERS as i64, "round {round}");
    }
    if store.engine() == veilgram_sql::Engine::Sqlite {
        // Group commit is SQLite's; PostgreSQL runs each write in its own transaction.
        assert!(
            stats.shared_commits.load(Ordering::Relaxed) > 0,
            "{stats:?}"
        );
        assert!(stats.redone_writes.load(Ordering::Relaxed) > 0, "{stats:?}");
    } else {
        assert_eq!(stats.shared_commits.load(Ordering::Relaxed), 0);
    }
}

veilgram_testkit::for_each_engine!(a_failing_write_costs_its_batch_nothing);
