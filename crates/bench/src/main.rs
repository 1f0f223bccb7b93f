//! `veilgram-bench`: starts `veilgram serve` as a child process and drives it over real HTTP/1.1
//! keep-alive connections from this process, then prints a table per database engine:
//! sign-ups per second, token-verified `GET /api/v1/users/me` per second with latency
//! percentiles, and the same server's unauthenticated `GET /healthz` per second (the ceiling).
//!
//! Maximum rates are measured closed-loop (each connection sends as soon as its last answer
//! arrives). Latency "at 80%" is measured open-loop: requests are scheduled at 80% of the maximum
//! rate and each latency counts from its scheduled send time, so queueing is not hidden.

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;
use sqlx::{Connection, Executor, PgConnection};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

mod events;
mod feeds;
mod media;
mod moderation;
mod proof;
mod realtime;
mod search;

#[derive(Parser)]
#[command(about = "Load-test veilgram over HTTP and print a table")]
pub(crate) struct Arguments {
    /// What to measure: `writes` (sign-ups, reads, posts, likes, comments on both engines),
    /// `feeds` (home-feed reads and fan-out at 10,000 users, in memory and on Redis), `media`
    /// (photo uploads against in-process processing of the same photo), `realtime` (idle
    /// WebSockets, memory per connection, broadcast latency), `events` (a consumer group with
    /// and without its lease, over one and two processes), `proof` (the proof of work's hash
    /// against SHA-256, and solve times), `search` (indexing and queries on the embedded
    /// index, in process), `moderation` (text classification rates and the Korean model's
    /// F1 on held-out comments), or `all`.
    #[arg(long, default_value = "writes")]
    suite: String,
    /// The BEEP! corpus the moderation suite measures the Korean model on (its held-out part).
    #[arg(long, default_value = "../shared/datasets/beep-ko/train.tsv")]
    beep: PathBuf,
    /// Posts the search suite indexes.
    #[arg(long, default_value_t = 1_000_000)]
    search_posts: usize,
    /// WebSocket connections the realtime suite opens.
    #[arg(long, default_value_t = 50_000)]
    sockets: usize,
    /// Seconds per measured phase.
    #[arg(long, default_value_t = 5)]
    duration: u64,
    /// Concurrent keep-alive connections. With two cores shared by this process and the server,
    /// 16 saturates the server without adding client-side queueing to the latencies.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Engines to measure: sqlite, postgres, or both (comma-separated).
    #[arg(long, default_value = "sqlite,postgres")]
    engines: String,
    /// Caches the feeds suite measures: memory, redis, or both (comma-separated).
    #[arg(long, default_value = "memory,redis")]
    caches: String,
    /// The veilgram binary; by default the one next to this executable.
    #[arg(long)]
    veilgram: Option<PathBuf>,
    /// PostgreSQL admin URL; a scratch database is created on it and dropped afterwards.
    #[arg(
        long,
        env = "VEILGRAM_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
}

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) address: String,
    /// Where `/metrics` is served.
    pub(crate) admin_address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start_server(
    binary: &PathBuf,
    data_dir: &std::path::Path,
    database_url: Option<&str>,
    environment: &[(&str, String)],
) -> anyhow::Result<Server> {
    let mut command = Command::new(binary);
    command
        .arg("serve")
        .env("VEILGRAM_LISTEN", "127.0.0.1:0")
        .env("VEILGRAM_ADMIN_LISTEN", "127.0.0.1:0")
        .env("VEILGRAM_DATA_DIR", data_dir)
        // Every simulated person comes from this one address.
        .env("VEILGRAM_HTTP__MAX_CONNECTIONS_PER_ADDRESS", "1000000")
        .env(
            "VEILGRAM_HTTP__MAX_UNAUTHENTICATED_SOCKETS_PER_ADDRESS",
            "1000000",
        )
        // Access logs at this rate would measure the terminal, not the server.
        .env("VEILGRAM_LOG__LEVEL", "warn")
        // A load generator is one client sending far more than any person.
        .env("VEILGRAM_RATE_LIMIT_SCALE", "0")
        .env("VEILGRAM_AUTH__PROOF_OF_WORK", "false")
        .env("VEILGRAM_DATABASE__MAX_CONNECTIONS", "16")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(url) = database_url {
        command.env("VEILGRAM_DATABASE_URL", url);
    }
    for (name, value) in environment {
        command.env(name, value);
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    let Some(address) = line.trim().strip_prefix("veilgram listening on http://") else {
        bail!("veilgram did not start: {line:?}");
    };
    let address = address.to_owned();
    line.clear();
    stdout.read_line(&mut line)?;
    let Some(admin_address) = line.trim().strip_prefix("veilgram admin on http://") else {
        bail!("veilgram did not start its admin listener: {line:?}");
    };
    Ok(Server {
        address,
        admin_address: admin_address.to_owned(),
        child,
    })
}

pub(crate) async fn connect(address: &str) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

#[derive(Clone)]
pub(crate) enum Call {
    Healthz,
    Home(Arc<Vec<String>>),
    Signup,
    Me(Arc<Vec<String>>),
    CreatePost(Arc<Vec<String>>),
    /// Each request likes a (user, post) pair not liked before, so every like is a real insert.
    Like(Arc<Vec<String>>, Arc<Vec<String>>),
    Comment(Arc<Vec<String>>, Arc<Vec<String>>),
    /// A multipart upload of the same file, spread over the users.
    Upload(Arc<Vec<String>>, Bytes),
    /// A search, anonymous, the `q` values (URL-encoded) taken in turn.
    Search(Arc<Vec<String>>),
}

impl Call {
    pub(crate) fn request(&self, address: &str, index: usize) -> Request<Full<Bytes>> {
        let builder = Request::builder().header("host", address);
        let built = match self {
            Self::Healthz => builder.uri("/healthz").body(Full::new(Bytes::new())),
            Self::Search(queries) => builder
                .uri(format!(
                    "/api/v1/search?q={}",
                    queries[index % queries.len()]
                ))
                .body(Full::new(Bytes::new())),
            Self::Signup => builder
                .method("POST")
                .uri("/api/v1/auth/signup")
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(b"{}"))),
            Self::Home(tokens) => builder
                .uri("/api/v1/feed/home")
                .header(
                    "authorization",
                    format!("Bearer {}", tokens[index % tokens.len()]),
                )
                .body(Full::new(Bytes::new())),
            Self::Me(tokens) => builder
                .uri("/api/v1/users/me")
                .header(
                    "authorization",
                    format!("Bearer {}", tokens[index % tokens.len()]),
                )
                .body(Full::new(Bytes::new())),
            Self::CreatePost(tokens) => builder
                .method("POST")
                .uri("/api/v1/posts")
                .header(
                    "authorization",
                    format!("Bearer {}", tokens[index % tokens.len()]),
                )
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(
                    b"{\"text\":\"benchmarking #veilgram with a short post\"}",
                ))),
            Self::Like(tokens, posts) => builder
                .method("POST")
                // User `index % U` likes post `(index / U + index) % P`: pairs never repeat and
                // likes spread over all posts (one hot post would measure row-lock contention).
                .uri(format!(
                    "/api/v1/posts/{}/like",
                    posts[(index / tokens.len() + index) % posts.len()]
                ))
                .header(
                    "authorization",
                    format!("Bearer {}", tokens[index % tokens.len()]),
                )
                .body(Full::new(Bytes::new())),
            Self::Comment(tokens, posts) => builder
                .method("POST")
                .uri(format!(
                    "/api/v1/posts/{}/comments",
                    posts[index % posts.len()]
                ))
                .header(
                    "authorization",
                    format!("Bearer {}", tokens[index % tokens.len()]),
                )
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(
                    b"{\"text\":\"a benchmark comment\"}",
                ))),
            Self::Upload(tokens, body) => builder
                .method("POST")
                .uri("/api/v1/media")
                .header(
                    "authorization",
                    format!("Bearer {}", tokens[index % tokens.len()]),
                )
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={}", media::BOUNDARY),
                )
                .body(Full::new(body.clone())),
        };
        built.unwrap_or_else(|_| Request::new(Full::new(Bytes::new())))
    }
}

