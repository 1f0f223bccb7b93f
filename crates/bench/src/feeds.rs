//! The feeds suite: 10,000 users with a skewed follower graph (one account followed by
//! everyone, a few by a third each, the rest by few, Zipf-like), on SQLite, once with the
//! in-memory cache and once with Redis. Measures warm home-feed reads (maximum, and latency at
//! 80% of it), the fan-out of one post to 10,000 followers, and beside them `/healthz` and
//! `redis-benchmark`'s pipelined GET and ZADD rates.

use crate::{run, start_server, Arguments, Call, Outcome};
use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const USERS: usize = 10_000;
/// Accounts each user follows besides the star and the popular few.
const FOLLOWS_EACH: usize = 10;
/// Accounts followed by about a third of everyone.
const POPULAR: usize = 9;
/// Fan-outs of the star's posts measured (the median is reported).
const FAN_OUTS: usize = 5;

/// The user id an access token is for (its `sub` claim).
pub(crate) fn subject(token: &str) -> anyhow::Result<String> {
    let payload = token.split('.').nth(1).context("not a JWT")?;
    let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload)?)?;
    Ok(claims["sub"].as_str().context("no sub")?.to_owned())
}

/// A small deterministic generator (xorshift64*), so every run builds the same data.
pub(crate) struct Xorshift(pub(crate) u64);

impl Xorshift {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// One of `from`, uniformly.
    pub(crate) fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

/// Follows: everyone follows user 0 (the star); users 1..=POPULAR are each followed by a third
/// of everyone; and everyone follows FOLLOWS_EACH more, drawn with probability ∝ 1/rank.
fn follower_graph(users: usize) -> Vec<(usize, usize)> {
    let mut random = Xorshift(0x9E37_79B9_7F4A_7C15);
    let harmonic: f64 = (1..users).map(|rank| 1.0 / rank as f64).sum();
    let mut edges = Vec::new();
    for follower in 1..users {
        let mut followees = vec![0];
        for popular in 1..=POPULAR {
            if random.unit() < 1.0 / 3.0 {
                followees.push(popular);
            }
        }
        while followees.len() < FOLLOWS_EACH + 1 {
            // Inverse transform sampling over ranks 1..users with weights 1/rank.
            let target = random.unit() * harmonic;
            let mut sum = 0.0;
            let mut rank = 1;
            while rank < users - 1 {
                sum += 1.0 / rank as f64;
                if sum >= target {
                    break;
                }
                rank += 1;
            }
            if rank != follower && !followees.contains(&rank) {
                followees.push(rank);
            }
        }
        edges.extend(followees.into_iter().map(|followee| (follower, followee)));
    }
    edges
}

/// Writes the graph straight into the server's database (the API would take minutes), with
/// the counters it implies.
async fn seed_follows(
    database_url: &str,
    ids: &[String],
    edges: &[(usize, usize)],
) -> anyhow::Result<()> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(database_url)
        .await?;
    for chunk in edges.chunks(500) {
        let values: Vec<String> = (0..chunk.len())
            .map(|index| format!("(${}, ${}, 0)", index * 2 + 1, index * 2 + 2))
            .collect();
        let sql = format!(
            "INSERT INTO follows (follower_id, followee_id, created_at) VALUES {} ON CONFLICT DO NOTHING",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for (follower, followee) in chunk {
            query = query
                .bind(ids[*follower].clone())
                .bind(ids[*followee].clone());
        }
        query.execute(&pool).await?;
    }
    sqlx::query(
        "UPDATE users SET \
         followers_count = (SELECT COUNT(*) FROM follows WHERE followee_id = users.id), \
         following_count = (SELECT COUNT(*) FROM follows WHERE follower_id = users.id)",
    )
    .execute(&pool)
    .await?;
    pool.close().await;
    Ok(())
}

/// A figure from the server's `/metrics`.
async fn metric(address: &str, name: &str) -> anyhow::Result<f64> {
    let request = hyper::Request::builder()
        .uri("/metrics")
        .header("host", address)
        .body(http_body_util::Full::new(bytes::Bytes::new()))?;
    let (_, body) = send_once(address, request).await?;
    let text = String::from_utf8_lossy(&body);
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .with_context(|| format!("{name} not in /metrics"))
}

/// The server's own latency histogram for `GET route` (answered 200), from `/metrics`: each
/// bucket's upper bound in seconds and how many requests it holds, cumulative.
async fn server_histogram(address: &str, route: &str) -> anyhow::Result<Vec<(f64, f64)>> {
    let request = hyper::Request::builder()
        .uri("/metrics")
        .header("host", address)
        .body(http_body_util::Full::new(bytes::Bytes::new()))?;
    let (_, body) = send_once(address, request).await?;
    let prefix = format!(
        "veilgram_http_request_duration_seconds_bucket{{route=\"{route}\",method=\"GET\",status=\"200\",le=\""
    );
    Ok(String::from_utf8_lossy(&body)
        .lines()
        .filter_map(|line| {
            let (bound, count) = line.strip_prefix(&prefix)?.split_once("\"} ")?;
            let bound = if bound == "+Inf" {
                f64::INFINITY
            } else {
                bound.parse().ok()?
            };
            Some((bound, count.parse().ok()?))
        })
        .collect())
}

/// The bucket bound (ms) under which `quantile` of the requests between two readings of a
/// histogram fell: the server's own time, from the middleware's timer, without the network
/// or the load generator.
fn server_percentile(before: &[(f64, f64)], after: &[(f64, f64)], quantile: f64) -> f64 {
    let counted = |bound: f64| {
        let at = |histogram: &[(f64, f64)]| {
            histogram
                .iter()
                .find(|(le, _)| *le == bound)
                .map_or(0.0, |(_, count)| *count)
        };
        at(after) - at(before)
    };
    let total = counted(f64::INFINITY);
    after
        .iter()
        .map(|(bound, _)| *bound)
        .find(|bound| counted(*bound) >= quantile * total)
        .map_or(f64::NAN, |bound| bound * 1000.0)
}

/// `redis-benchmark`'s rate for one test, `pipeline` commands deep on each of `clients`
/// connections.
fn redis_benchmark(test: &str, pipeline: usize, clients: usize) -> anyhow::Result<f64> {
    let (pipeline, clients) = (pipeline.to_string(), clients.to_string());
    let output = std::process::Command::new("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            "6379",
            "-q",
            "-P",
            &pipeline,
            "-c",
            &clients,
            "-n",
            "200000",
            "-t",
            test,
        ])
        .output()
        .context("redis-benchmark (Debian's redis-tools) is needed")?;
    let text = String::from_utf8_lossy(&output.stdout);
    // e.g. "ZADD: 512820.53 requests per second, p50=1.303 msec"
    text.split(['\r', '\n'])
        .filter_map(|line| line.split_once(": ").map(|(_, rest)| rest.to_owned()))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .next_back()
        .with_context(|| format!("cannot read redis-benchmark's {test} rate from {text:?}"))
}

