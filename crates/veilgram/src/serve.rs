//! Wiring: adapters from configuration → services → gateway; serving with graceful shutdown.

use crate::config::{Config, LogConfig};
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use tracing_subscriber::EnvFilter;
use veilgram_app::{App, AppSettings};
use veilgram_auth::AuthService;
use veilgram_cache::CacheUrl;
use veilgram_core::jobs::JobQueue;
use veilgram_core::ports::{
    CredentialStore, EventLog, EventPublisher, FeedStore, HealthCheck, Leases, ModerationStore,
    NotificationStore, OutboxSource, PollStore, PushDeviceStore, SearchIndex, SearchSource,
    ServerSecrets,
};
use veilgram_events::{EventCounter, EventHandler, Runner};
use veilgram_feeds::FeedFanout;
use veilgram_gateway::{AppState, GatewayConfig, Metrics, MetricsSource, RateLimiter, Services};
use veilgram_media::MediaService;
use veilgram_moderation::ModerationService;
use veilgram_notifications::providers::{pem_to_der, Apns, ApnsSettings, Fcm, FcmSettings};
use veilgram_notifications::webpush::VapidKey;
use veilgram_notifications::{NotificationMaker, PushQueue, PushWorker};
use veilgram_realtime::{Hub, Relay};
use veilgram_sql::{PoolSettings, SqlStore};

pub fn init_logging(log: &LogConfig) {
    let filter = EnvFilter::try_new(&log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if log.format == "pretty" {
        builder.init();
    } else {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    }
}

async fn open_store(config: &Config) -> anyhow::Result<SqlStore> {
    let url = config.database_url()?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let settings = PoolSettings {
        max_connections: config.database.max_connections.max(1),
        ..PoolSettings::default()
    };
    let store = SqlStore::connect(&url, &settings).await?;
    let applied = store.migrate().await?;
    if !applied.is_empty() {
        tracing::info!(
            engine = store.engine().name(),
            ?applied,
            "applied migrations"
        );
    }
    Ok(store)
}

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    println!(
        "database ({}) is at migration {}",
        store.engine().name(),
        SqlStore::latest_migration()
    );
    store.close().await;
    Ok(())
}

/// Makes an account a moderator (`grant`) or a member again (`revoke`).
pub async fn set_moderator(config: &Config, user_id: &str, moderator: bool) -> anyhow::Result<()> {
    let user_id: veilgram_core::UserId = user_id
        .parse()
        .map_err(|_| anyhow::anyhow!("{user_id:?} is not a user id"))?;
    let store = Arc::new(open_store(config).await?);
    let service = ModerationService::new(Arc::clone(&store) as Arc<dyn ModerationStore>);
    let found = service.set_moderator(user_id, moderator).await;
    store.close().await;
    let found = found?;
    anyhow::ensure!(found, "no account {user_id}");
    let role = if moderator { "a moderator" } else { "a member" };
    println!("{user_id} is now {role}");
    Ok(())
}

/// Blocks `(network, duration, reason)`, or lifts the block `lift`.
pub async fn block_address(
    config: &Config,
    block: Option<(&str, &str, &str)>,
    lift: Option<&str>,
) -> anyhow::Result<()> {
    use veilgram_gateway::blocks::{parse_duration, AddressBlocks};
    let store = Arc::new(open_store(config).await?);
    // The limiter only lends its day keys here; they live in the store, not the cache.
    let limiter = Arc::new(RateLimiter::new(
        Arc::new(veilgram_cache::MemoryCache::default()),
        Arc::clone(&store) as Arc<dyn ServerSecrets>,
        config.rate_limit_settings()?,
    ));
    let blocks = AddressBlocks::new(
        Arc::clone(&store) as Arc<dyn veilgram_core::ports::AddressBlockStore>,
        limiter,
    );
    let outcome = match (block, lift) {
        (Some((network, lasting, reason)), _) => match parse_duration(lasting) {
            None => Err(anyhow::anyhow!(
                "--for {lasting:?}: a number of seconds, or with s, m, h or d"
            )),
            Some(lasting) => blocks
                .block(
                    network,
                    lasting,
                    veilgram_core::ports::AddressBlockKind::Manual,
                    reason,
                    veilgram_core::Timestamp::now(),
                )
                .await
                .map(|block| {
                    println!(
                        "blocked {} /{} until {} (block {}); only keyed hashes are stored",
                        block.family,
                        block.prefix,
                        block.until.to_rfc3339(),
                        block.id
                    );
                })
                .map_err(|error| anyhow::anyhow!("{network:?}: {}", error.message)),
        },
        (None, Some(id)) => match id.parse() {
            Err(_) => Err(anyhow::anyhow!("{id:?} is not a block id")),
            Ok(id) => match blocks.lift(id).await {
                Ok(true) => {
                    println!("lifted block {id}");
                    Ok(())
                }
                Ok(false) => Err(anyhow::anyhow!("no block {id}")),
                Err(error) => Err(anyhow::anyhow!("{}", error.message)),
            },
        },
        (None, None) => Ok(()),
    };
    store.close().await;
    outcome
}