pub(crate) struct Outcome {
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    elapsed: Duration,
    latencies_micros: Vec<u32>,
    /// Access tokens from sign-up answers (or post ids from creates), for later phases.
    pub(crate) tokens: Vec<String>,
}

impl Outcome {
    pub(crate) fn rate(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64()
    }

    pub(crate) fn percentile(&mut self, quantile: f64) -> f64 {
        if self.latencies_micros.is_empty() {
            return f64::NAN;
        }
        self.latencies_micros.sort_unstable();
        let index = ((self.latencies_micros.len() as f64 - 1.0) * quantile).round() as usize;
        f64::from(self.latencies_micros[index]) / 1000.0
    }
}

/// An open-loop phase spreads its rate over this many times the closed loop's connections.
/// Each connection sends its next request only once the last one is answered, so with few
/// connections one slow answer holds up that connection's schedule and every request behind it
/// counts as late (rightly: latency counts from the scheduled time); many independent clients
/// do not queue behind each other like that. More connections are not free either: requests
/// arriving one by one cost the server a wakeup each. On two shared cores the 80% phase
/// sometimes fell behind its schedule for good at 2 and at 8 times; at 4 it kept up.
const OPEN_LOOP_SPREAD: usize = 4;

/// Runs `call` on `connections` connections for `duration`. With `rate`, requests are scheduled
/// (open loop, over `OPEN_LOOP_SPREAD` times as many connections) and latency counts from the
/// scheduled time; without, each connection sends as fast as answers come back.
pub(crate) async fn run(
    address: &str,
    call: Call,
    connections: usize,
    duration: Duration,
    rate: Option<f64>,
    keep_tokens: usize,
) -> anyhow::Result<Outcome> {
    let connections = if rate.is_some() {
        connections * OPEN_LOOP_SPREAD
    } else {
        connections
    };
    let start = Instant::now();
    let deadline = start + duration;
    let mut workers = Vec::with_capacity(connections);
    for worker in 0..connections {
        let address = address.to_owned();
        let call = call.clone();
        let interval = rate.map(|rate| Duration::from_secs_f64(connections as f64 / rate));
        let offset = interval.map(|interval| interval.mul_f64(worker as f64 / connections as f64));
        workers.push(tokio::spawn(async move {
            let mut sender = connect(&address).await?;
            let mut outcome = Outcome {
                completed: 0,
                failed: 0,
                elapsed: Duration::ZERO,
                latencies_micros: Vec::new(),
                tokens: Vec::new(),
            };
            let mut sent = 0u32;
            loop {
                let scheduled = match (interval, offset) {
                    (Some(interval), Some(offset)) => {
                        let at = start + offset + interval * sent;
                        tokio::time::sleep_until(at.into()).await;
                        at
                    }
                    _ => Instant::now(),
                };
                if scheduled >= deadline {
                    break;
                }
                sent += 1;
                // Distinct across workers and requests, so likes never repeat a (user, post) pair.
                let request = call.request(&address, worker + connections * sent as usize);
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                let latency = scheduled.elapsed();
                if status.is_success() {
                    outcome.completed += 1;
                    outcome
                        .latencies_micros
                        .push(latency.as_micros().min(u128::from(u32::MAX)) as u32);
                    let kept_field = match call {
                        Call::Signup => Some("access_token"),
                        Call::CreatePost(_) => Some("id"),
                        _ => None,
                    };
                    if let Some(field) = kept_field.filter(|_| outcome.tokens.len() < keep_tokens) {
                        let parsed: serde_json::Value = serde_json::from_slice(&body)?;
                        if let Some(value) = parsed[field].as_str() {
                            outcome.tokens.push(value.to_owned());
                        }
                    }
                } else {
                    outcome.failed += 1;
                }
            }
            anyhow::Ok(outcome)
        }));
    }
    let mut total = Outcome {
        completed: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies_micros: Vec::new(),
        tokens: Vec::new(),
    };
    for worker in workers {
        let outcome = worker.await??;
        total.completed += outcome.completed;
        total.failed += outcome.failed;
        total.latencies_micros.extend(outcome.latencies_micros);
        total.tokens.extend(outcome.tokens);
    }
    total.elapsed = start.elapsed().min(duration).max(Duration::from_millis(1));
    Ok(total)
}