/// Waits until the server has fanned out `posts` posts in all (a posting phase's backlog).
async fn wait_for_fan_outs(address: &str, posts: f64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while metric(address, "veilgram_feed_fanout_posts_total").await? < posts {
        anyhow::ensure!(
            Instant::now() < deadline,
            "fan-out backlog not drained in 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

/// Sends one request on a connection of its own; answers the status and body.
pub(crate) async fn send_once(
    address: &str,
    request: hyper::Request<http_body_util::Full<bytes::Bytes>>,
) -> anyhow::Result<(hyper::StatusCode, bytes::Bytes)> {
    let mut sender = crate::connect(address).await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await?
        .to_bytes();
    Ok((status, body))
}

/// Reads every user's home feed once, so that every timeline is in the cache.
async fn warm_every_timeline(
    address: &str,
    tokens: &Arc<Vec<String>>,
    connections: usize,
) -> anyhow::Result<()> {
    let mut workers = Vec::new();
    for worker in 0..connections {
        let (address, tokens) = (address.to_owned(), Arc::clone(tokens));
        workers.push(tokio::spawn(async move {
            let mut sender = crate::connect(&address).await?;
            for index in (worker..tokens.len()).step_by(connections) {
                let request = Call::Home(Arc::clone(&tokens)).request(&address, index);
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                anyhow::ensure!(
                    response.status().is_success(),
                    "home read failed: {}",
                    response.status()
                );
                http_body_util::BodyExt::collect(response.into_body()).await?;
            }
            anyhow::Ok(())
        }));
    }
    for worker in workers {
        worker.await??;
    }
    Ok(())
}

pub struct FeedRun {
    pub cache: String,
    pub healthz: Outcome,
    pub home: Outcome,
    pub home_target: f64,
    pub home_at_80: Outcome,
    /// The server's own P50, P99 and P99.9 (ms, bucket bounds) during the 80% phase.
    pub home_at_80_server: [f64; 3],
    pub fan_out_wall: Duration,
    pub fan_out_server: Duration,
    pub fan_out_timelines: f64,
    /// With Redis: how long Redis itself was busy per fan-out (the commands it ran meanwhile,
    /// from `INFO commandstats`), a floor under the fan-out's own time.
    pub fan_out_redis_busy: Option<Duration>,
    /// With Redis: how long Redis itself was busy per warm home page (at the maximum rate).
    pub home_redis_busy: Option<Duration>,
}

/// How long Redis was busy since `before` (`redis_busy_micros` then), per one of `count`.
fn redis_busy_since(
    url: Option<&str>,
    before: Option<f64>,
    count: f64,
) -> anyhow::Result<Option<Duration>> {
    let (Some(url), Some(before)) = (url, before) else {
        return Ok(None);
    };
    let micros = (redis_busy_micros(url)? - before) / count.max(1.0);
    Ok(Some(Duration::from_secs_f64(micros / 1e6)))
}

/// The microseconds Redis has spent running commands since its statistics were last reset:
/// the sum of `INFO commandstats`' `usec`, scripts left out (the commands a script runs are
/// counted on their own).
fn redis_busy_micros(url: &str) -> anyhow::Result<f64> {
    let output = std::process::Command::new("redis-cli")
        .args(["-u", url, "info", "commandstats"])
        .output()
        .context("redis-cli (Debian's redis-tools) is needed")?;
    anyhow::ensure!(output.status.success(), "redis-cli info failed");
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.starts_with("cmdstat_eval") && !line.starts_with("cmdstat_fcall"))
        .flat_map(|line| line.split(','))
        .filter_map(|field| field.trim().strip_prefix("usec="))
        .filter_map(|usec| usec.parse::<f64>().ok())
        .sum())
}

pub async fn measure(
    arguments: &Arguments,
    binary: &PathBuf,
    redis_url: Option<&str>,
) -> anyhow::Result<FeedRun> {
    let data_dir = tempfile::tempdir()?;
    let mut environment = vec![];
    if let Some(url) = redis_url {
        // A clean slate: timelines of an earlier run must not count as warm.
        let status = std::process::Command::new("redis-cli")
            .args(["-u", url, "flushdb"])
            .stdout(std::process::Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "cannot flush {url}");
        environment.push(("VEILGRAM_REDIS_URL", url.to_owned()));
    }
    let server = start_server(binary, data_dir.path(), None, &environment)?;
    let address = server.address.clone();
    let admin = server.admin_address.clone();
    let connections = arguments.connections;
    let duration = Duration::from_secs(arguments.duration);

    let mut tokens = Vec::new();
    while tokens.len() < USERS {
        let signups = run(
            &address,
            Call::Signup,
            connections,
            Duration::from_secs(2),
            None,
            USERS - tokens.len(),
        )
        .await?;
        tokens.extend(signups.tokens);
    }
    tokens.truncate(USERS);
    let ids: Vec<String> = tokens
        .iter()
        .map(|token| subject(token))
        .collect::<Result<_, _>>()?;
    let edges = follower_graph(USERS);
    let database = format!("sqlite://{}", data_dir.path().join("veilgram.db").display());
    seed_follows(&database, &ids, &edges).await?;
    let tokens = Arc::new(tokens);

    // Posts from the accounts most people follow, then every home timeline read once (built).
    // (Not the star's: its fan-out is measured alone, below.)
    let authors = Arc::new(tokens[1..=100].to_vec());
    let posts = run(
        &address,
        Call::CreatePost(authors),
        connections,
        Duration::from_secs(1),
        None,
        0,
    )
    .await?;
    wait_for_fan_outs(&admin, posts.completed as f64).await?;
    warm_every_timeline(&address, &tokens, connections).await?;

    let healthz = run(&address, Call::Healthz, connections, duration, None, 0).await?;
    let home_busy_before = redis_url.map(redis_busy_micros).transpose()?;
    let home = run(
        &address,
        Call::Home(Arc::clone(&tokens)),
        connections,
        duration,
        None,
        0,
    )
    .await?;
    let home_redis_busy = redis_busy_since(redis_url, home_busy_before, home.completed as f64)?;
    let home_target = home.rate() * 0.8;
    let histogram_before = server_histogram(&admin, "/api/v1/feed/home").await?;
    let home_at_80 = run(
        &address,
        Call::Home(Arc::clone(&tokens)),
        connections,
        duration,
        Some(home_target),
        0,
    )
    .await?;
    let histogram_after = server_histogram(&admin, "/api/v1/feed/home").await?;
    let home_at_80_server =
        [0.5, 0.99, 0.999].map(|q| server_percentile(&histogram_before, &histogram_after, q));

    // Posts by the account everyone follows, to its 9,999 followers, each alone in the log;
    // the median of FAN_OUTS.
    let followers = (USERS - 1) as f64;
    let mut walls = Vec::new();
    let mut servers = Vec::new();
    let busy_before = redis_url.map(redis_busy_micros).transpose()?;
    for _ in 0..FAN_OUTS {
        let fanned_out = metric(&admin, "veilgram_feed_fanout_posts_total").await?;
        let before = metric(&admin, "veilgram_feed_fanout_timelines_total").await?;
        let posted = Instant::now();
        let star = Call::CreatePost(Arc::new(vec![tokens[0].clone()]));
        let (status, _) = send_once(&address, star.request(&address, 0)).await?;
        anyhow::ensure!(status.is_success(), "the star's post failed: {status}");
        wait_for_fan_outs(&admin, fanned_out + 1.0).await?;
        let offered = metric(&admin, "veilgram_feed_fanout_timelines_total").await? - before;
        anyhow::ensure!(
            offered >= followers,
            "fan-out offered {offered} of {followers} timelines"
        );
        walls.push(posted.elapsed());
        let micros = metric(&admin, "veilgram_feed_fanout_last_microseconds").await?;
        servers.push(Duration::from_micros(micros as u64));
    }
    let fan_out_redis_busy = redis_busy_since(redis_url, busy_before, FAN_OUTS as f64)?;
    walls.sort_unstable();
    servers.sort_unstable();
    let (fan_out_wall, fan_out_server) = (walls[FAN_OUTS / 2], servers[FAN_OUTS / 2]);
    drop(server);
    Ok(FeedRun {
        cache: redis_url.map_or_else(|| "memory".to_owned(), |_| "redis".to_owned()),
        healthz,
        home,
        home_target,
        home_at_80,
        home_at_80_server,
        fan_out_wall,
        fan_out_server,
        fan_out_timelines: followers,
        fan_out_redis_busy,
        home_redis_busy,
    })
}

pub async fn print(arguments: &Arguments, binary: &PathBuf) -> anyhow::Result<()> {
    let redis_url = std::env::var("VEILGRAM_BENCH_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/15".to_owned());
    let get = redis_benchmark("get", 16, 50)?;
    let zadd = redis_benchmark("zadd", 16, 50)?;
    // What one round trip to Redis costs this machine, as a page pays it: one command at a
    // time on as many connections as the load generator uses.
    let round_trips = redis_benchmark("get", 1, arguments.connections)?;
    println!("\nfeeds: {USERS} users, SQLite, one follower graph (user 0 followed by all)");
    println!(
        "| {:<44} | {:>10} | {:>8} | {:>8} | {:>8} |",
        "operation", "per s", "P50 ms", "P99 ms", "P99.9 ms"
    );
    println!(
        "|{:-<46}|{:->12}|{:->10}|{:->10}|{:->10}|",
        "", "", "", "", ""
    );
    let mut summaries = Vec::new();
    let caches = [None, Some(redis_url.as_str())]
        .into_iter()
        .filter(|cache| {
            arguments
                .caches
                .contains(cache.map_or("memory", |_| "redis"))
        });
    for redis in caches {
        let mut run = measure(arguments, binary, redis).await?;
        let cache = run.cache.clone();
        let p99_at_80 = run.home_at_80.percentile(0.99);
        for (label, outcome) in [
            (format!("GET /healthz (max) [{cache}]"), &mut run.healthz),
            (
                format!("GET /feed/home warm (max) [{cache}]"),
                &mut run.home,
            ),
            (
                format!("GET /feed/home at 80% ({:.0}/s) [{cache}]", run.home_target),
                &mut run.home_at_80,
            ),
        ] {
            let rate = outcome.rate();
            let (p50, p99, p999) = (
                outcome.percentile(0.5),
                outcome.percentile(0.99),
                outcome.percentile(0.999),
            );
            println!("| {label:<44} | {rate:>10.0} | {p50:>8.2} | {p99:>8.2} | {p999:>8.2} |");
        }
        // Bucket bounds: "≤ 0.5" reads "at most half a millisecond".
        let [p50, p99, p999] = run.home_at_80_server.map(|bound| format!("≤ {bound}"));
        println!(
            "| {:<44} | {:>10} | {p50:>8} | {p99:>8} | {p999:>8} |",
            format!("  of which the server's own time [{cache}]"),
            "",
        );
        if let Some(busy) = run.home_redis_busy {
            println!(
                "| {:<44} | {:>10.0} | {:>8.3} | {:>8} | {:>8} |",
                format!("  Redis itself busy per warm page [{cache}]"),
                1.0 / busy.as_secs_f64(),
                busy.as_secs_f64() * 1000.0,
                "",
                "",
            );
        }
        let inserts = run.fan_out_timelines / run.fan_out_server.as_secs_f64();
        println!(
            "| {:<44} | {:>10.0} | {:>8} | {:>8} | {:>8} |",
            format!(
                "fan-out to {:.0} timelines [{cache}]",
                run.fan_out_timelines
            ),
            inserts,
            format!("{:.1}", run.fan_out_server.as_secs_f64() * 1000.0),
            format!("{:.1}", run.fan_out_wall.as_secs_f64() * 1000.0),
            "",
        );
        let mut ceiling = String::new();
        if let Some(busy) = run.fan_out_redis_busy {
            let redis_rate = run.fan_out_timelines / busy.as_secs_f64();
            println!(
                "| {:<44} | {redis_rate:>10.0} | {:>8} | {:>8} | {:>8} |",
                format!("  of which Redis itself busy [{cache}]"),
                format!("{:.1}", busy.as_secs_f64() * 1000.0),
                "",
                "",
            );
            ceiling = format!(
                " (Redis alone, inserting into these timelines, reaches {:.0}%)",
                100.0 * redis_rate / zadd
            );
        }
        summaries.push(format!(
            "[{cache}] warm home reads reach {:.0}% of /healthz; P99 at 80% load {p99_at_80:.2} ms; \
             fan-out inserts reach {:.0}% of pipelined ZADD{ceiling}",
            100.0 * run.home.rate() / run.healthz.rate(),
            100.0 * inserts / zadd
        ));
    }
    let connections = arguments.connections;
    for (label, rate) in [
        ("redis-benchmark GET -P 16".to_owned(), get),
        ("redis-benchmark ZADD -P 16".to_owned(), zadd),
        (
            format!("redis-benchmark GET -P 1 -c {connections}"),
            round_trips,
        ),
    ] {
        println!(
            "| {label:<44} | {rate:>10.0} | {:>8} | {:>8} | {:>8} |",
            "", "", ""
        );
    }
    println!("(fan-out rows: inserts per second; P50 column = the fan-out's own time in ms, P99 column = post to last timeline, wall clock; medians of {FAN_OUTS} posts; \"Redis itself busy\": the time Redis spent running commands during the fan-outs, per post, or during the warm maximum phase, per page (per s column: the rate Redis alone could sustain), from INFO commandstats; \"the server's own time\": the 80% phase as the server's middleware timed it (its /metrics histogram, so bucket bounds), without the network or the load generator — redis-benchmark's ZADD adds one member to one small set again and again, while fan-out inserts into 10,000 distinct timelines of about 100 posts each; GET -P 1: one round trip at a time per connection, as a warm page on Redis makes one)");
    for summary in summaries {
        println!("{summary}");
    }
    Ok(())
}
