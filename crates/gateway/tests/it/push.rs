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
use std::time::{Duration, Instant};
use veilgram_core::jobs::{JobCounts, JobQueue};
use veilgram_core::ports::PushDeviceStore;
use veilgram_core::Timestamp;
use veilgram_notifications::providers::{pem_to_der, Apns, ApnsSettings, Fcm, FcmSettings};
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
            return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")]).into_response();
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

/// A push worker on the app's store with a fresh VAPID key; `allow_local` as in development.
fn push_worker(app: &TestApp, allow_local: bool) -> PushWorker {
    PushWorker::new(
        Arc::clone(&app.store) as Arc<dyn PushDeviceStore>,
        Arc::clone(&app.store) as Arc<dyn JobQueue>,
        VapidKey::from_pkcs8(&VapidKey::generate_pkcs8().unwrap()).unwrap(),
        "mailto:ops@example.org".into(),
        allow_local,
        Duration::from_millis(100),
    )
    .unwrap()
}

/// Runs the worker until `done` holds (a retried push has run), polling; answers how long
/// that took from `since`.
async fn run_until(worker: &PushWorker, since: Instant, done: impl Fn() -> bool) -> Duration {
    let ran = veilgram_testkit::poll_until(Duration::from_secs(15), || async {
        while worker.run_once().await.unwrap() {}
        done().then_some(())
    })
    .await;
    assert!(ran.is_some(), "the retried pushes ran");
    since.elapsed()
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
    let worker = push_worker(&app, true);
    let mut ran = 0;
    while worker.run_once().await.unwrap() {
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
    // Retry-After (1 s) although the backoff (0.1 s) is shorter.
    let failed = Instant::now();
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
    let waited = run_until(&worker, failed, || service.requests("busy") == 2).await;
    // Counted from after the refusal: a little under the 1 s asked, far over the backoff.
    assert!(
        waited >= Duration::from_millis(800),
        "Retry-After honoured: {waited:?}"
    );
    let received = service.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].0, "busy");
    assert_eq!(
        jobs.counts().await.unwrap(),
        JobCounts { queued: 0, dead: 1 },
        "the others were delivered or forgotten"
    );

    // In production the worker never calls this network, whatever a stored endpoint says (an
    // address, or a name that resolves here).
    let production = push_worker(&app, false);
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
    while production.run_once().await.unwrap() {}
    assert_eq!(
        (service.requests("by-address"), service.requests("by-name")),
        (0, 0)
    );
}

veilgram_testkit::for_each_engine!(
    push_devices_are_validated_owned_and_moved,
    notifications_are_pushed_retried_forgotten_and_dead_lettered,
    mobile_pushes_carry_only_a_signal_retry_and_forget_gone_devices,
);

/// The tests' FCM (OAuth token endpoint and HTTP v1 send) and APNs (HTTP/2) in one server,
/// checking what the real ones check: the service account's RS256 assertion, the bearer token,
/// the ES256 provider token, HTTP/2, and that no message carries readable content.
#[derive(Clone)]
struct Providers {
    fcm_public: Arc<Vec<u8>>,
    apns_public: Arc<Vec<u8>>,
    seen: Arc<Mutex<Vec<String>>>,
    tokens_issued: Arc<Mutex<u32>>,
}

fn claims_of(token: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

fn verify(
    token: &str,
    algorithm: &'static dyn ring::signature::VerificationAlgorithm,
    key: &[u8],
) -> bool {
    let Some((signed, signature)) = token.rsplit_once('.') else {
        return false;
    };
    ring::signature::UnparsedPublicKey::new(algorithm, key)
        .verify(
            signed.as_bytes(),
            &URL_SAFE_NO_PAD.decode(signature).unwrap_or_default(),
        )
        .is_ok()
}

/// What the providers answer for a device token: by its name.
fn provider_answer(device: &str, seen_before: usize) -> axum::response::Response {
    use axum::response::IntoResponse;
    if device.contains("gone") || device.starts_with("bb") {
        let body = json!({ "reason": "Unregistered", "error": { "status": "NOT_FOUND", "details": [{ "errorCode": "UNREGISTERED" }] } });
        let status = if device.starts_with("bb") {
            StatusCode::GONE
        } else {
            StatusCode::NOT_FOUND
        };
        return (status, axum::Json(body)).into_response();
    }
    if (device.contains("busy") || device.starts_with("cc")) && seen_before == 0 {
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")]).into_response();
    }
    (
        StatusCode::OK,
        axum::Json(json!({ "name": "projects/p/messages/1" })),
    )
        .into_response()
}

async fn fcm_token(
    axum::extract::State(providers): axum::extract::State<Providers>,
    body: String,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let assertion = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("assertion="))
        .unwrap_or_default();
    let claims = claims_of(assertion);
    let valid = verify(
        assertion,
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        &providers.fcm_public,
    ) && claims["iss"] == "push@veilgram-test.iam.gserviceaccount.com"
        && claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging";
    if !valid || !body.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer")
    {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "error": "invalid_grant" })),
        )
            .into_response();
    }
    *providers.tokens_issued.lock().unwrap() += 1;
    axum::Json(json!({ "access_token": "fake-access", "expires_in": 3600, "token_type": "Bearer" }))
        .into_response()
}