pub async fn rotate_signing_key(config: &Config) -> anyhow::Result<()> {
    let store = Arc::new(open_store(config).await?);
    let auth = open_auth(config, &store).await?;
    let rotated = auth.rotate_signing_key().await;
    store.close().await;
    let kid = rotated?;
    println!("signing with new key {kid}; the previous key verifies until its tokens expire");
    Ok(())
}

/// The search index: OpenSearch if configured, else embedded in the data directory (the
/// process running the consumers writes it, every process reads it); and whether it is an
/// embedded index just made (to be filled from the database).
fn open_search(config: &Config) -> anyhow::Result<(Arc<dyn SearchIndex>, bool)> {
    Ok(match config.opensearch() {
        // Reached on first use: with OpenSearch down, search answers 503 and the indexer
        // retries, and nothing else waits for it.
        Some(settings) => (
            Arc::new(
                veilgram_search::OpenSearchIndex::new(&settings)
                    .map_err(|error| anyhow::anyhow!("VEILGRAM_SEARCH_URL: {error}"))?,
            ),
            false,
        ),
        None => {
            let index = veilgram_search::TantivySearch::open(&config.data_dir.join("search"))
                .context("cannot open the search index")?;
            let created = index.created();
            (Arc::new(index), created)
        }
    })
}

/// Fills a just-made embedded index from the database in the background (a new schema after
/// an upgrade starts empty), as `veilgram reindex` would; the indexer waits for it.
fn spawn_first_fill(search: Arc<dyn SearchIndex>, source: Arc<dyn SearchSource>) {
    tokio::spawn(async move {
        match veilgram_search::indexer::rebuild(search.as_ref(), source.as_ref()).await {
            Ok(rebuilt) => tracing::info!(
                posts = rebuilt.posts,
                accounts = rebuilt.users,
                "filled the new search index from the database"
            ),
            Err(error) => tracing::error!(
                error = %format!("{error:#}"),
                "cannot fill the new search index; run `veilgram reindex`"
            ),
        }
    });
}

