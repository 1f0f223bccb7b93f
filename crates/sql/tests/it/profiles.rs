//! `ProfileStore`: profiles, deactivation, deletion, export.

use crate::{account, session};
use veilgram_core::error::Conflict;
use veilgram_core::ports::{CredentialStore, ProfileChange, ProfileStore, Revocation};
use veilgram_core::{StoreError, Timestamp, UserId};
use veilgram_testkit::TestDatabase;

async fn profiles_update_field_by_field(database: &TestDatabase) {
    let store = database.store().await;
    let new = account("ivan");
    store
        .create_account(&new, &session(new.user_id, "p1"))
        .await
        .unwrap();
    let user = store.user(new.user_id).await.unwrap().unwrap();
    assert_eq!(
        (user.nickname.as_str(), user.status_message.as_str()),
        ("ivan", "")
    );
    assert_eq!(user.created_at, new.created_at);

    let status_only = ProfileChange {
        status_message: Some("hello".into()),
        ..Default::default()
    };
    let user = store
        .update_profile(new.user_id, &status_only)
        .await
        .unwrap();
    assert_eq!(
        (user.nickname.as_str(), user.status_message.as_str()),
        ("ivan", "hello")
    );
    let nickname_only = ProfileChange {
        nickname: Some(("Ivan2".into(), "ivan2".into())),
        ..Default::default()
    };
    let user = store
        .update_profile(new.user_id, &nickname_only)
        .await
        .unwrap();
    assert_eq!(
        (user.nickname.as_str(), user.status_message.as_str()),
        ("Ivan2", "hello")
    );
}

async fn a_nickname_clash_on_update_changes_nothing(database: &TestDatabase) {
    let store = database.store().await;
    let judy = account("judy");
    let kim = account("kim");
    store
        .create_account(&judy, &session(judy.user_id, "p2"))
        .await
        .unwrap();
    store
        .create_account(&kim, &session(kim.user_id, "p3"))
        .await
        .unwrap();
    let change = ProfileChange {
        nickname: Some(("JUDY".into(), "judy".into())),
        status_message: Some("should not stick".into()),
        avatar: None,
    };
    let outcome = store.update_profile(kim.user_id, &change).await;
    assert!(
        matches!(outcome, Err(StoreError::Conflict(Conflict::Nickname))),
        "{outcome:?}"
    );
    let kim_now = store.user(kim.user_id).await.unwrap().unwrap();
    assert_eq!(
        (kim_now.nickname.as_str(), kim_now.status_message.as_str()),
        ("kim", "")
    );
    let missing = store
        .update_profile(UserId::random(), &ProfileChange::default())
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)));
}

async fn deactivation_hides_and_login_reactivates(database: &TestDatabase) {
    let store = database.store().await;
    let new = account("leo");
    store
        .create_account(&new, &session(new.user_id, "p4"))
        .await
        .unwrap();
    let revocations = store
        .deactivate(new.user_id, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(revocations.len(), 1);
    assert!(store
        .user(new.user_id)
        .await
        .unwrap()
        .unwrap()
        .deactivated_at
        .is_some());
    store
        .start_session(&session(new.user_id, "p5"))
        .await
        .unwrap();
    assert!(store
        .user(new.user_id)
        .await
        .unwrap()
        .unwrap()
        .deactivated_at
        .is_none());
}

async fn deletion_erases_the_account_and_frees_the_nickname(database: &TestDatabase) {
    let store = database.store().await;
    let new = account("mallory");
    let first = session(new.user_id, "p6");
    store.create_account(&new, &first).await.unwrap();
    let now = Timestamp::now();
    let revocation = store
        .delete_account(new.user_id, now, &crate::deleted(new.user_id))
        .await
        .unwrap();
    assert_eq!(
        revocation,
        Revocation::Subject {
            user_id: new.user_id,
            revoked_at: now
        }
    );
    assert_eq!(store.user(new.user_id).await.unwrap(), None);
    assert!(store
        .find_refresh_token(&first.first_token.token_hash)
        .await
        .unwrap()
        .is_none());
    assert!(store.sessions(new.user_id).await.unwrap().is_empty());
    let listed = store.revocations_since(0, 10).await.unwrap();
    assert_eq!(listed.last().unwrap().revocation, revocation);
    let again = account("Mallory");
    store
        .create_account(&again, &session(again.user_id, "p7"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .delete_account(new.user_id, now, &crate::deleted(new.user_id))
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn sessions_are_listed_for_export(database: &TestDatabase) {
    let store = database.store().await;
    let new = account("niaj");
    let first = session(new.user_id, "p8");
    store.create_account(&new, &first).await.unwrap();
    store
        .start_session(&session(new.user_id, "p9"))
        .await
        .unwrap();
    let sessions = store.sessions(new.user_id).await.unwrap();
    assert_eq!(sessions.len(), 2);
    assert!(sessions.iter().any(|s| s.family_id == first.family_id));
}

async fn every_profile_write_appends_to_the_change_feed(database: &TestDatabase) {
    let store = database.store().await;
    let new = account("olivia");
    store
        .create_account(&new, &session(new.user_id, "q1"))
        .await
        .unwrap();
    assert!(
        store.user_changes_since(0, 10).await.unwrap().is_empty(),
        "sign-up needs no eviction"
    );
    let change = ProfileChange {
        status_message: Some("x".into()),
        ..Default::default()
    };
    store.update_profile(new.user_id, &change).await.unwrap();
    store
        .deactivate(new.user_id, Timestamp::now())
        .await
        .unwrap();
    store
        .start_session(&session(new.user_id, "q2"))
        .await
        .unwrap();
    store
        .start_session(&session(new.user_id, "q3"))
        .await
        .unwrap();
    store
        .delete_account(new.user_id, Timestamp::now(), &crate::deleted(new.user_id))
        .await
        .unwrap();
    let feed = store.user_changes_since(0, 10).await.unwrap();
    assert_eq!(
        feed.len(),
        4,
        "update, deactivate, reactivating login, delete: {feed:?}"
    );
    assert!(feed.iter().all(|entry| entry.user_id == new.user_id));
    assert!(feed
        .windows(2)
        .all(|pair| pair[0].sequence < pair[1].sequence));
    let after_second = store
        .user_changes_since(feed[1].sequence, 10)
        .await
        .unwrap();
    assert_eq!(after_second, feed[2..].to_vec());
    assert_eq!(
        store
            .purge_user_changes(Timestamp::now().plus(std::time::Duration::from_secs(1)))
            .await
            .unwrap(),
        4
    );
}

veilgram_testkit::for_each_engine!(
    every_profile_write_appends_to_the_change_feed,
    profiles_update_field_by_field,
    a_nickname_clash_on_update_changes_nothing,
    deactivation_hides_and_login_reactivates,
    deletion_erases_the_account_and_frees_the_nickname,
    sessions_are_listed_for_export,
);
