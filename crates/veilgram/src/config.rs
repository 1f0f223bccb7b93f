//! Configuration: defaults → optional TOML file (`--config`) → `VEILGRAM_*` environment, where
//! `__` nests (`VEILGRAM_HTTP__MAX_BODY_BYTES`). Unknown keys in the file are an error; unknown
//! environment variables are reported and ignored (other tools share the prefix).

use anyhow::{bail, Context};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use veilgram_cache::CacheUrl;
use veilgram_gateway::{Budget, Limit, Network, RateLimitSettings};
use veilgram_sql::DatabaseUrl;

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `VEILGRAM_LISTEN`: the address to serve HTTP on.
    pub listen: String,
    /// `VEILGRAM_ROLES` (or `serve --roles`): what this process runs, comma-separated among
    /// `api`, `realtime`, `consumers`, `jobs`, `periodic`; all by default.
    pub roles: String,
    /// `VEILGRAM_ADMIN_LISTEN`: where `/metrics` (with `/healthz` and `/readyz`) is served, for
    /// Prometheus and probes on a private network; empty serves no metrics.
    pub admin_listen: String,
    /// `VEILGRAM_DATA_DIR`: the SQLite file, the signing keys and (later) media live here.
    pub data_dir: PathBuf,
    /// `VEILGRAM_DATABASE_URL`: empty for SQLite in the data dir; `postgres://…` for PostgreSQL.
    pub database_url: String,
    /// `VEILGRAM_REDIS_URL`: empty for the in-process cache; `redis://host:port[/db]` for one
    /// Redis server; `redis-cluster://host:port,host:port,…` for a Redis Cluster (seed nodes).
    pub redis_url: String,
    /// `VEILGRAM_REDIS_NEAR_CACHE_MB`: on one Redis server, what this process may hold of
    /// copies of what feeds read most (posts, bylines, counts, readers' relations), kept fresh
    /// by Redis's invalidations; 0 reads everything from Redis.
    pub redis_near_cache_mb: usize,
    pub database: DatabaseConfig,
    pub http: HttpConfig,
    pub auth: AuthConfig,
    pub users: UsersConfig,
    pub events: EventsConfig,
    pub feeds: FeedsConfig,
    /// `VEILGRAM_RATE_LIMIT_SCALE`: multiplies every rate-limit budget; 0 turns limits off
    /// (for benchmarks and load tests).
    pub rate_limit_scale: f64,
    pub rate_limits: RateLimitsConfig,
    /// `VEILGRAM_S3_ENDPOINT`: empty keeps media on the local file system (`<data_dir>/media`);
    /// `http(s)://host:port` of an S3-compatible server stores it there.
    pub s3_endpoint: String,
    pub s3_bucket: String,
    pub s3_access_key: String,
    /// Never logged.
    pub s3_secret_key: String,
    pub s3_region: String,
    /// `VEILGRAM_SEARCH_URL`: empty for the embedded index (tantivy, `<data_dir>/search`);
    /// `http(s)://host:port` of an OpenSearch server (tested against an Elasticsearch 8 API).
    pub search_url: String,
    pub search_username: String,
    /// Never logged.
    pub search_password: String,
    /// `VEILGRAM_SEARCH_INDEX_PREFIX`: names VeilGram's alias and indexes on the server
    /// (`<prefix>-posts`, `<prefix>-posts-v<N>`).
    pub search_index_prefix: String,
    pub media: MediaConfig,
    pub push: PushConfig,
    pub moderation: ModerationConfig,
    pub log: LogConfig,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ModerationConfig {
    /// What each category of text does, `category=decision` pairs (`slur`, `profanity`,
    /// `toxicity`, `spam`; `allow`, `queue`, `warn`, `hide`, `block`) and `threshold=` the model
    /// score from which a text is toxic; unnamed ones as by default (`slur=block,
    /// profanity=warn,toxicity=warn,spam=hide,threshold=0.5`). `VEILGRAM_MODERATION__POLICY`.
    pub policy: String,
    /// A Korean model to use instead of the bundled one (the format `train-korean` writes).
    pub korean_model: Option<PathBuf>,
    /// An English model to use instead of the bundled one (the format
    /// `scripts/export-english-classifier` writes).
    pub english_model: Option<PathBuf>,
    /// The total weight of open reports that hides a post or comment pending review (a
    /// week-old account with no record weighs 1; one younger than a day, nothing).
    pub report_threshold: f64,
}