async fn settle_database(
    postgres_url: Option<&str>,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    match postgres_url {
        Some(url) => {
            let mut connection = PgConnection::connect(url).await?;
            connection.execute("VACUUM (ANALYZE)").await?;
            connection.execute("CHECKPOINT").await?;
        }
        None => {
            let path = data_dir.join("veilgram.db");
            let url = format!("sqlite://{}", path.display());
            let mut connection = sqlx::SqliteConnection::connect(&url).await?;
            connection
                .execute("PRAGMA wal_checkpoint(TRUNCATE)")
                .await?;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(())
}

/// The physical reference: single-row autocommit inserts straight into the same database, from
/// this process. SQLite admits one writer, so it gets one connection; PostgreSQL gets as many
/// as the HTTP phases use.
async fn raw_inserts(
    postgres_url: Option<&str>,
    data_dir: &std::path::Path,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    const CREATE: &str = "CREATE TABLE IF NOT EXISTS bench_raw (id TEXT PRIMARY KEY, body TEXT NOT NULL, created_at BIGINT NOT NULL)";
    const INSERT: &str = "INSERT INTO bench_raw (id, body, created_at) VALUES ($1, $2, $3)";
    let start = Instant::now();
    let deadline = start + duration;
    let mut outcome = Outcome {
        completed: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latencies_micros: Vec::new(),
        tokens: Vec::new(),
    };
    match postgres_url {
        Some(url) => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(connections as u32)
                .connect(url)
                .await?;
            sqlx::query(CREATE).execute(&pool).await?;
            let mut workers = Vec::new();
            for _ in 0..connections {
                let pool = pool.clone();
                workers.push(tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    while Instant::now() < deadline {
                        let began = Instant::now();
                        sqlx::query(INSERT)
                            .bind(uuid::Uuid::now_v7().to_string())
                            .bind("benchmarking #veilgram with a short post")
                            .bind(0_i64)
                            .execute(&pool)
                            .await?;
                        latencies
                            .push(began.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    }
                    anyhow::Ok(latencies)
                }));
            }
            for worker in workers {
                outcome.latencies_micros.extend(worker.await??);
            }
        }
        None => {
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(data_dir.join("veilgram.db"))
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5));
            let mut connection = sqlx::SqliteConnection::connect_with(&options).await?;
            sqlx::query(CREATE).execute(&mut connection).await?;
            while Instant::now() < deadline {
                let began = Instant::now();
                sqlx::query(INSERT)
                    .bind(uuid::Uuid::now_v7().to_string())
                    .bind("benchmarking #veilgram with a short post")
                    .bind(0_i64)
                    .execute(&mut connection)
                    .await?;
                outcome
                    .latencies_micros
                    .push(began.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            }
        }
    }
    outcome.completed = outcome.latencies_micros.len() as u64;
    outcome.elapsed = start.elapsed().min(duration).max(Duration::from_millis(1));
    Ok(outcome)
}

