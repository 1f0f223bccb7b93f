//! Push devices: registration, validation (no server-side request forgery through Web Push
//! endpoints), ownership and removal; and Web Push delivery against a local push service that
//! verifies VAPID and decrypts as a browser does: retries honouring Retry-After, forgotten
//! devices, dead letters.

use crate::helpers::{Options, TestApp};
use axum::http::{Method, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::agreement::{EphemeralPrivateKey, ECDH_P256};
use ring::rand::SystemRandom;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use veilgram_core::jobs::JobQueue;
use veilgram_core::ports::PushDeviceStore;
use veilgram_core::Timestamp;
use veilgram_notifications::webpush::{decrypt, VapidKey};
use veilgram_notifications::PushWorker;
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

/// What the tests' push service does with messages for one subscription.
#[derive(Clone, Copy, PartialEq)]
enum Behaviour {
    Accept,
    Gone,
    BusyOnce,
    Refuse,
}

/// One subscription at the push service: its key (taken when a message is read), its public
/// half, its behaviour, and how many requests it got.
struct Subscriber {
    key: Option<EphemeralPrivateKey>,
    public: Vec<u8>,
    behaviour: Behaviour,
    requests: u32,
}

type Subscribers = Arc<Mutex<HashMap<String, Subscriber>>>;
type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// A push service on loopback that checks what a real one checks (the VAPID token's signature
/// and audience) and reads each message as the browser would, with the subscription's key.
struct PushService {
    address: String,
    subscriptions: Subscribers,
    received: Received,
}

impl PushService {
    async fn start() -> Self {
        let subscriptions = Arc::new(Mutex::new(HashMap::new()));
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = (Arc::clone(&subscriptions), Arc::clone(&received));
        let router = axum::Router::new()
            .route("/push/{name}", axum::routing::post(receive))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            address,
            subscriptions,
            received,
        }
    }

    /// A new subscription: its registration body for the API.
    fn subscribe(&self, name: &str, behaviour: Behaviour) -> Value {
        let key = EphemeralPrivateKey::generate(&ECDH_P256, &SystemRandom::new()).unwrap();
        let public = key.compute_public_key().unwrap().as_ref().to_vec();
        self.subscriptions.lock().unwrap().insert(
            name.to_owned(),
            Subscriber {
                key: Some(key),
                public: public.clone(),
                behaviour,
                requests: 0,
            },
        );
        json!({
            "platform": "webpush",
            "subscription": {
                "endpoint": format!("http://{}/push/{name}", self.address),
                "keys": { "p256dh": URL_SAFE_NO_PAD.encode(&public), "auth": URL_SAFE_NO_PAD.encode([5u8; 16]) }
            }
        })
    }

    fn requests(&self, name: &str) -> u32 {
        self.subscriptions.lock().unwrap()[name].requests
    }
}

type ServiceState = (Subscribers, Received);

async fn receive(
    axum::extract::State((subscriptions, received)): axum::extract::State<ServiceState>,
    axum::extract::Path(name): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    // RFC 8292: "vapid t=<JWT>, k=<key>", the JWT signed by that key for this origin.
    let authorization = headers["authorization"].to_str().unwrap();
    let (token, key) = authorization
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .expect("a VAPID authorization");
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let verified = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        URL_SAFE_NO_PAD.decode(key).unwrap(),
    )
    .verify(
        signed.as_bytes(),
        &URL_SAFE_NO_PAD.decode(signature).unwrap(),
    );
    if verified.is_err() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(signed.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(claims["aud"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    assert_eq!(headers["content-encoding"], "aes128gcm");
    let mut subscriptions = subscriptions.lock().unwrap();
    let entry = subscriptions.get_mut(&name).unwrap();
    entry.requests += 1;
    match entry.behaviour {
        Behaviour::Gone => return StatusCode::GONE.into_response(),
        Behaviour::Refuse => return StatusCode::BAD_REQUEST.into_response(),
        Behaviour::BusyOnce if entry.requests == 1 => {
            return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "30")]).into_response();
        }
        _ => {}
    }
    let key = entry.key.take().expect("one message per subscription key");
    let plain = decrypt(&body, key, &entry.public, &[5u8; 16]).expect("the message opens");
    received
        .lock()
        .unwrap()
        .push((name, serde_json::from_slice(&plain).unwrap()));
    StatusCode::CREATED.into_response()
}