impl Default for ModerationConfig {
    fn default() -> Self {
        Self {
            policy: String::new(),
            korean_model: None,
            english_model: None,
            report_threshold: veilgram_moderation::ReportThreshold::default().0,
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PushConfig {
    /// Development only: accept Web Push endpoints on this network (http, loopback, private
    /// addresses). Off in production: an endpoint is a URL the server calls.
    pub allow_local_endpoints: bool,
    /// The VAPID subject push services may contact the operator at (`mailto:` or `https:`).
    pub subject: String,
    /// FCM: the service account's JSON key file (none: FCM devices get no pushes).
    pub fcm_service_account: Option<PathBuf>,
    pub fcm_endpoint: String,
    /// APNs: the `.p8` key file, its key id, the team id and the app's bundle id (topic).
    pub apns_key_file: Option<PathBuf>,
    pub apns_key_id: String,
    pub apns_team_id: String,
    pub apns_topic: String,
    pub apns_endpoint: String,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            allow_local_endpoints: false,
            subject: "mailto:operator@veilgram.invalid".into(),
            fcm_service_account: None,
            fcm_endpoint: "https://fcm.googleapis.com".into(),
            apns_key_file: None,
            apns_key_id: String::new(),
            apns_team_id: String::new(),
            apns_topic: String::new(),
            apns_endpoint: "https://api.push.apple.com".into(),
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MediaConfig {
    pub max_image_bytes: u64,
    pub max_video_bytes: u64,
    /// Bytes each user may keep stored.
    pub quota_bytes: u64,
    /// Run video jobs in this process (`veilgram worker` runs them in its own).
    pub worker: bool,
    /// How often a worker with nothing to do looks for jobs queued by other processes.
    pub worker_poll_ms: u64,
    /// How often uploads due for deletion are collected.
    pub collect_interval_seconds: u64,
    /// Longest side of transcoded video (the shorter is bounded at 720).
    pub video_max_long_side: u32,
    /// The memory images being decoded at once may take in this process, in MiB; an image
    /// whose header claims more alone is refused (422) without being decoded.
    pub decode_budget_mb: u64,
    /// With `worker = false` (a `veilgram worker` runs the jobs), images of more megapixels
    /// than this are decoded there, as a job, instead of in the process that received them.
    pub offload_image_megapixels: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            max_image_bytes: 16 * 1024 * 1024,
            max_video_bytes: 100 * 1024 * 1024,
            quota_bytes: 1024 * 1024 * 1024,
            worker: true,
            worker_poll_ms: 1000,
            collect_interval_seconds: 600,
            video_max_long_side: 1280,
            decode_budget_mb: 256,
            offload_image_megapixels: 12,
        }
    }
}

/// Rate-limit budgets as `count/seconds`, and the proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitsConfig {
    /// Addresses or networks (`10.0.0.0/8`, `2001:db8::/32`) of trusted reverse proxies.
    #[serde(deserialize_with = "list_or_comma_string")]
    pub trusted_proxies: Vec<String>,
    pub signup: String,
    pub login: String,
    pub refresh: String,
    pub posting: String,
    pub commenting: String,
    pub liking: String,
    pub following: String,
    pub links: String,
    pub uploads: String,
    pub writes: String,
    pub reads: String,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        let text = |budget: Budget| {
            let limit = budget.default_limit();
            format!("{}/{}", limit.count, limit.seconds)
        };
        Self {
            trusted_proxies: Vec::new(),
            signup: text(Budget::Signup),
            login: text(Budget::Login),
            refresh: text(Budget::Refresh),
            posting: text(Budget::Posting),
            commenting: text(Budget::Commenting),
            liking: text(Budget::Liking),
            following: text(Budget::Following),
            links: text(Budget::Links),
            uploads: text(Budget::Uploads),
            writes: text(Budget::Writes),
            reads: text(Budget::Reads),
        }
    }
}

