//! `TestApp`: the router over a fresh database, and a small request helper.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;
use veilgram_auth::{AuthService, AuthSettings};
use veilgram_core::cache::Cache;
use veilgram_core::jobs::JobQueue;
use veilgram_core::ports::{
    CredentialStore, FeedStore, HealthCheck, NotificationStore, PollStore, PushDeviceStore,
    ServerSecrets,
};
use veilgram_core::pubsub::PubSub;
use veilgram_feeds::{FeedFanout, FeedService, FeedSettings};
use veilgram_gateway::{
    AppState, GatewayConfig, Metrics, RateLimitSettings, RateLimiter, Services,
};
use veilgram_media::{MediaService, MediaSettings, MediaWorker, StorageConfig};
use veilgram_notifications::{NotificationMaker, PushQueue};
use veilgram_realtime::{Hub, Relay};
use veilgram_testkit::TestDatabase;
use veilgram_users::UsersService;

pub struct TestApp {
    /// The application behind the router (its workflows, as a consumer would call them).
    pub app: Arc<veilgram_app::App>,
    pub router: Router,
    /// What the admin listener serves (`/metrics`).
    pub admin: Router,
    pub pubsub: Arc<dyn PubSub>,
    _dispatch: DropAbort,
    pub media: Arc<MediaService>,
    /// The search index (in memory), kept by the indexer as `drain_events` runs it.
    pub search: Arc<veilgram_search::TantivySearch>,
    /// Runs video jobs when a test asks (`media_worker.run_once()`).
    pub media_worker: Arc<MediaWorker>,
    pub cache: Arc<dyn Cache>,
    pub feeds: Arc<FeedService>,
    /// The store behind the router, for setting up states the API cannot reach (a closed poll).
    pub store: Arc<veilgram_sql::SqlStore>,
    pub auth: Arc<AuthService>,
    pub users: Arc<UsersService>,
    pub data_dir: tempfile::TempDir,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
    /// The body as sent.
    pub raw: Vec<u8>,
}

impl TestResponse {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }
}

pub struct Account {
    pub user_id: String,
    pub access_token: String,
    pub refresh_token: String,
    pub recovery_key: String,
}

pub struct Options {
    /// The cache behind feeds; a fresh in-memory one if `None`.
    pub cache: Option<Arc<dyn Cache>>,
    pub feed_settings: FeedSettings,
    /// Off unless a test sets them.
    pub rate_limits: RateLimitSettings,
    pub refresh_reuse_grace: Duration,
    pub session_lifetime: Duration,
    pub cors_allowed_origins: Vec<String>,
    pub max_body_bytes: usize,
    /// Where media goes (default: a directory in the test's data dir).
    pub storage: Option<StorageConfig>,
    pub media_quota: Option<u64>,
    /// The media service's decoding budget and offload threshold (defaults otherwise).
    pub decode_budget_bytes: Option<u64>,
    pub offload_pixels: Option<u64>,
    /// The bus live events travel on (default: this test's own, in-process).
    pub pubsub: Option<Arc<dyn PubSub>>,
    /// Accept Web Push endpoints on loopback (the tests' push service).
    pub allow_local_push: bool,
    /// Off unless a test is about proofs of work.
    pub proof_of_work: veilgram_auth::proof::ProofSettings,
    pub unauthenticated_sockets_per_address: usize,
    /// What each category of text does (the default policy unless a test sets one).
    pub moderation: veilgram_classify::Policy,
}

/// Aborts a background task when the test app goes.
struct DropAbort(tokio::task::JoinHandle<()>);

impl Drop for DropAbort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            cache: None,
            feed_settings: FeedSettings::default(),
            rate_limits: RateLimitSettings {
                scale: 0.0,
                ..RateLimitSettings::default()
            },
            refresh_reuse_grace: Duration::ZERO,
            session_lifetime: Duration::from_secs(7200),
            cors_allowed_origins: vec!["https://app.example".into()],
            max_body_bytes: 16 * 1024,
            storage: None,
            media_quota: None,
            decode_budget_bytes: None,
            offload_pixels: None,
            pubsub: None,
            allow_local_push: false,
            moderation: veilgram_classify::Policy::default(),
            proof_of_work: veilgram_auth::proof::ProofSettings::disabled(),
            unauthenticated_sockets_per_address: 16,
        }
    }
}

