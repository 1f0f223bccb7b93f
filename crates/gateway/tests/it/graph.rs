//! Follows and blocks: counts, lists, visibility, and what account deletion does to them.

use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::json;
use veilgram_testkit::TestDatabase;

fn ids(response: &crate::helpers::TestResponse) -> Vec<String> {
    response.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn following_is_idempotent_and_counted(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let star = app.signup(Some("star")).await;
    let fan = app.signup(Some("fan")).await;
    let follow = format!("/api/v1/users/{}/follow", star.user_id);
    for _ in 0..2 {
        assert_eq!(
            app.post(&follow, json!({}), Some(&fan.access_token))
                .await
                .status,
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(app.me(&star.access_token).await.body["followers_count"], 1);
    assert_eq!(app.me(&fan.access_token).await.body["following_count"], 1);
    let profile = format!("/api/v1/users/{}", star.user_id);
    let seen_by = |token: Option<String>| {
        let profile = profile.clone();
        let app = &app;
        async move { app.get(&profile, token.as_deref()).await.body["followed_by_me"].clone() }
    };
    assert_eq!(seen_by(Some(fan.access_token.clone())).await, json!(true));
    assert_eq!(seen_by(Some(star.access_token.clone())).await, json!(false));
    assert_eq!(seen_by(None).await, json!(false));
    let followers = app
        .get(&format!("/api/v1/users/{}/followers", star.user_id), None)
        .await;
    assert_eq!(ids(&followers), vec![fan.user_id.clone()]);
    assert!(followers.body["items"][0].get("created_at").is_none());
    let following = app
        .get(&format!("/api/v1/users/{}/following", fan.user_id), None)
        .await;
    assert_eq!(ids(&following), vec![star.user_id.clone()]);

    for _ in 0..2 {
        assert_eq!(
            app.delete(&follow, &fan.access_token).await.status,
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(app.me(&star.access_token).await.body["followers_count"], 0);
    assert_eq!(app.me(&fan.access_token).await.body["following_count"], 0);

    let myself = app
        .post(
            &format!("/api/v1/users/{}/follow", fan.user_id),
            json!({}),
            Some(&fan.access_token),
        )
        .await;
    assert_eq!(
        (myself.status, myself.code()),
        (StatusCode::BAD_REQUEST, "invalid_target")
    );
    let nobody = app
        .post(
            &format!("/api/v1/users/{}/follow", uuid::Uuid::new_v4()),
            json!({}),
            Some(&fan.access_token),
        )
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
}

async fn follower_lists_page_through_everyone_once(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let star = app.signup(None).await;
    let mut expected = Vec::new();
    for _ in 0..5 {
        let fan = app.signup(None).await;
        app.post(
            &format!("/api/v1/users/{}/follow", star.user_id),
            json!({}),
            Some(&fan.access_token),
        )
        .await;
        expected.push(fan.user_id);
    }
    let base = format!("/api/v1/users/{}/followers", star.user_id);
    let mut seen = Vec::new();
    let mut path = format!("{base}?limit=2");
    loop {
        let page = app.get(&path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        seen.extend(ids(&page));
        match page.body["next_cursor"].as_str() {
            Some(next) => path = format!("{base}?limit=2&cursor={next}"),
            None => break,
        }
    }
    // Newest first; follows made in the same millisecond have no order between them, so
    // compare who was listed, and that nobody was listed twice.
    assert_eq!(seen.len(), expected.len(), "each once: {seen:?}");
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);
    let foreign = app.feeds.seal_position("user-posts", "x");
    assert_eq!(
        app.get(&format!("{base}?cursor={foreign}"), None)
            .await
            .field(),
        "cursor"
    );
}

async fn a_block_hides_both_sides_and_removes_follows(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let alice = app.signup(Some("alice_b")).await;
    let bob = app.signup(Some("bob_b")).await;
    let watcher = app.signup(None).await;
    for (from, to) in [
        (&alice, &bob),
        (&bob, &alice),
        (&watcher, &alice),
        (&watcher, &bob),
    ] {
        app.post(
            &format!("/api/v1/users/{}/follow", to.user_id),
            json!({}),
            Some(&from.access_token),
        )
        .await;
    }
    let bob_post = app
        .post_text(&bob.access_token, "bob speaks", "public")
        .await;
    let block = format!("/api/v1/users/{}/block", bob.user_id);
    assert_eq!(
        app.post(&block, json!({}), Some(&alice.access_token))
            .await
            .status,
        StatusCode::NO_CONTENT
    );

    // Follows are gone both ways, counts adjusted.
    assert_eq!(app.me(&alice.access_token).await.body["following_count"], 0);
    assert_eq!(app.me(&alice.access_token).await.body["followers_count"], 1);
    assert_eq!(app.me(&bob.access_token).await.body["following_count"], 0);
    // Each is invisible to the other: profile, posts, lists.
    for (viewer, other) in [(&alice, &bob), (&bob, &alice)] {
        let profile = app
            .get(
                &format!("/api/v1/users/{}", other.user_id),
                Some(&viewer.access_token),
            )
            .await;
        assert_eq!(profile.status, StatusCode::NOT_FOUND);
        let follow = app
            .post(
                &format!("/api/v1/users/{}/follow", other.user_id),
                json!({}),
                Some(&viewer.access_token),
            )
            .await;
        assert_eq!(follow.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(
        app.get(
            &format!("/api/v1/posts/{bob_post}"),
            Some(&alice.access_token)
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let watchers_view = app
        .get(
            &format!("/api/v1/users/{}/following", watcher.user_id),
            Some(&alice.access_token),
        )
        .await;
    assert!(
        !ids(&watchers_view).contains(&bob.user_id),
        "lists hide the blocked side"
    );
    // A third person still sees both.
    let watchers_own = app
        .get(
            &format!("/api/v1/users/{}/following", watcher.user_id),
            Some(&watcher.access_token),
        )
        .await;
    assert_eq!(ids(&watchers_own).len(), 2);
    // Blocking does not say who blocked whom to the blocked side: both just see "not found".
    let unblock = app.delete(&block, &alice.access_token).await;
    assert_eq!(unblock.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(
            &format!("/api/v1/posts/{bob_post}"),
            Some(&alice.access_token)
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        app.me(&bob.access_token).await.body["followers_count"],
        1,
        "unblocking restores no follow"
    );
    let myself = app
        .post(
            &format!("/api/v1/users/{}/block", alice.user_id),
            json!({}),
            Some(&alice.access_token),
        )
        .await;
    assert_eq!(myself.status, StatusCode::BAD_REQUEST);
}

async fn deleting_an_account_removes_its_content_and_fixes_counts(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let leaver = app.signup(Some("leaver")).await;
    let friend = app.signup(Some("friend")).await;
    app.post(
        &format!("/api/v1/users/{}/follow", friend.user_id),
        json!({}),
        Some(&leaver.access_token),
    )
    .await;
    app.post(
        &format!("/api/v1/users/{}/follow", leaver.user_id),
        json!({}),
        Some(&friend.access_token),
    )
    .await;
    let friends_post = app
        .post_text(&friend.access_token, "nice day", "public")
        .await;
    app.post(
        &format!("/api/v1/posts/{friends_post}/like"),
        json!({}),
        Some(&leaver.access_token),
    )
    .await;
    let leavers_post = app
        .post_text(&leaver.access_token, "bye #farewell", "public")
        .await;
    app.post(
        &format!("/api/v1/posts/{leavers_post}/like"),
        json!({}),
        Some(&friend.access_token),
    )
    .await;

    let deleted = app
        .call(
            axum::http::Method::DELETE,
            "/api/v1/users/me",
            None,
            Some(&leaver.access_token),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let me = app.me(&friend.access_token).await;
    assert_eq!(
        (
            me.body["followers_count"].as_i64(),
            me.body["following_count"].as_i64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(
        app.get(&format!("/api/v1/posts/{friends_post}"), None)
            .await
            .body["like_count"],
        0
    );
    assert_eq!(
        app.get(&format!("/api/v1/posts/{leavers_post}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let followers = app
        .get(&format!("/api/v1/users/{}/followers", friend.user_id), None)
        .await;
    assert!(ids(&followers).is_empty());
}

async fn the_block_list_is_its_owners_and_pages(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let me = app.signup(None).await;
    let others = [
        app.signup(None).await,
        app.signup(None).await,
        app.signup(None).await,
    ];
    for other in &others {
        let blocked = app
            .post(
                &format!("/api/v1/users/{}/block", other.user_id),
                json!({}),
                Some(&me.access_token),
            )
            .await;
        assert_eq!(blocked.status, StatusCode::NO_CONTENT);
    }
    // Someone who blocked me is not on my list.
    let stranger = app.signup(None).await;
    app.post(
        &format!("/api/v1/users/{}/block", me.user_id),
        json!({}),
        Some(&stranger.access_token),
    )
    .await;
    let first = app
        .get("/api/v1/users/me/blocks?limit=2", Some(&me.access_token))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    // Newest first (blocks made within one millisecond may come in either order): every one
    // exactly once across the pages.
    assert_eq!(ids(&first).len(), 2);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/api/v1/users/me/blocks?limit=2&cursor={cursor}"),
            Some(&me.access_token),
        )
        .await;
    let mut all = ids(&first);
    all.extend(ids(&rest));
    all.sort();
    let mut expected: Vec<String> = others.iter().map(|other| other.user_id.clone()).collect();
    expected.sort();
    assert_eq!(all, expected);
    assert!(rest.body["next_cursor"].is_null());
    // A followers cursor is not a blocks cursor.
    let followers = app
        .get(
            &format!("/api/v1/users/{}/followers?limit=1", me.user_id),
            None,
        )
        .await;
    assert_eq!(followers.status, StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/users/me/blocks", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Unblocked, gone from the list.
    let unblocked = app
        .delete(
            &format!("/api/v1/users/{}/block", others[1].user_id),
            &me.access_token,
        )
        .await;
    assert_eq!(unblocked.status, StatusCode::NO_CONTENT);
    let after = app
        .get("/api/v1/users/me/blocks", Some(&me.access_token))
        .await;
    let mut left = ids(&after);
    left.sort();
    let mut expected = vec![others[2].user_id.clone(), others[0].user_id.clone()];
    expected.sort();
    assert_eq!(left, expected);
}

veilgram_testkit::for_each_engine!(
    the_block_list_is_its_owners_and_pages,
    following_is_idempotent_and_counted,
    follower_lists_page_through_everyone_once,
    a_block_hides_both_sides_and_removes_follows,
    deleting_an_account_removes_its_content_and_fixes_counts,
);
