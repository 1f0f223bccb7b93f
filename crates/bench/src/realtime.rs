//! The realtime suite: as many idle, authenticated WebSocket connections as the machine allows
//! (50,000 by default), the server's memory per connection, then one event to 10,000 of them
//! (a follow of the account they are signed in as: a notification on its channel) and the
//! delivery latency from the moment the notification was made to each client's receipt, beside
//! the in-process rate of the same hub delivering to 10,000 queues.
//!
//! Raises this process's open-file limit itself (the server, its child, inherits it) and opens
//! connections from several loopback source addresses (one address has ~28,000 ports).

use crate::{run, start_server, Arguments, Call};
use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use veilgram_core::pubsub::Published;
use veilgram_realtime::Hub;

/// Connections that receive the broadcast.
const LISTENERS: usize = 10_000;
/// Handshakes in flight at once.
const OPENING: usize = 256;

pub(crate) fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmRSS:").and_then(|value| {
                    value
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
            })
        })
        .map_or(0.0, |kilobytes| kilobytes / 1024.0)
}

/// Lets this process (and the server it starts) hold up to `files` open files: raises the
/// limit with `prlimit` where allowed, else to the hard limit. Answers the limit in force.
fn raise_file_limit(files: u64) -> anyhow::Result<u64> {
    let pid = std::process::id().to_string();
    let raised = std::process::Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={files}:{files}"))
        .stderr(std::process::Stdio::null())
        .status()
        .context("prlimit (util-linux) is needed")?;
    if !raised.success() {
        // Not allowed past the hard limit here (no CAP_SYS_RESOURCE): go as far as it is.
        let output = std::process::Command::new("prlimit")
            .args([
                "--pid",
                &pid,
                "--nofile",
                "--raw",
                "--noheadings",
                "--output",
                "HARD",
            ])
            .output()?;
        let hard: u64 = String::from_utf8_lossy(&output.stdout).trim().parse()?;
        let status = std::process::Command::new("prlimit")
            .arg(format!("--pid={pid}"))
            .arg(format!("--nofile={hard}:{hard}"))
            .status()?;
        anyhow::ensure!(status.success(), "cannot raise the open-file limit");
        return Ok(hard);
    }
    Ok(files)
}

/// Opens one authenticated socket from `source`; answers a task that reads it until the end,
/// sending the receive latency of each notification down `latencies`.
async fn connect(
    address: std::net::SocketAddr,
    source: std::net::IpAddr,
    token: Arc<str>,
    latencies: Option<tokio::sync::mpsc::UnboundedSender<f64>>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(std::net::SocketAddr::new(source, 0))?;
    let stream = socket.connect(address).await?;
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(64 * 1024);
    let (mut socket, _) = tokio_tungstenite::client_async_with_config(
        format!("ws://{address}/ws"),
        stream,
        Some(config),
    )
    .await?;
    let auth = serde_json::json!({ "type": "auth", "token": token.as_ref() }).to_string();
    socket.send(Message::Text(auth.into())).await?;
    let ready = socket.next().await.context("closed before ready")??;
    anyhow::ensure!(ready.to_text()?.contains("\"ready\""), "not ready: {ready}");
    Ok(tokio::spawn(async move {
        while let Some(Ok(message)) = socket.next().await {
            let (Message::Text(text), Some(latencies)) = (&message, &latencies) else {
                continue;
            };
            let Ok(event) = serde_json::from_str::<serde_json::Value>(text.as_str()) else {
                continue;
            };
            let made = event["data"]["created_at"].as_str().and_then(|at| {
                time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()
            });
            if let Some(made) = made {
                let now = time::OffsetDateTime::now_utc();
                let _ = latencies.send((now - made).as_seconds_f64() * 1000.0);
            }
        }
    }))
}

/// Delivers one message to `LISTENERS` queues of a hub in this process, many times: the rate
/// the server's own fan-out could reach without sockets.
async fn in_process_rate() -> f64 {
    let hub = Hub::default();
    let mut queues = Vec::with_capacity(LISTENERS);
    for _ in 0..LISTENERS {
        let registration = hub.register();
        hub.subscribe(registration.id, "user:bench");
        queues.push(registration.queue);
    }
    let message = Published {
        channel: "user:bench".into(),
        payload: Arc::from("{\"type\":\"event\",\"id\":\"1\"}"),
    };
    let rounds = 50;
    let started = Instant::now();
    for _ in 0..rounds {
        hub.deliver(&message);
        for queue in &mut queues {
            let _ = queue.try_recv();
        }
    }
    (rounds * LISTENERS) as f64 / started.elapsed().as_secs_f64()
}

pub(crate) fn percentile(sorted: &[f64], quantile: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * quantile).round() as usize]
}