/// `veilgram reindex`: rebuilds the search index from the relational store while the current
/// one keeps serving, switches to it, then writes again what the indexer wrote meanwhile.
/// `veilgram moderation classify`: one text per line of standard input, one verdict (JSON) per
/// line of standard output, under the configured policy and models. A line that is not UTF-8
/// is read with its bad bytes replaced, never refused.
pub fn classify(config: &Config) -> anyhow::Result<()> {
    use std::io::{BufRead, Write};
    let classifier = config.text_classifier()?;
    let stdin = std::io::stdin().lock();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.split(b'\n') {
        let line = line?;
        let text = String::from_utf8_lossy(&line);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        serde_json::to_writer(&mut out, &classifier.classify(text))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

pub async fn reindex(config: &Config) -> anyhow::Result<()> {
    let store = Arc::new(open_store(config).await?);
    let (search, _) = open_search(config)?;
    let log = Arc::clone(&store) as Arc<dyn EventLog>;
    let since = veilgram_search::indexer::positions(log.as_ref()).await?;
    let source = Arc::clone(&store) as Arc<dyn SearchSource>;
    let rebuilt = veilgram_search::indexer::rebuild(search.as_ref(), source.as_ref()).await?;
    let indexer = veilgram_search::Indexer::new(Arc::clone(&search), source);
    let caught_up = veilgram_search::indexer::catch_up(&indexer, log.as_ref(), &since).await?;
    store.close().await;
    println!(
        "search index rebuilt: {} posts, {} accounts; {caught_up} events since written again",
        rebuilt.posts, rebuilt.users
    );
    Ok(())
}

/// The auth service on the configured signing keys (the store's ring by default).
async fn open_auth(config: &Config, store: &Arc<SqlStore>) -> anyhow::Result<AuthService> {
    AuthService::open(
        Arc::clone(store) as Arc<dyn CredentialStore>,
        Arc::clone(store) as Arc<dyn ServerSecrets>,
        config.auth_settings(),
        Some(&config.legacy_signing_key_file()),
    )
    .await
}

/// The push platforms this deployment delivers to: Web Push always, FCM and APNs when
/// configured.
fn push_platforms(config: &Config) -> Vec<&'static str> {
    let mut platforms = vec!["webpush"];
    if config.push.fcm_service_account.is_some() {
        platforms.push("fcm");
    }
    if config.push.apns_key_file.is_some() {
        platforms.push("apns");
    }
    platforms
}

/// Deletes uploads due for discarding every `media.collect_interval_seconds`.
fn spawn_collector(
    runner: &Runner,
    config: &Config,
    media: &Arc<MediaService>,
) -> tokio::task::JoinHandle<()> {
    let media = Arc::clone(media);
    runner.every(
        Duration::from_secs(config.media.collect_interval_seconds.max(1)),
        "media collection",
        move || {
            let media = Arc::clone(&media);
            async move {
                media
                    .collect(veilgram_core::Timestamp::now())
                    .await
                    .map(|_| ())
            }
        },
    )
}

/// `veilgram worker`: the `jobs` role alone (media and push jobs), without serving HTTP
/// unless an admin listener is configured.
pub async fn worker(mut config: Config) -> anyhow::Result<()> {
    config.roles = "jobs".into();
    config.media.worker = true;
    run(config).await
}

/// `veilgram serve`: the configured roles (all by default).
pub async fn serve(config: Config) -> anyhow::Result<()> {
    if !config.roles()?.http() && config.admin_listen.is_empty() {
        anyhow::bail!(
            "a process without the api or realtime role serves no HTTP: set \
             VEILGRAM_ADMIN_LISTEN so that its /healthz, /readyz and /metrics can be reached"
        );
    }
    run(config).await
}

/// Builds every service and runs this process's roles until SIGTERM, then drains them: the
/// HTTP servers finish in-flight requests, consumers and workers finish what they hold and
/// give their leases up.
async fn run(config: Config) -> anyhow::Result<()> {
    let roles = config.roles()?;
    tracing::info!(?roles, "veilgram starting");
    let store = Arc::new(open_store(&config).await?);
    let (stop_sender, stop) = tokio::sync::watch::channel(false);
    let runner = Runner::new(Arc::clone(&store) as Arc<dyn Leases>, stop.clone());
    // Tasks that finish on `stop` (awaited on shutdown), and tasks that are simply aborted.
    let mut draining: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    let cache_url = config.cache_url()?;
    let cache = veilgram_cache::connect(&cache_url, "", config.near_cache_bytes())
        .await
        .map_err(|error| {
            anyhow::anyhow!(
                "cannot reach the {} cache: {}",
                cache_url.adapter(),
                error.0
            )
        })?;
    tracing::info!(adapter = cache.name(), "cache ready");
    let mut auth = open_auth(&config, &store).await?;
    if cache_url != CacheUrl::Memory {
        // Shared with other processes: revocations go through it. An in-process cache would
        // only repeat this process's own mirror.
        auth = auth.with_cache(Arc::clone(&cache));
    }
    let auth = Arc::new(auth);
    auth.sync_revocations()
        .await
        .context("cannot load the revocation list")?;
    let maintenance = auth.spawn_maintenance();
    let runs_jobs = roles.jobs && config.media.worker;
    let storage = config.storage_config();
    if matches!(storage, veilgram_media::StorageConfig::Local(_))
        && store.engine() == veilgram_sql::Engine::Postgres
    {
        // A shared database means several processes, maybe on several hosts: only those that
        // mount the same media directory see each other's files.
        tracing::warn!(
            "media is stored in this process's data directory while the database is shared: \
             every process must mount the same directory, or set VEILGRAM_S3_ENDPOINT"
        );
    }
    let app = Arc::new(
        App::build(
            Arc::clone(&store),
            Arc::clone(&cache),
            auth,
            AppSettings {
                profile_cache_ttl: Duration::from_millis(config.users.profile_cache_ttl_ms),
                feeds: config.feed_settings(),
                cursor_key: None,
                storage,
                media: config.media_settings(runs_jobs),
                allow_local_push: config.push.allow_local_endpoints,
                proof_of_work: config.proof_settings(),
                classifier: Arc::new(config.text_classifier()?),
            },
        )
        .await?,
    );
    let (users, feeds, media) = (
        Arc::clone(&app.users),
        Arc::clone(&app.feeds),
        Arc::clone(&app.media),
    );
    tracing::info!(storage = media.storage().name(), "media storage ready");
    let mut background = Vec::new();
    if roles.consumers && config.events.relay_interval_ms > 0 {
        draining.push(runner.relay(
            Arc::clone(&store) as Arc<dyn OutboxSource>,
            Arc::clone(&store) as Arc<dyn EventPublisher>,
            Duration::from_millis(config.events.relay_interval_ms),
            Some(store.event_wakeups()),
        ));
    }
    if roles.periodic {
        let feeds = Arc::clone(&feeds);
        draining.push(runner.every(
            config.feed_settings().reconcile_interval,
            "counter reconciliation",
            move || {
                let feeds = Arc::clone(&feeds);
                async move { feeds.reconcile_counters().await.map(|_| ()) }
            },
        ));
    }
    let consumer_interval = Duration::from_millis(config.events.consumer_interval_ms.max(10));
    let fanout = Arc::new(FeedFanout::new(Arc::clone(&feeds)));
    let fanout_stats = fanout.stats();
    // Every process counts the events it sees from where the groups stood at its start.
    let event_counter = Arc::new(EventCounter::default());
    draining.push(
        runner
            .tap(
                Arc::clone(&store) as Arc<dyn EventLog>,
                Arc::clone(&event_counter) as Arc<dyn EventHandler>,
                &["feeds", "notifications", "realtime"],
                consumer_interval,
                Some(store.event_wakeups()),
            )
            .await
            .context("cannot read the consumers' offsets")?,
    );
    users
        .sync_profile_cache()
        .await
        .context("cannot read the profile change feed")?;
    let cache_maintenance = users.spawn_cache_maintenance(Duration::from_millis(
        config.users.cache_sync_interval_ms.max(10),
    ));
    let pubsub = veilgram_cache::connect_pubsub(&cache_url)
        .await
        .map_err(|error| {
            anyhow::anyhow!(
                "cannot reach the {} pub/sub: {}",
                cache_url.adapter(),
                error.0
            )
        })?;
    let hub = Arc::new(Hub::default());
    if roles.realtime {
        background.push(
            Arc::clone(&hub)
                .spawn_dispatch(pubsub.as_ref(), Arc::clone(&store) as Arc<dyn FeedStore>),
        );
    }
    let (search, search_created) = open_search(&config)?;
    if roles.consumers && search_created {
        spawn_first_fill(
            Arc::clone(&search),
            Arc::clone(&store) as Arc<dyn SearchSource>,
        );
    }
    let consumers = [
        fanout as Arc<dyn EventHandler>,
        Arc::new(
            NotificationMaker::new(
                Arc::clone(&store) as Arc<dyn NotificationStore>,
                Arc::clone(&pubsub),
            )
            .with_push(Arc::new(PushQueue::new(
                Arc::clone(&store) as Arc<dyn PushDeviceStore>,
                Arc::clone(&store) as Arc<dyn JobQueue>,
                push_platforms(&config),
            ))),
        ) as Arc<dyn EventHandler>,
        Arc::new(Relay::new(
            Arc::clone(&pubsub),
            Arc::clone(&store) as Arc<dyn FeedStore>,
            Arc::clone(&store) as Arc<dyn PollStore>,
            config.feeds.fan_out_limit,
        )),
        Arc::new(veilgram_search::Indexer::new(
            Arc::clone(&search),
            Arc::clone(&store) as Arc<dyn SearchSource>,
        )),
        Arc::new(veilgram_moderation::AutoModerator::new(
            Arc::clone(&store) as Arc<dyn veilgram_core::ports::ModerationStore>,
            Arc::clone(&app.classifier),
            veilgram_moderation::ReportThreshold(config.moderation.report_threshold),
        )),
    ];
    if roles.consumers {
        for handler in consumers {
            draining.push(runner.consumer(
                Arc::clone(&store) as Arc<dyn EventLog>,
                handler,
                consumer_interval,
                Some(store.event_wakeups()),
            ));
        }
    }
    let media_worker = Arc::new(app.media_worker(Duration::from_secs(2)));
    let job_stats = media_worker.stats();
    if runs_jobs {
        draining.push(media_worker.spawn(
            Duration::from_millis(config.media.worker_poll_ms.max(10)),
            stop.clone(),
        ));
    } else {
        // No jobs run here, but /metrics still shows the queue.
        background.push(veilgram_events::spawn_every(
            Duration::from_secs(10),
            "job queue counts",
            move || {
                let worker = Arc::clone(&media_worker);
                async move { worker.refresh_stats().await }
            },
        ));
    }
    if roles.periodic {
        draining.push(spawn_collector(&runner, &config, &media));
    }
    // Web Push: one VAPID key for every process (browsers subscribe with its public half).
    let fresh_key = VapidKey::generate_pkcs8().map_err(|error| anyhow::anyhow!("{error}"))?;
    let vapid_document = store
        .server_value("vapid-key", fresh_key)
        .await
        .context("cannot read the VAPID key")?;
    let vapid =
        VapidKey::from_pkcs8(&vapid_document).map_err(|error| anyhow::anyhow!("{error}"))?;
    let vapid_public = vapid.public_key();
    let mut push_worker = PushWorker::new(
        Arc::clone(&store) as Arc<dyn PushDeviceStore>,
        Arc::clone(&store) as Arc<dyn JobQueue>,
        vapid,
        config.push.subject.clone(),
        config.push.allow_local_endpoints,
        Duration::from_secs(5),
    )
    .context("cannot build the push client")?;
    if let Some(path) = &config.push.fcm_service_account {
        let json = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let settings = FcmSettings::from_service_account(&json, &config.push.fcm_endpoint)
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        push_worker =
            push_worker.with_fcm(Fcm::new(settings).map_err(|error| anyhow::anyhow!("{error}"))?);
    }
    if let Some(path) = &config.push.apns_key_file {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let key_pkcs8 = pem_to_der(&pem).context("the APNs key file is not PEM")?;
        let apns = Apns::new(ApnsSettings {
            key_pkcs8,
            key_id: config.push.apns_key_id.clone(),
            team_id: config.push.apns_team_id.clone(),
            topic: config.push.apns_topic.clone(),
            endpoint: config.push.apns_endpoint.clone(),
        })
        .map_err(|error| anyhow::anyhow!("{error}"))?;
        push_worker = push_worker.with_apns(apns);
    }
    let push_worker = Arc::new(push_worker);
    if roles.jobs {
        draining.push(push_worker.spawn(Duration::from_millis(500), stop.clone()));
    }
    // Closed polls are announced (and their voters notified) within 15 seconds.
    let closing = Arc::clone(&app.polls);
    if roles.periodic {
        draining.push(runner.every(
            Duration::from_secs(15),
            "announcing closed polls",
            move || {
                let closing = Arc::clone(&closing);
                async move {
                    closing
                        .announce_closed(veilgram_core::Timestamp::now())
                        .await
                        .map(|_| ())
                }
            },
        ));
    }
    let counter_for_metrics = Arc::clone(&event_counter);
    let cache_for_metrics = Arc::clone(&cache);
    let commit_stats = store.commit_stats();
    let rate_limits = Arc::new(
        RateLimiter::new(
            Arc::clone(&cache),
            Arc::clone(&store) as Arc<dyn ServerSecrets>,
            config.rate_limit_settings()?,
        )
        .with_standing(Arc::clone(&store) as Arc<dyn veilgram_core::ports::StandingStore>),
    );
    let state = AppState::new(Services {
        search: Arc::clone(&search),
        app,
        hub,
        ws_origins: Arc::new(config.http.cors_allowed_origins.clone()),
        unauthenticated_sockets: veilgram_gateway::server::AddressCounts::new(
            config.http.max_unauthenticated_sockets_per_address,
        ),
        vapid_public_key: Arc::from(vapid_public.as_str()),
        rate_limits: Arc::clone(&rate_limits),
        address_blocks: Arc::new(veilgram_gateway::blocks::AddressBlocks::new(
            Arc::clone(&store) as Arc<dyn veilgram_core::ports::AddressBlockStore>,
            rate_limits,
        )),
        metrics_sources: Arc::new([
            Arc::new(move || counter_for_metrics.render()) as MetricsSource,
            Arc::new(move || commit_stats.render()),
            Arc::new(move || fanout_stats.render()),
            Arc::new(move || job_stats.render()),
            Arc::new(move || cache_for_metrics.metrics()),
        ]),
        health_checks: Arc::new([
            Arc::clone(&store) as Arc<dyn HealthCheck>,
            Arc::new(veilgram_cache::CacheHealth(Arc::clone(&cache))),
            Arc::new(media.storage().clone()),
        ]),
        metrics: Arc::new(Metrics::default()),
    });
    let gateway = GatewayConfig {
        cors_allowed_origins: config.http.cors_allowed_origins.clone(),
        max_body_bytes: config.http.max_body_bytes,
        api: roles.api,
        realtime: roles.realtime,
    };
    let admin = veilgram_gateway::admin_router(state.clone());
    let app = veilgram_gateway::router(state, &gateway);
    let limits = config.server_limits()?;

    let (signalled_sender, signalled) = tokio::sync::watch::channel(false);
    let listener = if roles.http() {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let address = listener.local_addr()?;
        tracing::info!(%address, engine = store.engine().name(), "veilgram listening");
        // The lines on stdout: scripts and tests read the bound addresses (port 0 picks one).
        println!("veilgram listening on http://{address}");
        Some(listener)
    } else {
        None
    };
    let admin_server = if config.admin_listen.is_empty() {
        if !roles.http() {
            tracing::warn!("no HTTP role and no VEILGRAM_ADMIN_LISTEN: no health checks served");
        }
        None
    } else {
        let admin_listener = tokio::net::TcpListener::bind(&config.admin_listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.admin_listen))?;
        let admin_address = admin_listener.local_addr()?;
        tracing::info!(%admin_address, "veilgram admin listening (metrics, health)");
        println!("veilgram admin on http://{admin_address}");
        let mut stop = stop.clone();
        Some(tokio::spawn(veilgram_gateway::server::serve(
            admin_listener,
            admin,
            veilgram_gateway::server::ServerLimits::default(),
            async move {
                let _ = stop.wait_for(|fired| *fired).await;
            },
        )))
    };

    let signalled_wait = async move {
        shutdown_signal().await;
        tracing::info!("shutdown signal received; draining");
        let _ = signalled_sender.send(true);
    };
    let grace = Duration::from_secs(config.http.shutdown_grace_seconds);
    let mut signalled_for_deadline = signalled.clone();
    let deadline = async move {
        let _ = signalled_for_deadline.wait_for(|fired| *fired).await;
        tokio::time::sleep(grace).await;
    };
    tokio::pin!(deadline);
    match listener {
        Some(listener) => {
            let server = veilgram_gateway::server::serve(listener, app, limits, signalled_wait);
            tokio::select! {
                () = server => {},
                () = &mut deadline => tracing::warn!("grace period over; abandoning unfinished requests"),
            }
        }
        None => signalled_wait.await,
    }
    // The HTTP server has finished its requests: the loops finish what they hold, in the time
    // left of the grace period, and give their leases up.
    let _ = stop_sender.send(true);
    tokio::select! {
        _ = futures_util::future::join_all(draining) => tracing::info!("background work drained"),
        () = &mut deadline => tracing::warn!("grace period over; abandoning background work"),
    }
    if let Some(admin_server) = admin_server {
        admin_server.abort();
    }
    maintenance.abort();
    for task in background {
        task.abort();
    }
    cache_maintenance.abort();
    store.close().await;
    tracing::info!("veilgram stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
