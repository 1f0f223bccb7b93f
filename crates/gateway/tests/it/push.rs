//! Push devices: registration, validation (no server-side request forgery through Web Push
//! endpoints), ownership and removal.

use crate::helpers::TestApp;
use axum::http::{Method, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use veilgram_testkit::TestDatabase;

fn subscription(endpoint: &str) -> Value {
    let mut point = vec![4u8];
    point.extend((1..=64).map(|byte| byte as u8));
    json!({
        "platform": "webpush",
        "subscription": {
            "endpoint": endpoint,
            "expirationTime": null,
            "keys": { "p256dh": URL_SAFE_NO_PAD.encode(point), "auth": URL_SAFE_NO_PAD.encode([7u8; 16]) }
        }
    })
}

async fn push_devices_are_validated_owned_and_moved(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let owner = app.signup(None).await;
    let other = app.signup(None).await;
    let register = |body: Value, token: String| {
        let app = &app;
        async move { app.post("/api/v1/push/devices", body, Some(&token)).await }
    };

    let fcm = register(
        json!({ "platform": "fcm", "token": "fcm-token:abc123" }),
        owner.access_token.clone(),
    )
    .await;
    assert_eq!(
        (fcm.status, fcm.body["platform"].as_str()),
        (StatusCode::CREATED, Some("fcm")),
        "{}",
        fcm.text
    );
    let apns = register(
        json!({ "platform": "apns", "token": "ab".repeat(32) }),
        owner.access_token.clone(),
    )
    .await;
    assert_eq!(apns.status, StatusCode::CREATED, "{}", apns.text);
    let web = register(
        subscription("https://push.example.com/send/abc"),
        owner.access_token.clone(),
    )
    .await;
    assert_eq!(web.status, StatusCode::CREATED, "{}", web.text);

    for (body, field) in [
        (json!({ "platform": "pager", "token": "x" }), "platform"),
        (json!({ "platform": "fcm" }), "token"),
        (json!({ "platform": "apns", "token": "not hex" }), "token"),
        (json!({ "platform": "webpush" }), "subscription"),
        (
            subscription("http://push.example.com/plain"),
            "subscription.endpoint",
        ),
        (
            subscription("https://127.0.0.1/loopback"),
            "subscription.endpoint",
        ),
        (
            subscription("https://10.0.0.5/private"),
            "subscription.endpoint",
        ),
        (
            subscription("https://169.254.169.254/latest/meta-data"),
            "subscription.endpoint",
        ),
        (subscription("https://[::1]/v6"), "subscription.endpoint"),
        (
            subscription("https://[::ffff:192.168.0.1]/mapped"),
            "subscription.endpoint",
        ),
        (subscription("https://localhost/x"), "subscription.endpoint"),
        (
            subscription("https://metadata.internal/x"),
            "subscription.endpoint",
        ),
        (
            subscription("https://user:pw@push.example.com/x"),
            "subscription.endpoint",
        ),
        (subscription("not a url"), "subscription.endpoint"),
    ] {
        let refused = register(body.clone(), owner.access_token.clone()).await;
        assert_eq!(
            (refused.status, refused.field()),
            (StatusCode::BAD_REQUEST, field),
            "{body}"
        );
    }
    let mut bad_keys = subscription("https://push.example.com/x");
    bad_keys["subscription"]["keys"]["auth"] = json!("c2hvcnQ");
    let refused = register(bad_keys, owner.access_token.clone()).await;
    assert_eq!(refused.field(), "subscription.keys.auth");

    // One device, one account: the same token registered by someone else moves.
    let moved = register(
        json!({ "platform": "fcm", "token": "fcm-token:abc123" }),
        other.access_token.clone(),
    )
    .await;
    assert_eq!(moved.body["id"], fcm.body["id"]);
    let fcm_path = format!("/api/v1/push/devices/{}", fcm.body["id"].as_str().unwrap());
    let not_theirs = app
        .call(Method::DELETE, &fcm_path, None, Some(&owner.access_token))
        .await;
    assert_eq!(not_theirs.status, StatusCode::NOT_FOUND);
    let removed = app
        .call(Method::DELETE, &fcm_path, None, Some(&other.access_token))
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let again = app
        .call(Method::DELETE, &fcm_path, None, Some(&other.access_token))
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

veilgram_testkit::for_each_engine!(push_devices_are_validated_owned_and_moved);