impl RateLimitsConfig {
    fn text(&self, budget: Budget) -> &str {
        match budget {
            Budget::Signup => &self.signup,
            Budget::Login => &self.login,
            Budget::Refresh => &self.refresh,
            Budget::Posting => &self.posting,
            Budget::Commenting => &self.commenting,
            Budget::Liking => &self.liking,
            Budget::Following => &self.following,
            Budget::Links => &self.links,
            Budget::Uploads => &self.uploads,
            Budget::Writes => &self.writes,
            Budget::Reads => &self.reads,
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedsConfig {
    /// Entries kept per home timeline (and per hashtag and author timeline).
    pub timeline_length: usize,
    /// Authors with more followers than this are merged into readers' feeds at read time
    /// instead of being fanned out on write.
    pub fan_out_limit: i64,
    /// How often cached like, comment and vote counts that events changed are set from the
    /// relational store again (what makes them converge after a crash or a lost event).
    pub reconcile_interval_seconds: u64,
}

impl Default for FeedsConfig {
    fn default() -> Self {
        let defaults = veilgram_feeds::FeedSettings::default();
        Self {
            timeline_length: defaults.timeline_length,
            fan_out_limit: defaults.fan_out_limit,
            reconcile_interval_seconds: defaults.reconcile_interval.as_secs(),
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EventsConfig {
    /// How often the outbox is moved to the event log (0 stops the relay: events wait in the
    /// outbox, as after a crash; used by the crash test).
    pub relay_interval_ms: u64,
    /// How often in-process consumers read the log.
    pub consumer_interval_ms: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            relay_interval_ms: 100,
            consumer_interval_ms: 100,
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct UsersConfig {
    /// How long a profile may stay in this process's cache (0 disables it; at most 600 000).
    /// Changes made through any process evict it sooner, through the change feed.
    pub profile_cache_ttl_ms: u64,
    /// How often the profile change feed is read: the bound on how long a change made through
    /// another process can go unseen.
    pub cache_sync_interval_ms: u64,
}

impl Default for UsersConfig {
    fn default() -> Self {
        Self {
            profile_cache_ttl_ms: 60_000,
            cache_sync_interval_ms: 1000,
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    pub max_connections: u32,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Origins allowed to call the API from a browser; comma-separated in the environment.
    #[serde(deserialize_with = "list_or_comma_string")]
    pub cors_allowed_origins: Vec<String>,
    pub max_body_bytes: usize,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_grace_seconds: u64,
    /// A request's head must arrive within this; also how long an idle connection is kept.
    pub header_timeout_seconds: u64,
    /// The longest pause allowed between two pieces of a request body.
    pub body_timeout_seconds: u64,
    /// Connections at once (lowered to fit the file-descriptor limit), and from one address.
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    /// `/ws` sockets that have not authenticated yet, from one address.
    pub max_unauthenticated_sockets_per_address: usize,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl_seconds: u64,
    pub refresh_token_ttl_seconds: u64,
    pub session_lifetime_seconds: u64,
    pub refresh_reuse_grace_seconds: u64,
    /// A file holding the signing key ring, mounted in every process that serves the same
    /// users; by default the ring is kept in the database, where every process reads it.
    pub signing_key_file: Option<PathBuf>,
    pub revocation_sync_interval_ms: u64,
    /// Sign-up (and logins after repeated failures) must carry a solved challenge; `false` for
    /// load tests and benchmarks only.
    pub proof_of_work: bool,
    /// Leading zero bits of a quiet day's challenge (each adds as much work again).
    pub proof_of_work_bits: u8,
    /// Argon2id memory per hash of a challenge, in KiB.
    pub proof_of_work_memory_kib: u32,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// `json` (default, for log shippers) or `pretty`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `warn,veilgram::access=info`.
    pub level: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            admin_listen: String::new(),
            roles: Roles::ALL.join(","),
            data_dir: PathBuf::from("./veilgram-data"),
            database_url: String::new(),
            redis_url: String::new(),
            redis_near_cache_mb: veilgram_cache::DEFAULT_NEAR_CACHE_BYTES >> 20,
            database: DatabaseConfig::default(),
            http: HttpConfig::default(),
            auth: AuthConfig::default(),
            users: UsersConfig::default(),
            events: EventsConfig::default(),
            feeds: FeedsConfig::default(),
            rate_limit_scale: 1.0,
            rate_limits: RateLimitsConfig::default(),
            s3_endpoint: String::new(),
            s3_bucket: "veilgram".into(),
            s3_access_key: String::new(),
            s3_secret_key: String::new(),
            s3_region: "garage".into(),
            search_url: String::new(),
            search_username: String::new(),
            search_password: String::new(),
            search_index_prefix: "veilgram".into(),
            media: MediaConfig::default(),
            push: PushConfig::default(),
            moderation: ModerationConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            cors_allowed_origins: Vec::new(),
            max_body_bytes: 64 * 1024,
            shutdown_grace_seconds: 30,
            header_timeout_seconds: 10,
            body_timeout_seconds: 15,
            max_connections: 16_384,
            max_connections_per_address: 256,
            max_unauthenticated_sockets_per_address: 16,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "veilgram".into(),
            audience: "veilgram-api".into(),
            access_token_ttl_seconds: 15 * 60,
            refresh_token_ttl_seconds: 30 * 24 * 3600,
            session_lifetime_seconds: 90 * 24 * 3600,
            refresh_reuse_grace_seconds: 5,
            signing_key_file: None,
            revocation_sync_interval_ms: 1000,
            proof_of_work: true,
            proof_of_work_bits: veilgram_auth::proof::ProofSettings::default().base_bits,
            proof_of_work_memory_kib: veilgram_auth::proof::ProofSettings::default().memory_kib,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "json".into(),
            level: "info".into(),
        }
    }
}

/// The database URL never appears in full: it may hold a password.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("admin_listen", &self.admin_listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url().map_err(|_| "<invalid>"),
            )
            .field(
                "cache",
                &self
                    .cache_url()
                    .map(|url| url.adapter())
                    .unwrap_or("<invalid>"),
            )
            .field("s3_endpoint", &self.s3_endpoint)
            .field("search_url", &self.search_url)
            .finish_non_exhaustive()
    }
}

fn list_or_comma_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<String>),
        String(String),
    }
    Ok(match ListOrString::deserialize(deserializer)? {
        ListOrString::List(list) => list,
        ListOrString::String(text) => text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// Where a configuration value came from, for error messages.
pub struct Loaded {
    pub config: Config,
    /// Environment variables with the prefix that matched no setting.
    pub ignored_environment: Vec<String>,
}

impl Config {
    /// Loads defaults, then `file`, then the environment.
    pub fn load(
        file: Option<&Path>,
        environment: impl Iterator<Item = (String, String)>,
    ) -> anyhow::Result<Loaded> {
        let defaults = toml::Table::try_from(Config::default()).context("default configuration")?;
        let mut merged = defaults.clone();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            let table: toml::Table = toml::from_str(&text)
                .with_context(|| format!("config file {} is not valid TOML", path.display()))?;
            if let Some(unknown) = first_unknown_key(&table, &defaults, "") {
                bail!(
                    "config file {}: unknown setting {unknown:?}",
                    path.display()
                );
            }
            merge(&mut merged, table);
        }
        let mut ignored_environment = Vec::new();
        for (name, value) in environment {
            let Some(rest) = name.strip_prefix("VEILGRAM_") else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
            if !is_known_path(&defaults, &path) {
                ignored_environment.push(name);
                continue;
            }
            set_path(&mut merged, &path, environment_value(&value));
        }
        let config: Config = toml::Value::Table(merged)
            .try_into()
            .context("invalid configuration")?;
        config.validate()?;
        Ok(Loaded {
            config,
            ignored_environment,
        })
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.moderation_policy()?;
        if !(self.moderation.report_threshold.is_finite() && self.moderation.report_threshold > 0.0)
        {
            bail!("moderation.report_threshold must be a positive number");
        }
        self.database_url()?;
        self.cache_url()?;
        self.listen
            .parse::<std::net::SocketAddr>()
            .with_context(|| {
                format!("VEILGRAM_LISTEN {:?} is not a socket address", self.listen)
            })?;
        self.roles()?;
        if !self.admin_listen.is_empty() {
            self.admin_listen
                .parse::<std::net::SocketAddr>()
                .with_context(|| {
                    format!(
                        "VEILGRAM_ADMIN_LISTEN {:?} is not a socket address",
                        self.admin_listen
                    )
                })?;
        }
        let http = &self.http;
        if http.header_timeout_seconds == 0
            || http.body_timeout_seconds == 0
            || http.max_connections == 0
            || http.max_connections_per_address == 0
            || http.max_unauthenticated_sockets_per_address == 0
        {
            bail!("http timeouts and connection caps must be positive");
        }
        if self.auth.access_token_ttl_seconds == 0 || self.auth.access_token_ttl_seconds > 24 * 3600
        {
            bail!("auth.access_token_ttl_seconds must be between 1 and 86400");
        }
        if self.auth.proof_of_work_bits > 20
            || !(256..=65_536).contains(&self.auth.proof_of_work_memory_kib)
        {
            bail!(
                "auth.proof_of_work_bits must be at most 20, and auth.proof_of_work_memory_kib \
                 between 256 and 65536"
            );
        }
        self.rate_limit_settings()?;
        if !(1..=10_000).contains(&self.feeds.timeline_length) {
            bail!("feeds.timeline_length must be between 1 and 10000");
        }
        let http = ["http://", "https://"];
        if !self.s3_endpoint.is_empty()
            && !http
                .iter()
                .any(|scheme| self.s3_endpoint.starts_with(scheme))
        {
            bail!("VEILGRAM_S3_ENDPOINT must be an http:// or https:// URL");
        }
        if self.media.max_image_bytes == 0 || self.media.max_video_bytes == 0 {
            bail!("media.max_image_bytes and media.max_video_bytes must be positive");
        }
        if self.http.max_body_bytes == 0 {
            bail!("http.max_body_bytes must be positive");
        }
        Ok(())
    }

    /// The database to use: the URL if given (refusing unknown schemes), else SQLite in the
    /// data dir.
    pub fn database_url(&self) -> anyhow::Result<DatabaseUrl> {
        if self.database_url.trim().is_empty() {
            return Ok(DatabaseUrl::sqlite_file(&self.data_dir.join("veilgram.db")));
        }
        DatabaseUrl::parse(self.database_url.trim())
            .map_err(|error| anyhow::anyhow!("VEILGRAM_DATABASE_URL: {error}"))
    }

    /// The cache to use: in memory unless `redis_url` names Redis or a Redis Cluster.
    pub fn cache_url(&self) -> anyhow::Result<CacheUrl> {
        CacheUrl::parse(Some(&self.redis_url))
            .map_err(|error| anyhow::anyhow!("VEILGRAM_REDIS_URL: {}", error.0))
    }

    /// The near cache's bound in bytes (`redis_near_cache_mb`).
    pub fn near_cache_bytes(&self) -> usize {
        self.redis_near_cache_mb.saturating_mul(1 << 20)
    }

    pub fn rate_limit_settings(&self) -> anyhow::Result<RateLimitSettings> {
        if !(self.rate_limit_scale.is_finite() && self.rate_limit_scale >= 0.0) {
            bail!("VEILGRAM_RATE_LIMIT_SCALE must be a number, 0 or more");
        }
        let mut limits = Vec::new();
        for budget in Budget::ALL {
            let text = self.rate_limits.text(budget);
            let limit = Limit::parse(text).with_context(|| {
                format!(
                    "rate_limits.{} {text:?} is not count/seconds",
                    budget.name()
                )
            })?;
            limits.push((budget, limit));
        }
        let mut trusted_proxies = Vec::new();
        for text in &self.rate_limits.trusted_proxies {
            trusted_proxies.push(Network::parse(text).with_context(|| {
                format!("rate_limits.trusted_proxies: {text:?} is not an address or network")
            })?);
        }
        Ok(RateLimitSettings {
            scale: self.rate_limit_scale,
            limits,
            trusted_proxies,
        })
    }

    /// The roles this process runs.
    pub fn roles(&self) -> anyhow::Result<Roles> {
        Roles::parse(&self.roles)
    }

    /// What the HTTP listener holds slow and greedy clients to.
    pub fn server_limits(&self) -> anyhow::Result<veilgram_gateway::server::ServerLimits> {
        Ok(veilgram_gateway::server::ServerLimits {
            header_timeout: std::time::Duration::from_secs(self.http.header_timeout_seconds),
            body_timeout: std::time::Duration::from_secs(self.http.body_timeout_seconds),
            max_connections: self.http.max_connections,
            max_connections_per_address: self.http.max_connections_per_address,
            trusted_proxies: self.rate_limit_settings()?.trusted_proxies,
        })
    }

    /// What `moderation.policy` spells.
    fn moderation_policy(&self) -> anyhow::Result<veilgram_classify::Policy> {
        veilgram_classify::Policy::parse(&self.moderation.policy)
            .map_err(|error| anyhow::anyhow!("moderation.policy: {error}"))
    }

    /// The text classifier: the bundled keyword lists, the configured (or bundled) models, and
    /// the configured policy.
    pub fn text_classifier(&self) -> anyhow::Result<veilgram_classify::TextClassifier> {
        use veilgram_classify::{english::EnglishModel, korean::LinearModel};
        let moderation = &self.moderation;
        let policy = self.moderation_policy()?;
        let read = |path: &std::path::Path| {
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the model {}", path.display()))
        };
        let korean = (moderation.korean_model.as_deref())
            .map(|path| anyhow::Ok(LinearModel::parse(&read(path)?)?))
            .transpose()?;
        let english = (moderation.english_model.as_deref())
            .map(|path| anyhow::Ok(EnglishModel::parse(&read(path)?)?))
            .transpose()?;
        Ok(veilgram_classify::TextClassifier::new(
            veilgram_classify::KeywordRules::bundled(),
            korean,
            english,
            policy,
        ))
    }

    /// The OpenSearch server to search on, if one is configured.
    pub fn opensearch(&self) -> Option<veilgram_search::OpenSearchSettings> {
        let given = |text: &str| (!text.is_empty()).then(|| text.to_owned());
        given(&self.search_url).map(|url| veilgram_search::OpenSearchSettings {
            url,
            username: given(&self.search_username),
            password: given(&self.search_password),
            prefix: self.search_index_prefix.clone(),
        })
    }

    /// Where media is stored.
    pub fn storage_config(&self) -> veilgram_media::StorageConfig {
        if self.s3_endpoint.is_empty() {
            veilgram_media::StorageConfig::Local(self.data_dir.join("media"))
        } else {
            veilgram_media::StorageConfig::S3 {
                endpoint: self.s3_endpoint.clone(),
                bucket: self.s3_bucket.clone(),
                access_key: self.s3_access_key.clone(),
                secret_key: self.s3_secret_key.clone(),
                region: self.s3_region.clone(),
            }
        }
    }

    /// The media settings of a process that runs the jobs itself (`runs_jobs`) or leaves
    /// them, and large images, to a worker.
    pub fn media_settings(&self, runs_jobs: bool) -> veilgram_media::MediaSettings {
        let mut settings = veilgram_media::MediaSettings::new(self.data_dir.join("uploads"));
        settings.max_image_bytes = self.media.max_image_bytes;
        settings.max_video_bytes = self.media.max_video_bytes;
        settings.quota_bytes = self.media.quota_bytes;
        settings.video.max_long_side = self.media.video_max_long_side.max(2);
        settings.decode_budget_bytes = self.media.decode_budget_mb.max(1) << 20;
        settings.offload_pixels =
            (!runs_jobs).then_some(self.media.offload_image_megapixels * 1_000_000);
        settings
    }

    pub fn feed_settings(&self) -> veilgram_feeds::FeedSettings {
        veilgram_feeds::FeedSettings {
            timeline_length: self.feeds.timeline_length,
            fan_out_limit: self.feeds.fan_out_limit,
            reconcile_interval: Duration::from_secs(self.feeds.reconcile_interval_seconds.max(1)),
            ..veilgram_feeds::FeedSettings::default()
        }
    }

    /// Where keys were kept before they moved to the store: imported from there on first start.
    pub fn legacy_signing_key_file(&self) -> PathBuf {
        self.data_dir.join("signing-keys.json")
    }

    pub fn proof_settings(&self) -> veilgram_auth::proof::ProofSettings {
        veilgram_auth::proof::ProofSettings {
            enabled: self.auth.proof_of_work,
            base_bits: self.auth.proof_of_work_bits,
            memory_kib: self.auth.proof_of_work_memory_kib,
            ..veilgram_auth::proof::ProofSettings::default()
        }
    }

    pub fn auth_settings(&self) -> veilgram_auth::AuthSettings {
        veilgram_auth::AuthSettings {
            issuer: self.auth.issuer.clone(),
            audience: self.auth.audience.clone(),
            access_ttl: Duration::from_secs(self.auth.access_token_ttl_seconds),
            refresh_ttl: Duration::from_secs(self.auth.refresh_token_ttl_seconds),
            session_lifetime: Duration::from_secs(self.auth.session_lifetime_seconds),
            refresh_reuse_grace: Duration::from_secs(self.auth.refresh_reuse_grace_seconds),
            key_file: self.auth.signing_key_file.clone(),
            revocation_sync_interval: Duration::from_millis(
                self.auth.revocation_sync_interval_ms.max(10),
            ),
        }
    }
}

/// An environment value: a number or boolean when it reads as one, otherwise the text itself.
fn environment_value(raw: &str) -> toml::Value {
    if let Ok(integer) = raw.parse::<i64>() {
        return toml::Value::Integer(integer);
    }
    if raw.contains('.') {
        if let Ok(float) = raw.parse::<f64>() {
            return toml::Value::Float(float);
        }
    }
    match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(raw.to_owned()),
    }
}

fn first_unknown_key(table: &toml::Table, known: &toml::Table, prefix: &str) -> Option<String> {
    for (key, value) in table {
        let path = format!("{prefix}{key}");
        match (known.get(key), value) {
            (None, _) if !is_optional_key(&path) => return Some(path),
            (Some(toml::Value::Table(known_child)), toml::Value::Table(child)) => {
                if let Some(unknown) = first_unknown_key(child, known_child, &format!("{path}.")) {
                    return Some(unknown);
                }
            }
            _ => {}
        }
    }
    None
}

/// Settings whose default is `None` are absent from the serialised defaults.
fn is_optional_key(path: &str) -> bool {
    matches!(path, "auth.signing_key_file")
}

fn is_known_path(known: &toml::Table, path: &[String]) -> bool {
    match path {
        [] => false,
        [last] => known.contains_key(last) || is_optional_key(&path.join(".")),
        [first, rest @ ..] => match known.get(first) {
            Some(toml::Value::Table(child)) => {
                is_known_path(child, rest) || is_optional_key(&path.join("."))
            }
            _ => false,
        },
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) {
    match path {
        [] => {}
        [last] => {
            table.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let child = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(child) = child {
                set_path(child, rest, value);
            }
        }
    }
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(existing)), toml::Value::Table(incoming)) => {
                merge(existing, incoming)
            }
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// What one process runs; any subset may run in any number of processes sharing the database
/// and the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roles {
    /// The API and the web app.
    pub api: bool,
    /// `/ws` and the delivery of live events to its sockets.
    pub realtime: bool,
    /// The outbox relay and the event consumers (feed fan-out, notifications, live events),
    /// each a group whose events one process handles at a time.
    pub consumers: bool,
    /// Media and push jobs.
    pub jobs: bool,
    /// Counter reconciliation, closing polls, media collection: one process at a time.
    pub periodic: bool,
}

impl Roles {
    pub const ALL: [&'static str; 5] = ["api", "realtime", "consumers", "jobs", "periodic"];

    const NONE: Self = Self {
        api: false,
        realtime: false,
        consumers: false,
        jobs: false,
        periodic: false,
    };

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut roles = Self::NONE;
        for role in text
            .split(',')
            .map(str::trim)
            .filter(|role| !role.is_empty())
        {
            match role {
                "api" => roles.api = true,
                "realtime" => roles.realtime = true,
                "consumers" => roles.consumers = true,
                "jobs" => roles.jobs = true,
                "periodic" => roles.periodic = true,
                other => bail!("unknown role {other:?}: roles are {}", Self::ALL.join(", ")),
            }
        }
        anyhow::ensure!(
            roles != Self::NONE,
            "no role given: roles are {}",
            Self::ALL.join(", ")
        );
        Ok(roles)
    }

