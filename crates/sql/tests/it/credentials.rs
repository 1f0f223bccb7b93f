//! `CredentialStore`: accounts, sessions, refresh rotation, revocations.

use crate::{account, hash, refresh_token, session};
use std::time::Duration;
use veilgram_core::error::Conflict;
use veilgram_core::ports::{CredentialStore, ProfileStore, Revocation};
use veilgram_core::{StoreError, Timestamp, UserId};
use veilgram_testkit::TestDatabase;

async fn an_account_is_created_with_its_first_session(database: &TestDatabase) {
    let store = database.store().await;
    let new = account("Alice");
    let first = session(new.user_id, "a1");
    store.create_account(&new, &first).await.unwrap();
    assert_eq!(
        store.recovery_key_hash(new.user_id).await.unwrap(),
        Some(new.recovery_key_hash)
    );
    let token = store
        .find_refresh_token(&first.first_token.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(token.user_id, new.user_id);
    assert_eq!(token.family_id, first.family_id);
    assert!(token.spent_at.is_none() && token.family_revoked_at.is_none());
    assert_eq!(
        store.recovery_key_hash(UserId::random()).await.unwrap(),
        None
    );
}

async fn a_taken_nickname_key_writes_nothing(database: &TestDatabase) {
    let store = database.store().await;
    let first = account("Bob");
    store
        .create_account(&first, &session(first.user_id, "b1"))
        .await
        .unwrap();
    let clash = account("BOB");
    let clash_session = session(clash.user_id, "b2");
    let outcome = store.create_account(&clash, &clash_session).await;
    assert!(
        matches!(outcome, Err(StoreError::Conflict(Conflict::Nickname))),
        "{outcome:?}"
    );
    assert_eq!(store.user(clash.user_id).await.unwrap(), None);
    assert!(store
        .find_refresh_token(&clash_session.first_token.token_hash)
        .await
        .unwrap()
        .is_none());
}

async fn concurrent_sign_ups_with_one_clash_fail_only_the_clash(database: &TestDatabase) {
    let store = database.store().await;
    let taken = account("Popular");
    store
        .create_account(&taken, &session(taken.user_id, "z0"))
        .await
        .unwrap();
    let mut attempts = Vec::new();
    for index in 0..40 {
        let nickname = if index == 17 {
            "POPULAR".to_owned()
        } else {
            format!("crowd_{index}")
        };
        let new = account(&nickname);
        let first = session(new.user_id, &format!("z{index}-"));
        let store = store.clone();
        attempts.push(tokio::spawn(async move {
            let outcome = store.create_account(&new, &first).await;
            (new.user_id, outcome)
        }));
    }
    let mut created = 0;
    for attempt in attempts {
        let (user_id, outcome) = attempt.await.unwrap();
        match outcome {
            Ok(()) => {
                created += 1;
                assert!(store.user(user_id).await.unwrap().is_some());
            }
            Err(StoreError::Conflict(Conflict::Nickname)) => {
                assert_eq!(
                    store.user(user_id).await.unwrap(),
                    None,
                    "a failed sign-up leaves no row"
                );
                assert!(store.sessions(user_id).await.unwrap().is_empty());
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created, 39);
}

async fn a_refresh_token_rotates_exactly_once(database: &TestDatabase) {
    let store = database.store().await;
    let new = account("carol");
    let first = session(new.user_id, "c1");
    store.create_account(&new, &first).await.unwrap();
    let old = first.first_token.token_hash;
    let next = refresh_token(new.user_id, first.family_id, "c2");
    let now = Timestamp::now();
    assert!(store.rotate_refresh_token(&old, &next, now).await.unwrap());
    let again = refresh_token(new.user_id, first.family_id, "c3");
    assert!(!store.rotate_refresh_token(&old, &again, now).await.unwrap());
    assert!(store
        .find_refresh_token(&again.token_hash)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .find_refresh_token(&old)
        .await
        .unwrap()
        .unwrap()
        .spent_at
        .is_some());
    assert!(store
        .find_refresh_token(&next.token_hash)
        .await
        .unwrap()
        .unwrap()
        .spent_at
        .is_none());
}

async fn concurrent_rotations_of_one_token_have_one_winner(database: &TestDatabase) {
    let store = database.store().await;
    let new = account("dave");
    let first = session(new.user_id, "d1");
    store.create_account(&new, &first).await.unwrap();
    let old = first.first_token.token_hash;
    let now = Timestamp::now();
    let attempts = (0..8).map(|index| {
        let store = store.clone();
        let replacement = refresh_token(new.user_id, first.family_id, &format!("d-{index}"));
        tokio::spawn(async move {
            store
                .rotate_refresh_token(&old, &replacement, now)
                .await
                .unwrap()
        })
    });
    let mut winners = 0;
    for attempt in attempts {
        winners += usize::from(attempt.await.unwrap());
    }
    assert_eq!(winners, 1);
}

async fn revoking_a_family_revokes_its_access_tokens_and_lists_them(database: &TestDatabase) {
    let store = database.store().await;
    let new = account("erin");
    let first = session(new.user_id, "e1");
    store.create_account(&new, &first).await.unwrap();
    let next = refresh_token(new.user_id, first.family_id, "e2");
    store
        .rotate_refresh_token(&first.first_token.token_hash, &next, Timestamp::now())
        .await
        .unwrap();
    let other = session(new.user_id, "e3");
    store.start_session(&other).await.unwrap();

    let revocations = store
        .revoke_family(first.family_id, Timestamp::now())
        .await
        .unwrap();
    let hashes: Vec<_> = revocations
        .iter()
        .map(|r| match r {
            Revocation::Token { token_hash, .. } => *token_hash,
            Revocation::Subject { .. } => panic!("unexpected subject revocation"),
        })
        .collect();
    assert_eq!(hashes.len(), 2);
    assert!(hashes.contains(&hash("access-e1")) && hashes.contains(&hash("access-e2")));
    let listed = store.revocations_since(0, 100).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed
        .windows(2)
        .all(|pair| pair[0].sequence < pair[1].sequence));
    assert!(store
        .find_refresh_token(&next.token_hash)
        .await
        .unwrap()
        .unwrap()
        .family_revoked_at
        .is_some());
    // The other login is untouched, and a revoked family cannot rotate.
    assert!(store
        .find_refresh_token(&other.first_token.token_hash)
        .await
        .unwrap()
        .unwrap()
        .family_revoked_at
        .is_none());
    let late = refresh_token(new.user_id, first.family_id, "e4");
    assert!(!store
        .rotate_refresh_token(&next.token_hash, &late, Timestamp::now())
        .await
        .unwrap());
}

async fn logout_revokes_the_presented_token_and_its_family(database: &TestDatabase) {
    let store = database.store().await;
    let new = account("frank");
    let first = session(new.user_id, "f1");
    store.create_account(&new, &first).await.unwrap();
    let expires = first.first_token.access_expires_at;
    let revocations = store
        .revoke_session_of_access_token(&hash("access-f1"), expires, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(
        revocations,
        vec![Revocation::Token {
            token_hash: hash("access-f1"),
            expires_at: expires
        }]
    );
    assert!(store
        .find_refresh_token(&hash("refresh-f1"))
        .await
        .unwrap()
        .unwrap()
        .family_revoked_at
        .is_some());
    // An access token the store never saw is still revoked.
    let unknown = store
        .revoke_session_of_access_token(&hash("access-unknown"), expires, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(unknown.len(), 1);
}

async fn replacing_the_recovery_key_keeps_only_the_callers_session(database: &TestDatabase) {
    let store = database.store().await;
    let new = account("grace");
    let mine = session(new.user_id, "g1");
    store.create_account(&new, &mine).await.unwrap();
    let theirs = session(new.user_id, "g2");
    store.start_session(&theirs).await.unwrap();
    let revocations = store
        .replace_recovery_key(
            new.user_id,
            &hash("new-key"),
            &hash("access-g1"),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(revocations.len(), 1);
    assert_eq!(
        store.recovery_key_hash(new.user_id).await.unwrap(),
        Some(hash("new-key"))
    );
    assert!(store
        .find_refresh_token(&hash("refresh-g1"))
        .await
        .unwrap()
        .unwrap()
        .family_revoked_at
        .is_none());
    assert!(store
        .find_refresh_token(&hash("refresh-g2"))
        .await
        .unwrap()
        .unwrap()
        .family_revoked_at
        .is_some());
    let missing = store
        .replace_recovery_key(UserId::random(), &hash("k"), &hash("a"), Timestamp::now())
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)));
}

async fn a_session_for_an_unknown_user_is_refused(database: &TestDatabase) {
    let store = database.store().await;
    let outcome = store.start_session(&session(UserId::random(), "h1")).await;
    assert!(matches!(outcome, Err(StoreError::NotFound)), "{outcome:?}");
    assert!(store
        .find_refresh_token(&hash("refresh-h1"))
        .await
        .unwrap()
        .is_none());
}

async fn purging_removes_only_what_has_expired(database: &TestDatabase) {
    let store = database.store().await;
    let new = account("heidi");
    let first = session(new.user_id, "i1");
    store.create_account(&new, &first).await.unwrap();
    store
        .revoke_family(first.family_id, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(
        store
            .purge_expired(Timestamp::now(), Timestamp::now())
            .await
            .unwrap(),
        0
    );
    let later = Timestamp::now().plus(Duration::from_secs(3 * 3600));
    let removed = store.purge_expired(later, later).await.unwrap();
    assert_eq!(removed, 2, "one revocation and one expired family");
    assert!(store.revocations_since(0, 10).await.unwrap().is_empty());
}

veilgram_testkit::for_each_engine!(
    an_account_is_created_with_its_first_session,
    a_taken_nickname_key_writes_nothing,
    concurrent_sign_ups_with_one_clash_fail_only_the_clash,
    a_refresh_token_rotates_exactly_once,
    concurrent_rotations_of_one_token_have_one_winner,
    revoking_a_family_revokes_its_access_tokens_and_lists_them,
    logout_revokes_the_presented_token_and_its_family,
    replacing_the_recovery_key_keeps_only_the_callers_session,
    a_session_for_an_unknown_user_is_refused,
    purging_removes_only_what_has_expired,
);