async fn notifications_are_pushed_retried_forgotten_and_dead_lettered(database: &TestDatabase) {
    let app = TestApp::with_options(
        database,
        Options {
            allow_local_push: true,
            ..Options::default()
        },
    )
    .await;
    let service = PushService::start().await;
    let owner = app.signup(None).await;
    let fan = app.signup(None).await;
    let mut devices = HashMap::new();
    for (name, behaviour) in [
        ("phone", Behaviour::Accept),
        ("old-laptop", Behaviour::Gone),
        ("busy", Behaviour::BusyOnce),
        ("broken", Behaviour::Refuse),
    ] {
        let registered = app
            .post(
                "/api/v1/push/devices",
                service.subscribe(name, behaviour),
                Some(&owner.access_token),
            )
            .await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{}",
            registered.text
        );
        devices.insert(name, registered.body["id"].as_str().unwrap().to_owned());
    }
    let followed = app
        .post(
            &format!("/api/v1/users/{}/follow", owner.user_id),
            json!({}),
            Some(&fan.access_token),
        )
        .await;
    assert!(followed.status.is_success());
    app.drain_events().await;

    let jobs = Arc::clone(&app.store) as Arc<dyn JobQueue>;
    let worker = PushWorker::new(
        Arc::clone(&app.store) as Arc<dyn PushDeviceStore>,
        Arc::clone(&jobs),
        VapidKey::from_pkcs8(&VapidKey::generate_pkcs8().unwrap()).unwrap(),
        "mailto:ops@example.org".into(),
        true,
        Duration::from_secs(1),
    )
    .unwrap();
    let now = Timestamp::now();
    let mut ran = 0;
    while worker.run_once(now).await.unwrap() {
        ran += 1;
    }
    assert_eq!(ran, 4, "one job per device");
    let received = service.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].0, "phone");
    assert_eq!(
        (
            received[0].1["type"].as_str(),
            received[0].1["actor"].as_str()
        ),
        (Some("follow"), Some(fan.user_id.as_str()))
    );

    // 410: the device is forgotten. 400: dead-lettered at once. 429: retried, not before its
    // Retry-After (30 s) although the backoff (1 s) is shorter.
    let forgotten = app
        .call(
            Method::DELETE,
            &format!("/api/v1/push/devices/{}", devices["old-laptop"]),
            None,
            Some(&owner.access_token),
        )
        .await;
    assert_eq!(forgotten.status, StatusCode::NOT_FOUND);
    assert_eq!(jobs.counts().await.unwrap().dead, 1);
    assert!(
        !worker
            .run_once(now.plus(Duration::from_secs(5)))
            .await
            .unwrap(),
        "Retry-After honoured"
    );
    assert!(worker
        .run_once(now.plus(Duration::from_secs(31)))
        .await
        .unwrap());
    assert_eq!(service.requests("busy"), 2);
    let received = service.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].0, "busy");
    assert_eq!(jobs.counts().await.unwrap().done, 3);

    // In production the worker never calls this network, whatever a stored endpoint says (an
    // address, or a name that resolves here).
    let production = PushWorker::new(
        Arc::clone(&app.store) as Arc<dyn PushDeviceStore>,
        Arc::clone(&jobs),
        VapidKey::from_pkcs8(&VapidKey::generate_pkcs8().unwrap()).unwrap(),
        "mailto:ops@example.org".into(),
        false,
        Duration::from_secs(1),
    )
    .unwrap();
    let port = service.address.rsplit_once(':').unwrap().1.to_owned();
    for (name, host) in [("by-address", "127.0.0.1"), ("by-name", "localhost")] {
        let mut body = service.subscribe(name, Behaviour::Accept);
        let endpoint = format!("http://{host}:{port}/push/{name}");
        body["subscription"]["endpoint"] = json!(endpoint);
        let keys = &body["subscription"]["keys"];
        let device = veilgram_core::ports::PushDevice {
            id: veilgram_core::PushDeviceId::random(),
            user_id: owner.user_id.parse().unwrap(),
            target: veilgram_core::ports::PushTarget::WebPush {
                endpoint,
                p256dh: keys["p256dh"].as_str().unwrap().to_owned(),
                auth: keys["auth"].as_str().unwrap().to_owned(),
            },
            created_at: Timestamp::now(),
        };
        app.store.register_device(&device).await.unwrap();
    }
    let again = app
        .post(
            &format!("/api/v1/users/{}/follow", owner.user_id),
            json!({}),
            Some(&app.signup(None).await.access_token),
        )
        .await;
    assert!(again.status.is_success());
    app.drain_events().await;
    let later = now.plus(Duration::from_secs(60));
    while production.run_once(later).await.unwrap() {}
    assert_eq!(
        (service.requests("by-address"), service.requests("by-name")),
        (0, 0)
    );
}

veilgram_testkit::for_each_engine!(
    push_devices_are_validated_owned_and_moved,
    notifications_are_pushed_retried_forgotten_and_dead_lettered,
);