    /// Whether this process serves HTTP beyond its admin listener.
    pub const fn http(self) -> bool {
        self.api || self.realtime
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_give_the_embedded_setup() {
        let config = Config::load(None, std::iter::empty()).unwrap().config;
        assert_eq!(config.listen, "127.0.0.1:8080");
        assert_eq!(config.data_dir, PathBuf::from("./veilgram-data"));
        let url = config.database_url().unwrap();
        assert_eq!(url.engine(), veilgram_sql::Engine::Sqlite);
        assert!(url.as_str().contains("veilgram-data/veilgram.db"));
    }

    #[test]
    fn environment_overrides_the_file_which_overrides_defaults() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("veilgram.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\n[http]\nmax_body_bytes = 1000\n",
        )
        .unwrap();
        let loaded = Config::load(
            Some(&file),
            env(&[
                ("VEILGRAM_HTTP__MAX_BODY_BYTES", "2000"),
                (
                    "VEILGRAM_HTTP__CORS_ALLOWED_ORIGINS",
                    "https://a.example, https://b.example",
                ),
                ("VEILGRAM_SOMETHING_ELSE", "x"),
                ("PATH", "/bin"),
            ])
            .into_iter(),
        )
        .unwrap();
        assert_eq!(loaded.config.listen, "127.0.0.1:9000");
        assert_eq!(loaded.config.http.max_body_bytes, 2000);
        assert_eq!(
            loaded.config.http.cors_allowed_origins,
            vec!["https://a.example", "https://b.example"]
        );
        assert_eq!(loaded.ignored_environment, vec!["VEILGRAM_SOMETHING_ELSE"]);
    }