async fn fcm_send(
    axum::extract::State(providers): axum::extract::State<Providers>,
    headers: axum::http::HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if headers["authorization"] != "Bearer fake-access" {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let message = &body["message"];
    assert_eq!(
        message["data"],
        json!({ "veilgram": "sync" }),
        "a signal only"
    );
    assert!(
        message.get("notification").is_none(),
        "nothing a relay could read"
    );
    let device = message["token"].as_str().unwrap().to_owned();
    let mut seen = providers.seen.lock().unwrap();
    let before = seen.iter().filter(|earlier| **earlier == device).count();
    seen.push(device.clone());
    provider_answer(&device, before)
}

async fn apns_send(
    axum::extract::State(providers): axum::extract::State<Providers>,
    axum::extract::Path(device): axum::extract::Path<String>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    assert_eq!(
        request.version(),
        axum::http::Version::HTTP_2,
        "APNs speaks HTTP/2 only"
    );
    let headers = request.headers().clone();
    let token = headers["authorization"]
        .to_str()
        .unwrap()
        .strip_prefix("bearer ")
        .unwrap()
        .to_owned();
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    if !verify(
        &token,
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        &providers.apns_public,
    ) || header["kid"] != "KEY1234567"
        || claims_of(&token)["iss"] != "TEAM123456"
    {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(json!({ "reason": "InvalidProviderToken" })),
        )
            .into_response();
    }
    assert_eq!(headers["apns-topic"], "org.veilgram.app");
    let body = axum::body::to_bytes(request.into_body(), 4096)
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({ "aps": { "content-available": 1 } })
    );
    let mut seen = providers.seen.lock().unwrap();
    let before = seen.iter().filter(|earlier| **earlier == device).count();
    seen.push(device.clone());
    provider_answer(&device, before)
}

async fn mobile_pushes_carry_only_a_signal_retry_and_forget_gone_devices(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let owner = app.signup(None).await;
    let fan = app.signup(None).await;
    // The service account's RSA key, made by the test with openssl; the APNs key with ring.
    let work = tempfile::tempdir().unwrap();
    let key_path = work.path().join("service-account.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key_path)
        .output()
        .unwrap();
    assert!(made.status.success());
    let pem = std::fs::read_to_string(&key_path).unwrap();
    let fcm_der = pem_to_der(&pem).unwrap();
    let fcm_public = ring::signature::RsaKeyPair::from_pkcs8(&fcm_der)
        .unwrap()
        .public()
        .as_ref()
        .to_vec();
    let apns_der = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &SystemRandom::new(),
    )
    .unwrap()
    .as_ref()
    .to_vec();
    let apns_public = {
        use ring::signature::KeyPair;
        ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &apns_der,
            &SystemRandom::new(),
        )
        .unwrap()
        .public_key()
        .as_ref()
        .to_vec()
    };
    let providers = Providers {
        fcm_public: Arc::new(fcm_public),
        apns_public: Arc::new(apns_public),
        seen: Arc::default(),
        tokens_issued: Arc::default(),
    };
    let router = axum::Router::new()
        .route("/token", axum::routing::post(fcm_token))
        .route(
            "/v1/projects/{project}/messages:send",
            axum::routing::post(fcm_send),
        )
        .route("/3/device/{device}", axum::routing::post(apns_send))
        .with_state(providers.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let apns_ok = "aa".repeat(32);
    let apns_gone = "bb".repeat(32);
    let apns_busy = "cc".repeat(32);
    for (platform, token) in [
        ("fcm", "fcm-ok"),
        ("fcm", "fcm-gone"),
        ("fcm", "fcm-busy"),
        ("apns", apns_ok.as_str()),
        ("apns", apns_gone.as_str()),
        ("apns", apns_busy.as_str()),
    ] {
        let registered = app
            .post(
                "/api/v1/push/devices",
                json!({ "platform": platform, "token": token }),
                Some(&owner.access_token),
            )
            .await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{}",
            registered.text
        );
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

    let account = json!({
        "type": "service_account",
        "project_id": "veilgram-test",
        "private_key": pem,
        "client_email": "push@veilgram-test.iam.gserviceaccount.com",
        "token_uri": format!("{base}/token"),
    })
    .to_string();
    let worker = push_worker(&app, true)
        .with_fcm(Fcm::new(FcmSettings::from_service_account(&account, &base).unwrap()).unwrap())
        .with_apns(
            Apns::new(ApnsSettings {
                key_pkcs8: apns_der,
                key_id: "KEY1234567".into(),
                team_id: "TEAM123456".into(),
                topic: "org.veilgram.app".into(),
                endpoint: base.clone(),
            })
            .unwrap(),
        );
    while worker.run_once().await.unwrap() {}
    assert_eq!(
        providers.seen.lock().unwrap().len(),
        6,
        "each device tried once"
    );
    let failed = Instant::now();
    let waited = run_until(&worker, failed, || {
        providers.seen.lock().unwrap().len() == 8
    })
    .await;
    // Counted from after the refusal: a little under the 1 s asked, far over the backoff.
    assert!(
        waited >= Duration::from_millis(800),
        "Retry-After honoured: {waited:?}"
    );
    let seen = providers.seen.lock().unwrap().clone();
    assert_eq!(
        seen.iter()
            .filter(|token| token.as_str() == "fcm-busy")
            .count(),
        2
    );
    assert_eq!(seen.iter().filter(|token| **token == apns_busy).count(), 2);
    assert_eq!(
        *providers.tokens_issued.lock().unwrap(),
        1,
        "the access token is reused"
    );
    let owner_id = owner.user_id.parse().unwrap();
    let left: Vec<String> = app
        .store
        .devices_of(owner_id)
        .await
        .unwrap()
        .into_iter()
        .map(|device| match device.target {
            veilgram_core::ports::PushTarget::Fcm { token }
            | veilgram_core::ports::PushTarget::Apns { token } => token,
            veilgram_core::ports::PushTarget::WebPush { endpoint, .. } => endpoint,
        })
        .collect();
    assert_eq!(left.len(), 4, "the gone devices are forgotten: {left:?}");
    assert!(!left
        .iter()
        .any(|token| token == "fcm-gone" || *token == apns_gone));
}
