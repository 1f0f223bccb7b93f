//! Profiles, nickname rules, deactivation, deletion, export.

use crate::helpers::TestApp;
use axum::http::{Method, StatusCode};
use serde_json::json;
use veilgram_testkit::TestDatabase;

async fn patch(
    app: &TestApp,
    token: &str,
    body: serde_json::Value,
) -> crate::helpers::TestResponse {
    app.call(Method::PATCH, "/api/v1/users/me", Some(body), Some(token))
        .await
}

async fn the_callers_profile_has_every_documented_field(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let account = app.signup(Some("first_one")).await;
    let me = app.me(&account.access_token).await;
    assert_eq!(me.status, StatusCode::OK);
    for field in [
        "id",
        "nickname",
        "status_message",
        "avatar",
        "created_at",
        "followers_count",
        "following_count",
        "posts_count",
    ] {
        assert!(me.body.get(field).is_some(), "missing {field}: {}", me.text);
    }
    assert_eq!(me.body["id"], account.user_id.as_str());
    assert_eq!(me.body["nickname"], "first_one");
    assert!(me.body["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        app.get("/api/v1/users/me", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn profile_changes_are_validated_before_anything_is_written(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let taken = app.signup(Some("Taken_Name")).await;
    let account = app.signup(Some("changer")).await;
    let token = account.access_token.as_str();

    let changed = patch(
        &app,
        token,
        json!({ "nickname": "새이름_2", "status_message": " hi there " }),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(
        (
            changed.body["nickname"].as_str(),
            changed.body["status_message"].as_str()
        ),
        (Some("새이름_2"), Some("hi there"))
    );

    let cases = [
        (
            json!({ "nickname": "x" }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "nickname",
        ),
        (
            json!({ "nickname": "has space" }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "nickname",
        ),
        (
            json!({ "nickname": "sh1t_happens" }),
            StatusCode::BAD_REQUEST,
            "nickname_not_allowed",
            "nickname",
        ),
        (
            json!({ "nickname": "씨1발" }),
            StatusCode::BAD_REQUEST,
            "nickname_not_allowed",
            "nickname",
        ),
        (
            json!({ "nickname": "admin" }),
            StatusCode::BAD_REQUEST,
            "nickname_reserved",
            "nickname",
        ),
        (
            json!({ "nickname": "ｔａｋｅｎ_name" }),
            StatusCode::CONFLICT,
            "nickname_taken",
            "nickname",
        ),
        (
            json!({ "status_message": "x".repeat(151) }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "status_message",
        ),
        (
            json!({ "nickname": 42 }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "nickname",
        ),
        (
            json!({ "avatar_media_id": uuid::Uuid::new_v4().to_string() }),
            StatusCode::NOT_FOUND,
            "not_found",
            "avatar_media_id",
        ),
        (
            json!({ "created_at": "2020-01-01T00:00:00Z" }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "created_at",
        ),
        (
            json!({ "nickname": "okname", "status_message": "y".repeat(151) }),
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "status_message",
        ),
    ];
    for (body, status, code, field) in cases {
        let response = patch(&app, token, body.clone()).await;
        assert_eq!(
            (response.status, response.code(), response.field()),
            (status, code, field),
            "{body}"
        );
    }
    // Nothing from the refused changes stuck (the last one had a valid nickname).
    let me = app.me(token).await;
    assert_eq!(
        (
            me.body["nickname"].as_str(),
            me.body["status_message"].as_str()
        ),
        (Some("새이름_2"), Some("hi there"))
    );
    assert_eq!(
        app.me(&taken.access_token).await.body["nickname"],
        "Taken_Name"
    );
}

async fn public_profiles_hide_private_fields_and_deactivated_accounts(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let account = app.signup(Some("public_person")).await;
    let path = format!("/api/v1/users/{}", account.user_id);
    let profile = app.get(&path, None).await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.text);
    assert_eq!(profile.body["nickname"], "public_person");
    assert!(
        profile.body.get("created_at").is_none(),
        "sign-up time must not be public"
    );

    assert_eq!(
        app.get("/api/v1/users/not-a-uuid", None).await.field(),
        "id"
    );
    let unknown = app
        .get(&format!("/api/v1/users/{}", uuid::Uuid::new_v4()), None)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let deactivate = app
        .post(
            "/api/v1/users/me/deactivate",
            json!({}),
            Some(&account.access_token),
        )
        .await;
    assert_eq!(deactivate.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.me(&account.access_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.refresh(&account.refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Logging in again brings the account back.
    assert_eq!(
        app.login(&account.user_id, &account.recovery_key)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(app.get(&path, None).await.status, StatusCode::OK);
}

async fn deleting_an_account_erases_it_and_frees_the_nickname(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let account = app.signup(Some("leaving_soon")).await;
    // What automatic moderation keeps about its posts goes with it too.
    let post = app
        .post(
            "/api/v1/posts",
            json!({ "text": "떠나기 전에 남기는 마지막 글입니다 안녕히" }),
            Some(&account.access_token),
        )
        .await;
    assert_eq!(post.status, StatusCode::CREATED, "{}", post.text);
    app.drain_events().await;
    assert_eq!(
        database
            .rows_with("content_fingerprints", "author_id", &account.user_id)
            .await,
        1
    );
    let second_session = app.login(&account.user_id, &account.recovery_key).await;
    let second_token = second_session.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let deleted = app
        .call(
            Method::DELETE,
            "/api/v1/users/me",
            None,
            Some(&account.access_token),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    // Every token of the account dies at once, not only the one used.
    assert_eq!(
        app.me(&account.access_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.me(&second_token).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.refresh(&account.refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(&account.user_id, &account.recovery_key)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get(&format!("/api/v1/users/{}", account.user_id), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    app.signup(Some("Leaving_Soon")).await;
    assert_eq!(
        database
            .rows_with("content_fingerprints", "author_id", &account.user_id)
            .await,
        0
    );
}

/// A moderator who deletes their account is no longer named in the decisions they made.
async fn a_leaving_moderator_is_not_named_in_their_decisions(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let reporter = app.signup(None).await;
    let judge = crate::moderation::moderator(&app).await;
    let post = app
        .post_text(&author.access_token, "신고될 글", "public")
        .await;
    let path = format!("/api/v1/posts/{post}/report");
    crate::moderation::report(&app, &path, "spam", &reporter).await;
    let queue = crate::moderation::queue(&app, "", &judge.access_token).await;
    let group = queue["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        crate::moderation::resolve(&app, &group, "dismiss", &judge.access_token).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        database
            .rows_with("moderation_log", "actor", &judge.user_id)
            .await,
        1
    );
    let deleted = app.delete("/api/v1/users/me", &judge.access_token).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    for (table, column) in [("moderation_log", "actor"), ("reports", "resolved_by")] {
        assert_eq!(
            database.rows_with(table, column, &judge.user_id).await,
            0,
            "{table}"
        );
    }
}

async fn export_returns_the_callers_data_without_secrets(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let account = app.signup(Some("exporter")).await;
    app.login(&account.user_id, &account.recovery_key).await;
    let export = app
        .get("/api/v1/users/me/export", Some(&account.access_token))
        .await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.text);
    assert_eq!(export.body["profile"]["nickname"], "exporter");
    assert_eq!(export.body["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(export.headers["cache-control"], "no-store");
    for secret in [
        &account.recovery_key,
        &account.refresh_token,
        &account.access_token,
    ] {
        assert!(!export.text.contains(secret.as_str()));
    }
}

async fn a_profile_changed_through_another_process_is_seen_after_the_feed_sync(
    database: &TestDatabase,
) {
    let first = TestApp::new(database).await;
    let second = first.second_process(database).await;
    let account = first.signup(Some("before_change")).await;
    let path = format!("/api/v1/users/{}", account.user_id);
    // Both processes have the profile cached.
    assert_eq!(
        first.get(&path, None).await.body["nickname"],
        "before_change"
    );
    assert_eq!(
        second.get(&path, None).await.body["nickname"],
        "before_change"
    );
    let changed = patch(
        &second,
        &account.access_token,
        json!({ "nickname": "after_change" }),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(
        second.get(&path, None).await.body["nickname"],
        "after_change",
        "read-your-writes"
    );
    assert_eq!(first.users.sync_profile_cache().await.unwrap(), 1);
    assert_eq!(
        first.get(&path, None).await.body["nickname"],
        "after_change"
    );
    // Deactivation through one process hides the profile in the other after its sync.
    let deactivate = second
        .post(
            "/api/v1/users/me/deactivate",
            json!({}),
            Some(&account.access_token),
        )
        .await;
    assert_eq!(deactivate.status, StatusCode::NO_CONTENT);
    first.users.sync_profile_cache().await.unwrap();
    assert_eq!(first.get(&path, None).await.status, StatusCode::NOT_FOUND);
}

veilgram_testkit::for_each_engine!(
    a_profile_changed_through_another_process_is_seen_after_the_feed_sync,
    the_callers_profile_has_every_documented_field,
    profile_changes_are_validated_before_anything_is_written,
    public_profiles_hide_private_fields_and_deactivated_accounts,
    deleting_an_account_erases_it_and_frees_the_nickname,
    a_leaving_moderator_is_not_named_in_their_decisions,
    export_returns_the_callers_data_without_secrets,
);