impl TestApp {
    pub async fn new(database: &TestDatabase) -> Self {
        Self::with_options(database, Options::default()).await
    }

    pub async fn with_options(database: &TestDatabase, options: Options) -> Self {
        Self::build(database, options, tempfile::tempdir().unwrap()).await
    }

    /// Another server process over the same database, sharing this one's signing keys.
    pub async fn second_process(&self, database: &TestDatabase) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        std::fs::copy(self.key_file(), data_dir.path().join("signing-keys.json")).unwrap();
        Self::build(database, Options::default(), data_dir).await
    }

    /// [`Self::second_process`] with options (a cache shared with the first, say).
    pub async fn second_process_with(&self, database: &TestDatabase, options: Options) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        std::fs::copy(self.key_file(), data_dir.path().join("signing-keys.json")).unwrap();
        Self::build(database, options, data_dir).await
    }

    async fn build(database: &TestDatabase, options: Options, data_dir: tempfile::TempDir) -> Self {
        let store = Arc::new(database.store().await);
        let cache = options
            .cache
            .unwrap_or_else(|| Arc::new(veilgram_cache::MemoryCache::default()));
        let auth = Arc::new(
            AuthService::new(
                Arc::clone(&store) as Arc<dyn CredentialStore>,
                AuthSettings {
                    issuer: "veilgram".into(),
                    audience: "veilgram-api".into(),
                    access_ttl: Duration::from_secs(900),
                    refresh_ttl: Duration::from_secs(3600),
                    session_lifetime: options.session_lifetime,
                    refresh_reuse_grace: options.refresh_reuse_grace,
                    key_file: Some(data_dir.path().join("signing-keys.json")),
                    revocation_sync_interval: Duration::from_secs(1),
                },
            )
            .unwrap()
            .with_cache(Arc::clone(&cache)),
        );
        let storage = options
            .storage
            .clone()
            .unwrap_or_else(|| StorageConfig::Local(data_dir.path().join("media")));
        let mut media_settings = MediaSettings::new(data_dir.path().join("uploads"));
        if let Some(quota) = options.media_quota {
            media_settings.quota_bytes = quota;
        }
        if let Some(budget) = options.decode_budget_bytes {
            media_settings.decode_budget_bytes = budget;
        }
        media_settings.offload_pixels = options.offload_pixels;
        // The same application `veilgram serve` builds.
        let app = Arc::new(
            veilgram_app::App::build(
                Arc::clone(&store),
                Arc::clone(&cache),
                Arc::clone(&auth),
                veilgram_app::AppSettings {
                    profile_cache_ttl: Duration::from_secs(60),
                    feeds: options.feed_settings,
                    cursor_key: Some(b"test cursor key".to_vec()),
                    storage,
                    media: media_settings,
                    allow_local_push: options.allow_local_push,
                    proof_of_work: options.proof_of_work.clone(),
                    classifier: std::sync::Arc::new(veilgram_classify::TextClassifier::bundled(
                        options.moderation.clone(),
                    )),
                },
            )
            .await
            .unwrap(),
        );
        let (users, feeds, media) = (
            Arc::clone(&app.users),
            Arc::clone(&app.feeds),
            Arc::clone(&app.media),
        );
        let media_worker = Arc::new(app.media_worker(Duration::from_millis(10)));
        let pubsub = options
            .pubsub
            .clone()
            .unwrap_or_else(|| Arc::new(veilgram_cache::LocalPubSub::default()));
        let hub = Arc::new(Hub::default());
        let dispatch = Arc::clone(&hub)
            .spawn_dispatch(pubsub.as_ref(), Arc::clone(&store) as Arc<dyn FeedStore>);
        let rate_limits = Arc::new(
            RateLimiter::new(
                Arc::clone(&cache),
                Arc::clone(&store) as Arc<dyn ServerSecrets>,
                options.rate_limits,
            )
            .with_standing(Arc::clone(&store) as Arc<dyn veilgram_core::ports::StandingStore>),
        );
        let search = Arc::new(veilgram_search::TantivySearch::in_memory().unwrap());
        let state = AppState::new(Services {
            search: Arc::clone(&search) as Arc<dyn veilgram_core::ports::SearchIndex>,
            app: Arc::clone(&app),
            hub: Arc::clone(&hub),
            ws_origins: Arc::new(options.cors_allowed_origins.clone()),
            unauthenticated_sockets: veilgram_gateway::server::AddressCounts::new(
                options.unauthenticated_sockets_per_address,
            ),
            vapid_public_key: Arc::from("test-vapid-key"),
            rate_limits: Arc::clone(&rate_limits),
            address_blocks: Arc::new(veilgram_gateway::blocks::AddressBlocks::new(
                Arc::clone(&store) as Arc<dyn veilgram_core::ports::AddressBlockStore>,
                rate_limits,
            )),
            metrics_sources: Arc::new([]),
            health_checks: Arc::new([Arc::clone(&store) as Arc<dyn HealthCheck>]),
            metrics: Arc::new(Metrics::default()),
        });
        let config = GatewayConfig {
            cors_allowed_origins: options.cors_allowed_origins,
            max_body_bytes: options.max_body_bytes,
            ..GatewayConfig::default()
        };
        Self {
            pubsub,
            search,
            _dispatch: DropAbort(dispatch),
            media,
            media_worker,
            cache,
            feeds,
            app,
            admin: veilgram_gateway::admin_router(state.clone()),
            router: veilgram_gateway::router(state, &config),
            store,
            auth,
            users,
            data_dir,
        }
    }

    /// Moves every pending event through the outbox relay and the feeds' consumer, as the
    /// background tasks of `veilgram serve` do, and returns once nothing is left.
    pub async fn drain_events(&self) {
        self.try_drain_events().await.unwrap();
    }

    /// [`Self::drain_events`], answering the first failure (an event whose handling failed
    /// stays unconsumed, to be retried).
    pub async fn try_drain_events(&self) -> anyhow::Result<()> {
        let fanout = FeedFanout::new(Arc::clone(&self.feeds));
        let notifications = NotificationMaker::new(
            Arc::clone(&self.store) as Arc<dyn NotificationStore>,
            Arc::clone(&self.pubsub),
        )
        .with_push(Arc::new(PushQueue::new(
            Arc::clone(&self.store) as Arc<dyn PushDeviceStore>,
            Arc::clone(&self.store) as Arc<dyn JobQueue>,
            vec!["webpush", "fcm", "apns"],
        )));
        let relay = Relay::new(
            Arc::clone(&self.pubsub),
            Arc::clone(&self.store) as Arc<dyn FeedStore>,
            Arc::clone(&self.store) as Arc<dyn PollStore>,
            self.feeds.settings().fan_out_limit,
        );
        let moderator = veilgram_moderation::AutoModerator::new(
            Arc::clone(&self.store) as Arc<dyn veilgram_core::ports::ModerationStore>,
            Arc::clone(&self.app.classifier),
            veilgram_moderation::ReportThreshold::default(),
        );
        while veilgram_events::relay_once(self.store.as_ref(), self.store.as_ref()).await? > 0 {}
        // Automatic moderation first: its decisions are events the others then handle.
        while veilgram_events::consume_once(self.store.as_ref(), &moderator).await? > 0 {}
        while veilgram_events::relay_once(self.store.as_ref(), self.store.as_ref()).await? > 0 {}
        while veilgram_events::consume_once(self.store.as_ref(), &fanout).await? > 0 {}
        while veilgram_events::consume_once(self.store.as_ref(), &notifications).await? > 0 {}
        while veilgram_events::consume_once(self.store.as_ref(), &relay).await? > 0 {}
        let indexer = veilgram_search::Indexer::new(
            Arc::clone(&self.search) as Arc<dyn veilgram_core::ports::SearchIndex>,
            Arc::clone(&self.store) as Arc<dyn veilgram_core::ports::SearchSource>,
        );
        while veilgram_events::consume_once(self.store.as_ref(), &indexer).await? > 0 {}
        Ok(())
    }

    pub fn key_file(&self) -> PathBuf {
        self.data_dir.path().join("signing-keys.json")
    }

    pub async fn send(&self, request: Request<Body>) -> TestResponse {
        respond(self.router.clone(), request).await
    }

    /// A GET on the admin listener.
    pub async fn admin_get(&self, path: &str) -> TestResponse {
        let request = Request::builder().uri(path).body(Body::empty()).unwrap();
        respond(self.admin.clone(), request).await
    }

    /// A JSON request; `token` becomes a bearer header.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> TestResponse {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => builder
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
            None => builder.body(Body::empty()).unwrap(),
        };
        self.send(request).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.call(Method::GET, path, None, token).await
    }

    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> TestResponse {
        self.call(Method::POST, path, Some(body), token).await
    }

    pub async fn signup(&self, nickname: Option<&str>) -> Account {
        let body = match nickname {
            Some(nickname) => serde_json::json!({ "nickname": nickname }),
            None => serde_json::json!({}),
        };
        let response = self.post("/api/v1/auth/signup", body, None).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
        Account {
            user_id: response.body["user_id"].as_str().unwrap().to_owned(),
            access_token: response.body["access_token"].as_str().unwrap().to_owned(),
            refresh_token: response.body["refresh_token"].as_str().unwrap().to_owned(),
            recovery_key: response.body["recovery_key"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn login(&self, user_id: &str, recovery_key: &str) -> TestResponse {
        self.post(
            "/api/v1/auth/login",
            serde_json::json!({ "user_id": user_id, "recovery_key": recovery_key }),
            None,
        )
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> TestResponse {
        self.post(
            "/api/v1/auth/refresh",
            serde_json::json!({ "refresh_token": refresh_token }),
            None,
        )
        .await
    }

    pub async fn me(&self, token: &str) -> TestResponse {
        self.get("/api/v1/users/me", Some(token)).await
    }
}

impl TestApp {
    pub async fn delete(&self, path: &str, token: &str) -> TestResponse {
        self.call(Method::DELETE, path, None, Some(token)).await
    }

    /// `token`'s account follows `user_id`.
    pub async fn follow(&self, token: &str, user_id: &str) {
        let response = self
            .post(
                &format!("/api/v1/users/{user_id}/follow"),
                serde_json::json!({}),
                Some(token),
            )
            .await;
        assert!(response.status.is_success(), "{}", response.text);
    }

    /// Deactivates `token`'s account (its next login brings it back).
    pub async fn deactivate(&self, token: &str) {
        let response = self
            .post(
                "/api/v1/users/me/deactivate",
                serde_json::json!({}),
                Some(token),
            )
            .await;
        assert_eq!(response.status, StatusCode::NO_CONTENT, "{}", response.text);
    }

    /// Creates a post and returns its id.
    pub async fn post_text(&self, token: &str, text: &str, visibility: &str) -> String {
        let response = self
            .post(
                "/api/v1/posts",
                serde_json::json!({ "text": text, "visibility": visibility }),
                Some(token),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
        response.body["id"].as_str().unwrap().to_owned()
    }
}

/// A Redis server of this test's own, so that it can be stopped and started again.
pub struct OwnRedis {
    child: std::process::Child,
    pub port: u16,
}

impl OwnRedis {
    /// On a free port.
    pub fn start_anywhere() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start(port)
    }

    pub fn start(port: u16) -> Self {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::yield_now();
        }
        Self { child, port }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn respond(router: Router, request: Request<Body>) -> TestResponse {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    TestResponse {
        status,
        headers,
        body,
        text,
        raw: bytes.to_vec(),
    }
}