pub async fn print(arguments: &Arguments, binary: &PathBuf) -> anyhow::Result<()> {
    let limit = raise_file_limit(arguments.sockets as u64 + 10_000)?;
    // Each socket is one file here and one in the server; keep some for everything else.
    let target = arguments.sockets.min(limit.saturating_sub(1_000) as usize);
    if target < arguments.sockets {
        println!(
            "open-file limit {limit} (cannot be raised here): {target} sockets instead of {}",
            arguments.sockets
        );
    }
    let data = tempfile::tempdir()?;
    let server = start_server(
        binary,
        data.path(),
        None,
        &[
            ("VEILGRAM_EVENTS__RELAY_INTERVAL_MS", "10".to_owned()),
            ("VEILGRAM_EVENTS__CONSUMER_INTERVAL_MS", "10".to_owned()),
        ],
    )?;
    let address: std::net::SocketAddr = server.address.parse()?;
    let signups = run(
        &server.address,
        Call::Signup,
        3,
        Duration::from_secs(1),
        None,
        3,
    )
    .await?;
    anyhow::ensure!(signups.tokens.len() >= 3, "three accounts are needed");
    let listened: Arc<str> = Arc::from(signups.tokens[0].as_str());
    let others: Arc<str> = Arc::from(signups.tokens[1].as_str());
    let follower = signups.tokens[2].clone();
    let baseline = rss_mb(server.child.id());

    let (latency_sender, mut latency_receiver) = tokio::sync::mpsc::unbounded_channel();
    let sources: Vec<std::net::IpAddr> = (1..=4u8)
        .map(|last| std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, last)))
        .collect();
    let started = Instant::now();
    let mut readers = Vec::with_capacity(target);
    let mut failed = 0usize;
    let mut opened = 0usize;
    while opened + failed < target {
        let batch = OPENING.min(target - opened - failed);
        let mut handshakes = Vec::with_capacity(batch);
        for index in opened + failed..opened + failed + batch {
            let listens = index < LISTENERS;
            let token = if listens {
                Arc::clone(&listened)
            } else {
                Arc::clone(&others)
            };
            let latencies = listens.then(|| latency_sender.clone());
            handshakes.push(connect(
                address,
                sources[index % sources.len()],
                token,
                latencies,
            ));
        }
        for outcome in futures_util::future::join_all(handshakes).await {
            match outcome {
                Ok(reader) => {
                    readers.push(reader);
                    opened += 1;
                }
                Err(_) => failed += 1,
            }
        }
        if failed > target / 20 {
            break; // the machine's limit
        }
    }
    let opening = started.elapsed();
    drop(latency_sender);
    // Idle for a moment, then weigh the server.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let loaded = rss_mb(server.child.id());
    let per_connection_kb = (loaded - baseline) * 1024.0 / opened.max(1) as f64;

    // One follow: a notification to the 10,000 sockets signed in as the followed account.
    let followed = crate::feeds::subject(&listened)?;
    let request = hyper::Request::builder()
        .method("POST")
        .uri(format!("/api/v1/users/{followed}/follow"))
        .header("host", server.address.as_str())
        .header("authorization", format!("Bearer {follower}"))
        .body(http_body_util::Full::new(bytes::Bytes::new()))?;
    let (status, _) = crate::feeds::send_once(&server.address, request).await?;
    anyhow::ensure!(status.is_success(), "the follow failed: {status}");
    let mut latencies = Vec::with_capacity(LISTENERS);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while latencies.len() < LISTENERS.min(opened) {
        match tokio::time::timeout_at(deadline, latency_receiver.recv()).await {
            Ok(Some(latency)) => latencies.push(latency),
            _ => break,
        }
    }
    latencies.sort_by(f64::total_cmp);
    let in_process = in_process_rate().await;

    println!(
        "\nrealtime: {opened} idle authenticated WebSockets ({failed} refused), SQLite, in-memory bus"
    );
    println!("| {:<52} | {:>14} |", "measure", "value");
    println!("|{:-<54}|{:->16}|", "", "");
    println!(
        "| {:<52} | {:>14.1} |",
        "connections opened per second",
        opened as f64 / opening.as_secs_f64()
    );
    println!(
        "| {:<52} | {:>14.0} |",
        "server resident memory, idle (MB)", loaded
    );
    println!(
        "| {:<52} | {:>14.1} |",
        "server memory per connection (KB)", per_connection_kb
    );
    println!(
        "| {:<52} | {:>14} |",
        format!("broadcast to {}: delivered", LISTENERS.min(opened)),
        latencies.len()
    );
    println!(
        "| {:<52} | {:>14.1} |",
        "delivery latency P50 (ms)",
        percentile(&latencies, 0.5)
    );
    println!(
        "| {:<52} | {:>14.1} |",
        "delivery latency P99 (ms)",
        percentile(&latencies, 0.99)
    );
    println!(
        "| {:<52} | {:>14.0} |",
        "in-process hub delivery (messages/s)", in_process
    );
    println!(
        "targets: 50,000 connections under 1 GB (20 KB each); P99 under 250 ms; latency is from the \
         notification's creation to its receipt"
    );
    for reader in readers {
        reader.abort();
    }
    drop(server);
    Ok(())
}