    #[test]
    fn unknown_database_schemes_and_file_keys_are_refused() {
        let error = Config::load(
            None,
            env(&[("VEILGRAM_DATABASE_URL", "mysql://h/db")]).into_iter(),
        )
        .err()
        .unwrap();
        assert!(
            format!("{error:#}").contains("unsupported database URL scheme"),
            "{error:#}"
        );

        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("veilgram.toml");
        std::fs::write(&file, "[http]\nmax_body_byte = 1\n").unwrap();
        let error = Config::load(Some(&file), std::iter::empty()).err().unwrap();
        assert!(
            format!("{error:#}").contains("http.max_body_byte"),
            "{error:#}"
        );
    }

    #[test]
    fn the_cache_url_picks_the_adapter_and_bad_ones_are_refused() {
        let load = |url: &str| Config::load(None, env(&[("VEILGRAM_REDIS_URL", url)]).into_iter());
        assert_eq!(
            load("").unwrap().config.cache_url().unwrap(),
            CacheUrl::Memory
        );
        assert_eq!(
            load("redis-cluster://10.1.1.1:7000,10.1.1.2:7000")
                .unwrap()
                .config
                .cache_url()
                .unwrap()
                .adapter(),
            "redis-cluster"
        );
        let error = load("memcached://x").err().unwrap();
        assert!(
            format!("{error:#}").contains("VEILGRAM_REDIS_URL"),
            "{error:#}"
        );
        let config = load("redis://:hunter2@10.1.1.1:6379").unwrap().config;
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn rate_limits_are_configured_by_budget_and_checked() {
        let loaded = Config::load(
            None,
            env(&[
                ("VEILGRAM_RATE_LIMIT_SCALE", "0.5"),
                ("VEILGRAM_RATE_LIMITS__POSTING", "3/60"),
                ("VEILGRAM_RATE_LIMITS__TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
            ])
            .into_iter(),
        )
        .unwrap();
        assert!(loaded.ignored_environment.is_empty());
        let settings = loaded.config.rate_limit_settings().unwrap();
        assert_eq!(settings.scale, 0.5);
        assert!(settings.limits.contains(&(
            Budget::Posting,
            Limit {
                count: 3,
                seconds: 60
            }
        )));
        assert!(settings
            .limits
            .contains(&(Budget::Signup, Budget::Signup.default_limit())));
        assert_eq!(settings.trusted_proxies.len(), 2);
        for (name, value) in [
            ("VEILGRAM_RATE_LIMITS__LOGIN", "lots"),
            ("VEILGRAM_RATE_LIMITS__TRUSTED_PROXIES", "proxy.example"),
            ("VEILGRAM_RATE_LIMIT_SCALE", "-1"),
        ] {
            let error = Config::load(None, env(&[(name, value)]).into_iter())
                .err()
                .unwrap_or_else(|| panic!("{name}={value} accepted"));
            assert!(!format!("{error:#}").is_empty());
        }
    }

    #[test]
    fn debug_output_hides_database_passwords() {
        let config = Config::load(
            None,
            env(&[("VEILGRAM_DATABASE_URL", "postgres://u:hunter2@h/db")]).into_iter(),
        )
        .unwrap()
        .config;
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