struct Row {
    label: String,
    outcome: Outcome,
}

async fn measure_engine(
    arguments: &Arguments,
    binary: &PathBuf,
    engine: &str,
) -> anyhow::Result<Vec<Row>> {
    let data_dir = tempfile::tempdir()?;
    let mut scratch_database = None;
    let database_url = match engine {
        "sqlite" => None,
        "postgres" => {
            let name = format!("vgbench_{}", uuid::Uuid::new_v4().simple());
            let mut admin = PgConnection::connect(&arguments.postgres_url)
                .await
                .with_context(|| {
                    format!("PostgreSQL is not reachable at {}", arguments.postgres_url)
                })?;
            admin
                .execute(format!("CREATE DATABASE {name}").as_str())
                .await?;
            let base = arguments
                .postgres_url
                .rsplit_once('/')
                .map_or(arguments.postgres_url.as_str(), |(base, _)| base);
            scratch_database = Some(name.clone());
            Some(format!("{base}/{name}"))
        }
        other => bail!("unknown engine {other}"),
    };
    let duration = Duration::from_secs(arguments.duration);
    let connections = arguments.connections;
    let rows = {
        let server = start_server(binary, data_dir.path(), database_url.as_deref(), &[])?;
        let address = server.address.clone();
        // Warm up connections, caches and the JIT-free but page-cache-hungry database.
        run(
            &address,
            Call::Healthz,
            connections,
            Duration::from_secs(1),
            None,
            0,
        )
        .await?;
        let signups = run(&address, Call::Signup, connections, duration, None, 20_000).await?;
        let tokens = Arc::new(signups.tokens.clone());
        anyhow::ensure!(!tokens.is_empty(), "no sign-up succeeded");
        // Do now what bulk inserts leave behind (vacuum, checkpoint), so that the database's
        // background work does not compete with the read phases for the two cores.
        settle_database(database_url.as_deref(), data_dir.path()).await?;
        let healthz = run(&address, Call::Healthz, connections, duration, None, 0).await?;
        let healthz_target = healthz.rate() * 0.8;
        let healthz_at_80 = run(
            &address,
            Call::Healthz,
            connections,
            duration,
            Some(healthz_target),
            0,
        )
        .await?;
        run(
            &address,
            Call::Me(Arc::clone(&tokens)),
            connections,
            Duration::from_secs(1),
            None,
            0,
        )
        .await?;
        let me_max = run(
            &address,
            Call::Me(Arc::clone(&tokens)),
            connections,
            duration,
            None,
            0,
        )
        .await?;
        let target = me_max.rate() * 0.8;
        let me_at_80 = run(
            &address,
            Call::Me(Arc::clone(&tokens)),
            connections,
            duration,
            Some(target),
            0,
        )
        .await?;
        let posts = run(
            &address,
            Call::CreatePost(Arc::clone(&tokens)),
            connections,
            duration,
            None,
            200_000,
        )
        .await?;
        let post_ids = Arc::new(posts.tokens.clone());
        anyhow::ensure!(!post_ids.is_empty(), "no post was created");
        let likes = run(
            &address,
            Call::Like(Arc::clone(&tokens), Arc::clone(&post_ids)),
            connections,
            duration,
            None,
            0,
        )
        .await?;
        let comments = run(
            &address,
            Call::Comment(Arc::clone(&tokens), post_ids),
            connections,
            duration,
            None,
            0,
        )
        .await?;
        let raw = raw_inserts(
            database_url.as_deref(),
            data_dir.path(),
            connections,
            duration,
        )
        .await?;
        vec![
            Row {
                label: "POST /auth/signup (max)".into(),
                outcome: signups,
            },
            Row {
                label: "GET /healthz (max, ceiling)".into(),
                outcome: healthz,
            },
            Row {
                label: format!("GET /healthz at 80% ({healthz_target:.0}/s)"),
                outcome: healthz_at_80,
            },
            Row {
                label: "GET /users/me (max)".into(),
                outcome: me_max,
            },
            Row {
                label: format!("GET /users/me at 80% ({target:.0}/s)"),
                outcome: me_at_80,
            },
            Row {
                label: "POST /posts (max)".into(),
                outcome: posts,
            },
            Row {
                label: "POST /posts/{id}/like (max)".into(),
                outcome: likes,
            },
            Row {
                label: "POST /posts/{id}/comments (max)".into(),
                outcome: comments,
            },
            Row {
                label: format!("raw single-row INSERT ({engine})"),
                outcome: raw,
            },
        ]
    };
    if let Some(name) = scratch_database {
        let mut admin = PgConnection::connect(&arguments.postgres_url).await?;
        admin
            .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
            .await?;
    }
    Ok(rows)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let arguments = Arguments::parse();
    if matches!(arguments.suite.as_str(), "proof" | "all") {
        proof::print();
        if arguments.suite == "proof" {
            return Ok(());
        }
    }
    let binary = match &arguments.veilgram {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("veilgram"),
    };
    anyhow::ensure!(
        binary.exists(),
        "{} not found: build it with `cargo build --release -p veilgram`",
        binary.display()
    );
    if matches!(arguments.suite.as_str(), "moderation" | "all") {
        moderation::print(&arguments.beep, Duration::from_secs(arguments.duration))?;
        moderation::print_images()?;
        moderation::print_decisions(&binary).await?;
        if arguments.suite == "moderation" {
            return Ok(());
        }
    }
    if matches!(arguments.suite.as_str(), "search" | "all") {
        let documents = std::sync::Arc::new(search::posts(arguments.search_posts));
        search::print(std::sync::Arc::clone(&documents)).await?;
        search::print_http(&documents, &binary, arguments.connections).await?;
        if arguments.suite == "search" {
            return Ok(());
        }
    }
    println!(
        "veilgram-bench: {} connections, {} s per phase, {} cores, server access logs off",
        arguments.connections,
        arguments.duration,
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let (writes, feeds, uploads, sockets, events) = match arguments.suite.as_str() {
        "writes" => (true, false, false, false, false),
        "feeds" => (false, true, false, false, false),
        "media" => (false, false, true, false, false),
        "realtime" => (false, false, false, true, false),
        "events" => (false, false, false, false, true),
        "proof" | "search" | "moderation" => (false, false, false, false, false),
        "all" => (true, true, true, true, true),
        other => {
            bail!("unknown suite {other}: writes, feeds, media, realtime, events, proof, search, moderation or all")
        }
    };

    if events {
        events::print(&arguments.engines).await?;
    }
    if sockets {
        realtime::print(&arguments, &binary).await?;
    }
    if feeds {
        feeds::print(&arguments, &binary).await?;
    }
    if uploads {
        media::print(&arguments, &binary).await?;
    }
    for engine in arguments
        .engines
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty() && writes)
    {
        let mut rows = measure_engine(&arguments, &binary, engine).await?;
        println!("\nengine: {engine}");
        println!(
            "| {:<36} | {:>10} | {:>8} | {:>8} | {:>8} | {:>8} |",
            "operation", "req/s", "P50 ms", "P99 ms", "P99.9 ms", "errors"
        );
        println!(
            "|{:-<38}|{:->12}|{:->10}|{:->10}|{:->10}|{:->10}|",
            "", "", "", "", "", ""
        );
        let healthz_rate = rows[1].outcome.rate();
        for row in &mut rows {
            let rate = row.outcome.rate();
            let (p50, p99, p999) = (
                row.outcome.percentile(0.50),
                row.outcome.percentile(0.99),
                row.outcome.percentile(0.999),
            );
            println!(
                "| {:<36} | {:>10.0} | {:>8.2} | {:>8.2} | {:>8.2} | {:>8} |",
                row.label, rate, p50, p99, p999, row.outcome.failed
            );
        }
        println!(
            "authenticated reads reach {:.0}% of the /healthz ceiling",
            100.0 * rows[3].outcome.rate() / healthz_rate
        );
        let raw_rate = rows[8].outcome.rate();
        println!(
            "posts reach {:.0}%, likes {:.0}% and comments {:.0}% of the raw insert rate",
            100.0 * rows[5].outcome.rate() / raw_rate,
            100.0 * rows[6].outcome.rate() / raw_rate,
            100.0 * rows[7].outcome.rate() / raw_rate
        );
    }
    Ok(())
}
