//! Sign-up, login, refresh rotation and reuse detection, logout, recovery-key rotation.

use crate::helpers::{Options, TestApp};
use axum::http::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use veilgram_testkit::TestDatabase;

async fn signup_returns_an_anonymous_account_shown_once(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let response = app.post("/api/v1/auth/signup", json!({}), None).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    assert_eq!(response.headers["cache-control"], "no-store");
    let body = &response.body;
    let user_id = uuid::Uuid::parse_str(body["user_id"].as_str().unwrap()).unwrap();
    assert_eq!(
        user_id.get_version_num(),
        4,
        "user ids are random, never time-ordered"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let key: String = body["recovery_key"]
        .as_str()
        .unwrap()
        .chars()
        .filter(|c| *c != '-')
        .collect();
    assert!(
        key.len() * 5 >= 128,
        "recovery key carries at least 128 bits"
    );
    // A bare POST with no body is the same as `{}`.
    let bare = app
        .call(axum::http::Method::POST, "/api/v1/auth/signup", None, None)
        .await;
    assert_eq!(bare.status, StatusCode::CREATED, "{}", bare.text);
    assert_ne!(bare.body["user_id"], body["user_id"]);
    let me = app.me(body["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status, StatusCode::OK);
    assert!(me.body["nickname"].as_str().unwrap().starts_with("user_"));
}

async fn a_taken_nickname_fails_signup_with_409(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    app.signup(Some("Hangul_한글")).await;
    let clash = app
        .post(
            "/api/v1/auth/signup",
            json!({ "nickname": "HANGUL_한글" }),
            None,
        )
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT);
    assert_eq!(
        (clash.code(), clash.field()),
        ("nickname_taken", "nickname")
    );
    let bad = app
        .post("/api/v1/auth/signup", json!({ "nickname": "x" }), None)
        .await;
    assert_eq!(
        (bad.status, bad.field()),
        (StatusCode::BAD_REQUEST, "nickname")
    );
    let unknown = app
        .post("/api/v1/auth/signup", json!({ "email": "a@b.c" }), None)
        .await;
    assert_eq!(
        (unknown.status, unknown.field()),
        (StatusCode::BAD_REQUEST, "email")
    );
}

async fn login_gives_the_same_answer_for_unknown_users_and_wrong_keys(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let account = app.signup(None).await;
    let ok = app.login(&account.user_id, &account.recovery_key).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(
        app.me(ok.body["access_token"].as_str().unwrap())
            .await
            .status,
        StatusCode::OK
    );
    // Keys typed sloppily (lower case, spaces) still work.
    let sloppy = account.recovery_key.to_lowercase().replace('-', " ");
    assert_eq!(
        app.login(&account.user_id, &sloppy).await.status,
        StatusCode::OK
    );

    let other_key = app.signup(None).await.recovery_key;
    let wrong_key = app.login(&account.user_id, &other_key).await;
    let unknown_user = app
        .login(&uuid::Uuid::new_v4().to_string(), &account.recovery_key)
        .await;
    assert_eq!(wrong_key.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_key.status, unknown_user.status);
    assert_eq!(wrong_key.body, unknown_user.body);

    let malformed_id = app.login("not-a-uuid", &account.recovery_key).await;
    assert_eq!(
        (malformed_id.status, malformed_id.field()),
        (StatusCode::BAD_REQUEST, "user_id")
    );
    let malformed_key = app.login(&account.user_id, "short").await;
    assert_eq!(
        (malformed_key.status, malformed_key.field()),
        (StatusCode::BAD_REQUEST, "recovery_key")
    );
    let missing = app
        .post(
            "/api/v1/auth/login",
            json!({ "user_id": account.user_id }),
            None,
        )
        .await;
    assert_eq!(
        (missing.status, missing.field()),
        (StatusCode::BAD_REQUEST, "recovery_key")
    );
}

async fn refresh_rotates_and_reuse_revokes_the_whole_family(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let account = app.signup(None).await;
    let first = app.refresh(&account.refresh_token).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let second_refresh = first.body["refresh_token"].as_str().unwrap().to_owned();
    let second_access = first.body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, account.refresh_token);
    assert_eq!(app.me(&second_access).await.status, StatusCode::OK);

    // The spent token comes back: theft. Everything in the family dies.
    let reused = app.refresh(&account.refresh_token).await;
    assert_eq!(
        (reused.status, reused.code()),
        (StatusCode::UNAUTHORIZED, "refresh_token_reused")
    );
    assert_eq!(
        app.refresh(&second_refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.me(&second_access).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.me(&account.access_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Other logins of the same account are not part of the family.
    let other = app.login(&account.user_id, &account.recovery_key).await;
    assert_eq!(
        app.me(other.body["access_token"].as_str().unwrap())
            .await
            .status,
        StatusCode::OK
    );
}

async fn a_concurrent_retry_within_the_grace_window_does_not_end_the_session(
    database: &TestDatabase,
) {
    let options = Options {
        refresh_reuse_grace: Duration::from_secs(60),
        ..Options::default()
    };
    let app = TestApp::with_options(database, options).await;
    let account = app.signup(None).await;
    let first = app.refresh(&account.refresh_token).await;
    assert_eq!(first.status, StatusCode::OK);
    let retry = app.refresh(&account.refresh_token).await;
    assert_eq!(
        (retry.status, retry.code()),
        (StatusCode::UNAUTHORIZED, "invalid_refresh_token")
    );
    let next = first.body["refresh_token"].as_str().unwrap();
    assert_eq!(app.refresh(next).await.status, StatusCode::OK);
}

async fn no_refresh_extends_a_session_past_its_absolute_lifetime(database: &TestDatabase) {
    let options = Options {
        session_lifetime: Duration::ZERO,
        ..Options::default()
    };
    let app = TestApp::with_options(database, options).await;
    let account = app.signup(None).await;
    assert_eq!(app.me(&account.access_token).await.status, StatusCode::OK);
    let refused = app.refresh(&account.refresh_token).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::UNAUTHORIZED, "invalid_refresh_token")
    );
}

async fn tokens_of_one_kind_are_refused_as_the_other(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let account = app.signup(None).await;
    assert_eq!(
        app.me(&account.refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let as_refresh = app.refresh(&account.access_token).await;
    assert_eq!(as_refresh.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.refresh("").await.status, StatusCode::BAD_REQUEST);
}

async fn logout_kills_the_access_token_and_the_session_at_once(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let account = app.signup(None).await;
    let elsewhere = app.login(&account.user_id, &account.recovery_key).await;
    let elsewhere_token = elsewhere.body["access_token"].as_str().unwrap().to_owned();
    let logout = app
        .post(
            "/api/v1/auth/logout",
            json!({}),
            Some(&account.access_token),
        )
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT, "{}", logout.text);
    let after = app.me(&account.access_token).await;
    assert_eq!(
        (after.status, after.code()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    assert!(after.headers.contains_key("www-authenticate"));
    assert_eq!(
        app.refresh(&account.refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Only that session ended.
    assert_eq!(app.me(&elsewhere_token).await.status, StatusCode::OK);
    let unauthenticated = app.post("/api/v1/auth/logout", json!({}), None).await;
    assert_eq!(
        (unauthenticated.status, unauthenticated.code()),
        (StatusCode::UNAUTHORIZED, "missing_token")
    );
}

async fn rotating_the_recovery_key_retires_the_old_one(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let account = app.signup(None).await;
    let other_device = app.login(&account.user_id, &account.recovery_key).await;
    let other_refresh = other_device.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = app
        .post(
            "/api/v1/auth/recovery-key",
            json!({}),
            Some(&account.access_token),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    assert_eq!(rotated.headers["cache-control"], "no-store");
    let new_key = rotated.body["recovery_key"].as_str().unwrap();
    assert_ne!(new_key, account.recovery_key);
    assert_eq!(
        app.login(&account.user_id, &account.recovery_key)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(&account.user_id, new_key).await.status,
        StatusCode::OK
    );
    // The caller's own session continues; the other device is signed out.
    assert_eq!(app.me(&account.access_token).await.status, StatusCode::OK);
    assert_eq!(
        app.refresh(&account.refresh_token).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.refresh(&other_refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn revocations_made_by_another_process_are_picked_up_by_sync(database: &TestDatabase) {
    // Two apps over one database stand for two server processes.
    let first = TestApp::new(database).await;
    let second = first.second_process(database).await;
    let account = first.signup(None).await;
    assert_eq!(
        second.me(&account.access_token).await.status,
        StatusCode::OK
    );
    let logout = first
        .post(
            "/api/v1/auth/logout",
            json!({}),
            Some(&account.access_token),
        )
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    second.auth.sync_revocations().await.unwrap();
    assert_eq!(
        second.me(&account.access_token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// Through a shared Redis, a logout in one process ends the token in another at once, before
/// any sync with the store; with the cache down, revocations still hold: the store-synced mirror
/// decides while fresh, and authentication fails closed (503) once it is not. The feeds, which
/// check a token beside their own reads, answer as `/users/me` does.
async fn revocations_are_shared_through_the_cache_and_fail_closed(database: &TestDatabase) {
    let cache =
        veilgram_testkit::cache::TestCache::create(veilgram_testkit::cache::CacheKind::Redis).await;
    let shared = || crate::helpers::Options {
        cache: Some(Arc::clone(&cache.cache)),
        ..crate::helpers::Options::default()
    };
    let first = TestApp::with_options(database, shared()).await;
    let second = first.second_process_with(database, shared()).await;
    let account = first.signup(None).await;
    let other = first.signup(None).await;
    assert_eq!(
        answers(&second, &account.access_token).await,
        StatusCode::OK
    );
    let logout = first
        .post(
            "/api/v1/auth/logout",
            json!({}),
            Some(&account.access_token),
        )
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert_eq!(
        answers(&second, &account.access_token).await,
        StatusCode::UNAUTHORIZED,
        "no sync needed"
    );
    assert_eq!(answers(&second, &other.access_token).await, StatusCode::OK);

    // Two processes whose cache goes down.
    let mut redis = crate::helpers::OwnRedis::start_anywhere();
    let url = veilgram_cache::CacheUrl::Redis(format!("redis://127.0.0.1:{}", redis.port));
    let own = || async {
        crate::helpers::Options {
            cache: Some(
                veilgram_cache::connect(&url, "", veilgram_cache::DEFAULT_NEAR_CACHE_BYTES)
                    .await
                    .unwrap(),
            ),
            ..crate::helpers::Options::default()
        }
    };
    let first = TestApp::with_options(database, own().await).await;
    let second = first.second_process_with(database, own().await).await;
    let account = first.signup(None).await;
    assert_eq!(
        answers(&second, &account.access_token).await,
        StatusCode::OK
    );
    redis.stop();
    assert_eq!(
        answers(&second, &account.access_token).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "no cache and a mirror never synced: closed"
    );
    second.auth.sync_revocations().await.unwrap();
    assert_eq!(
        second.me(&account.access_token).await.status,
        StatusCode::OK,
        "a fresh mirror of the store decides"
    );
    // A server syncs every second; this one has just done so.
    first.auth.sync_revocations().await.unwrap();
    let logout = first
        .post(
            "/api/v1/auth/logout",
            json!({}),
            Some(&account.access_token),
        )
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT, "{}", logout.text);
    second.auth.sync_revocations().await.unwrap();
    assert_eq!(
        answers(&second, &account.access_token).await,
        StatusCode::UNAUTHORIZED,
        "revoked while the cache was down, still revoked"
    );
}

/// What `token` gets from `/users/me`, which checks it before anything else, and from the
/// feeds, which check it beside their own reads: always the same.
async fn answers(app: &TestApp, token: &str) -> StatusCode {
    let mut statuses = Vec::new();
    for path in [
        "/api/v1/users/me",
        "/api/v1/feed/home",
        "/api/v1/feed/popular",
        "/api/v1/feed/hashtags/cats",
    ] {
        statuses.push(app.get(path, Some(token)).await.status);
    }
    assert!(
        statuses.iter().all(|status| *status == statuses[0]),
        "{statuses:?}"
    );
    statuses[0]
}

veilgram_testkit::for_each_engine!(
    revocations_are_shared_through_the_cache_and_fail_closed,
    signup_returns_an_anonymous_account_shown_once,
    a_taken_nickname_fails_signup_with_409,
    login_gives_the_same_answer_for_unknown_users_and_wrong_keys,
    refresh_rotates_and_reuse_revokes_the_whole_family,
    a_concurrent_retry_within_the_grace_window_does_not_end_the_session,
    tokens_of_one_kind_are_refused_as_the_other,
    no_refresh_extends_a_session_past_its_absolute_lifetime,
    logout_kills_the_access_token_and_the_session_at_once,
    rotating_the_recovery_key_retires_the_old_one,
    revocations_made_by_another_process_are_picked_up_by_sync,
);

/// What is physically on disk holds no secret in any form a client ever saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_stored_only_as_digests() {
    let database = TestDatabase::sqlite();
    let app = TestApp::new(&database).await;
    let account = app.signup(Some("digest_only")).await;
    let login = app.login(&account.user_id, &account.recovery_key).await;
    let refreshed = app
        .refresh(login.body["refresh_token"].as_str().unwrap())
        .await;
    app.post(
        "/api/v1/auth/logout",
        json!({}),
        Some(&account.access_token),
    )
    .await;
    let stored = database.sqlite_bytes();
    assert!(stored.len() > 4096);
    let contains = |needle: &str| {
        stored
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
    };
    assert!(contains("digest_only"), "sanity: the scan sees stored text");
    for secret in [
        account.recovery_key.clone(),
        account.recovery_key.replace('-', ""),
        account.refresh_token.clone(),
        account.access_token.clone(),
        login.body["refresh_token"].as_str().unwrap().to_owned(),
        refreshed.body["refresh_token"].as_str().unwrap().to_owned(),
    ] {
        assert!(!contains(&secret), "a secret is stored in clear");
    }
}
