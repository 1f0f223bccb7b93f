//! Denial of service by slow and greedy clients, against the real binary on loopback with
//! bounded loads: half-open requests, stalled bodies, idle keep-alives, and unauthenticated
//! WebSockets announcing huge frames. Attackers come from their own loopback addresses
//! (127.0.0.2 and up), so the per-address caps can be told from the overall ones.
//! Each test prints what it measured (server memory, how fast `/healthz` answered).

use crate::server::connect_from;
use crate::{Server, StartOptions};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The server process's resident memory, in MiB.
fn resident_mib(server: &Server) -> f64 {
    crate::server::memory_kib(server.child.id(), "VmRSS") as f64 / 1024.0
}

/// Open descriptors of the server process.
fn descriptors(server: &Server) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", server.child.id()))
        .unwrap()
        .count()
}

/// `/healthz` from 127.0.0.1 answers 200; answers how long it took.
async fn healthy(server: &Server) -> Duration {
    let started = Instant::now();
    let text = tokio::time::timeout(Duration::from_secs(5), server.get_text("/healthz"))
        .await
        .expect("/healthz answers within 5 s");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    started.elapsed()
}

/// Whether the server ends `stream` (EOF or reset) within `within`, reading whatever it sends.
async fn ended_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_cannot_take_the_server_down() {
    let directory = tempfile::tempdir().unwrap();
    let server = Server::start(StartOptions {
        data_dir: Some(directory.path()),
        environment: vec![
            ("VEILGRAM_HTTP__HEADER_TIMEOUT_SECONDS", "2"),
            ("VEILGRAM_HTTP__BODY_TIMEOUT_SECONDS", "2"),
            ("VEILGRAM_HTTP__MAX_CONNECTIONS_PER_ADDRESS", "64"),
        ],
        ..StartOptions::default()
    });
    let address = server.address.clone();
    healthy(&server).await;
    let (memory_before, descriptors_before) = (resident_mib(&server), descriptors(&server));

    // 1,000 half-open requests from one address: the server holds 64 and closes the rest at
    // once; everyone else is served meanwhile.
    let mut held = Vec::new();
    for _ in 0..1000 {
        let mut stream = connect_from(2, &address).await.unwrap();
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await;
        held.push(stream);
    }
    let healthz_under_load = healthy(&server).await;
    let descriptors_under_load = descriptors(&server);
    let memory_under_load = resident_mib(&server);
    assert!(
        descriptors_under_load < descriptors_before + 64 + 16,
        "the server holds {descriptors_under_load} descriptors (from {descriptors_before})"
    );
    // Every one of them ends: the shed ones at once, the held ones at the header timeout.
    let started = Instant::now();
    for stream in &mut held {
        assert!(ended_within(stream, Duration::from_secs(10)).await);
    }
    let all_closed_after = started.elapsed();
    drop(held);
    // The address's slots are given back: it is served again.
    let mut again = connect_from(2, &address).await.unwrap();
    again
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    again.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // A body that stops coming ends the request.
    let mut stalled = connect_from(3, &address).await.unwrap();
    stalled
        .write_all(
            b"POST /api/v1/auth/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"nick",
        )
        .await
        .unwrap();
    assert!(
        ended_within(&mut stalled, Duration::from_secs(10)).await,
        "a stalled body is not waited for forever"
    );
    // An idle kept-alive connection is closed too.
    let mut idle = connect_from(4, &address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    assert!(ended_within(&mut idle, Duration::from_secs(10)).await);
    let idle_closed_after = started.elapsed();
    assert!(
        idle_closed_after >= Duration::from_secs(1),
        "{idle_closed_after:?}"
    );
    eprintln!(
        "slow clients: server memory {memory_before:.1} MiB before, {memory_under_load:.1} MiB with \
         1,000 half-open requests from one address; descriptors {descriptors_before} -> \
         {descriptors_under_load}; /healthz from another address answered in \
         {healthz_under_load:?}; every half-open request ended within {all_closed_after:?}; an \
         idle keep-alive was closed after {idle_closed_after:?}"
    );
}

/// Under a low descriptor limit the server caps connections below it, so many half-open
/// requests never exhaust its descriptors: it keeps accepting, and serves again as soon as
/// they time out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_keeps_descriptors_free() {
    let directory = tempfile::tempdir().unwrap();
    let server = Server::start(StartOptions {
        data_dir: Some(directory.path()),
        environment: vec![
            ("VEILGRAM_HTTP__HEADER_TIMEOUT_SECONDS", "2"),
            ("VEILGRAM_HTTP__MAX_CONNECTIONS_PER_ADDRESS", "100000"),
        ],
        open_files_limit: Some(128),
        ..StartOptions::default()
    });
    healthy(&server).await;
    // 300 half-open requests: more than the 128 descriptors the process may hold.
    let mut held = Vec::new();
    for _ in 0..300 {
        let mut stream = connect_from(2, &server.address).await.unwrap();
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await;
        held.push(stream);
    }
    let most = descriptors(&server);
    assert!(
        most + 16 <= 128,
        "{most} descriptors open: fewer than 16 left free"
    );
    for stream in &mut held {
        assert!(ended_within(stream, Duration::from_secs(10)).await);
    }
    drop(held);
    let answered_in = healthy(&server).await;
    assert!(
        !server
            .logs()
            .iter()
            .any(|line| line.contains("out of file descriptors")),
        "the cap kept descriptors free"
    );
    eprintln!(
        "descriptor limit 128: {most} descriptors open under 300 half-open requests; /healthz \
         answered in {answered_in:?} once they had timed out"
    );
}

/// The opening handshake of a WebSocket on `/ws`; answers the status line.
async fn upgrade(stream: &mut TcpStream) -> String {
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A masked text frame's header announcing `length` bytes (the 64-bit length form).
fn frame_header(length: u64) -> Vec<u8> {
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&length.to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    header
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_websockets_cost_little_and_are_counted_per_address() {
    let directory = tempfile::tempdir().unwrap();
    let server = Server::start(StartOptions {
        data_dir: Some(directory.path()),
        ..StartOptions::default()
    });
    let address = server.address.clone();
    healthy(&server).await;
    let memory_before = resident_mib(&server);

    // 13 addresses open 16 sockets each (the cap), and each socket starts a 1 MiB first
    // message and sends 12 KiB of it: the server refuses the frame on its header.
    let mut sockets = Vec::new();
    for host in 2..15u8 {
        for _ in 0..16 {
            let mut stream = connect_from(host, &address).await.unwrap();
            assert!(upgrade(&mut stream).await.contains(" 101 "));
            let _ = stream.write_all(&frame_header(1 << 20)).await;
            let _ = stream.write_all(&[b'x'; 12 * 1024]).await;
            sockets.push(stream);
        }
    }
    let memory_under_load = resident_mib(&server);
    let healthz_under_load = healthy(&server).await;
    let started = Instant::now();
    for stream in &mut sockets {
        assert!(ended_within(stream, Duration::from_secs(10)).await);
    }
    let refused_within = started.elapsed();
    drop(sockets);

    // The cap: 16 sockets that say nothing from one address; the 17th is refused with 429.
    let mut quiet = Vec::new();
    for _ in 0..16 {
        let mut stream = connect_from(20, &address).await.unwrap();
        assert!(upgrade(&mut stream).await.contains(" 101 "));
        quiet.push(stream);
    }
    let mut one_more = connect_from(20, &address).await.unwrap();
    let status = upgrade(&mut one_more).await;
    assert!(status.contains(" 429 "), "{status}");
    // Another address is not affected.
    let mut elsewhere = connect_from(21, &address).await.unwrap();
    assert!(upgrade(&mut elsewhere).await.contains(" 101 "));
    // Sockets that never authenticate are closed at the deadline, which frees the address.
    let started = Instant::now();
    for stream in &mut quiet {
        assert!(ended_within(stream, Duration::from_secs(10)).await);
    }
    let deadline_after = started.elapsed();
    drop(quiet);
    let mut afterwards = connect_from(20, &address).await.unwrap();
    assert!(upgrade(&mut afterwards).await.contains(" 101 "));
    let memory_after = resident_mib(&server);
    assert!(
        memory_under_load - memory_before < 40.0,
        "208 unauthenticated sockets took the server from {memory_before:.1} MiB to \
         {memory_under_load:.1} MiB"
    );
    eprintln!(
        "unauthenticated sockets: server memory {memory_before:.1} MiB before, \
         {memory_under_load:.1} MiB with 208 sockets each 12 KiB into a 1 MiB frame, \
         {memory_after:.1} MiB after; /healthz answered in {healthz_under_load:?}; every such \
         socket was closed within {refused_within:?}; silent sockets were closed after \
         {deadline_after:?}"
    );
}

/// The server process's peak resident memory so far, in MiB.
fn peak_mib(server: &Server) -> f64 {
    crate::server::memory_kib(server.child.id(), "VmHWM") as f64 / 1024.0
}

/// Uploads `bytes`; answers the status.
async fn upload(address: &str, token: &str, bytes: &[u8]) -> u16 {
    crate::media::upload_raw(address, token, bytes).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decoding_stays_within_its_memory_budget() {
    let directory = tempfile::tempdir().unwrap();
    let server = Server::start(StartOptions {
        data_dir: Some(directory.path()),
        environment: vec![("VEILGRAM_MEDIA__DECODE_BUDGET_MB", "128")],
        ..StartOptions::default()
    });
    let (_, account) = server
        .request(
            "POST",
            "/api/v1/auth/signup",
            Some(&serde_json::json!({})),
            None,
        )
        .await;
    let token = account["access_token"].as_str().unwrap().to_owned();
    let peak_before = peak_mib(&server);

    // Four 7680×4320 PNGs at once, a few hundred KB each, about 200 MB each to decode: refused
    // from their headers, none decoded.
    let bomb = veilgram_testkit::samples::large_png(7680, 4320);
    let started = Instant::now();
    let statuses =
        futures_util::future::join_all((0..4).map(|_| upload(&server.address, &token, &bomb)))
            .await;
    let refused_in = started.elapsed();
    assert_eq!(statuses, vec![422; 4]);
    let peak_after_bombs = peak_mib(&server);
    assert!(
        peak_after_bombs - peak_before < 48.0,
        "refusing four bombs took the peak from {peak_before:.1} MiB to {peak_after_bombs:.1} MiB"
    );
    healthy(&server).await;

    // Four 3840×2160 PNGs at once are within it: they take turns, and all are stored.
    let photo = veilgram_testkit::samples::large_png(3840, 2160);
    let started = Instant::now();
    let statuses =
        futures_util::future::join_all((0..4).map(|_| upload(&server.address, &token, &photo)))
            .await;
    let stored_in = started.elapsed();
    assert_eq!(statuses, vec![201; 4]);
    let peak_after_photos = peak_mib(&server);
    assert!(
        peak_after_photos < peak_before + 128.0 + 64.0,
        "decoding took the peak from {peak_before:.1} MiB to {peak_after_photos:.1} MiB"
    );
    eprintln!(
        "decoding budget 128 MiB: peak memory {peak_before:.1} MiB before; {peak_after_bombs:.1} \
         MiB after four parallel 7680×4320 PNGs ({} KB each), refused in {refused_in:?}; \
         {peak_after_photos:.1} MiB after four parallel 3840×2160 PNGs, stored in {stored_in:?}",
        bomb.len() / 1000
    );
}

/// Signs up from `127.0.0.<host>`: (status, body).
async fn sign_up_from(server: &Server, host: u8) -> (u16, serde_json::Value) {
    server
        .request_from(
            host,
            "POST",
            "/api/v1/auth/signup",
            Some(&serde_json::json!({})),
            None,
        )
        .await
}

/// Waits until a sign-up from `host` answers `status` (a block made by another process shows
/// within the server's refresh of its copy).
async fn sign_up_answers(server: &Server, host: u8, status: u16) {
    let answered = veilgram_testkit::poll_until(Duration::from_secs(10), || async {
        (sign_up_from(server, host).await.0 == status).then_some(())
    })
    .await;
    assert!(answered.is_some(), "sign-up never answered {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_networks_may_read_not_write_and_are_kept_as_hashes_only() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(StartOptions {
        data_dir: Some(data.path()),
        ..StartOptions::default()
    });
    let (_, moderator) = sign_up_from(&server, 1).await;
    let moderator_token = moderator["access_token"].as_str().unwrap().to_owned();
    crate::server::run_subcommand(
        &["moderator", "grant", moderator["user_id"].as_str().unwrap()],
        data.path(),
    );
    let (_, member) = sign_up_from(&server, 7).await;
    let member_token = member["access_token"].as_str().unwrap().to_owned();

    // An operator blocks 127.0.0.7 from the command line, in a process of its own.
    crate::server::run_subcommand(
        &[
            "block-address",
            "127.0.0.7",
            "--for",
            "1h",
            "--reason",
            "spam wave",
        ],
        data.path(),
    );
    sign_up_answers(&server, 7, 403).await;
    let (status, body) = sign_up_from(&server, 7).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("address_blocked"))
    );
    let post = serde_json::json!({ "text": "buy now" });
    let (status, _) = server
        .request_from(7, "POST", "/api/v1/posts", Some(&post), Some(&member_token))
        .await;
    assert_eq!(status, 403, "a blocked network cannot post");
    let (status, _) = server
        .request_from(7, "GET", "/api/v1/users/me", None, Some(&member_token))
        .await;
    assert_eq!(status, 200, "it can still read");
    let (status, _) = sign_up_from(&server, 8).await;
    assert_eq!(status, 201, "the neighbour is not blocked");

    // Moderators see the kind of network and the reason, never the address.
    let (status, list) = server
        .request(
            "GET",
            "/api/v1/admin/address-blocks",
            None,
            Some(&moderator_token),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(
        (
            items[0]["family"].as_str(),
            items[0]["prefix"].as_u64(),
            items[0]["reason"].as_str()
        ),
        (Some("ipv4"), Some(32), Some("spam wave"))
    );
    assert!(!list.to_string().contains("127.0.0.7"), "{list}");
    let (status, _) = server
        .request(
            "GET",
            "/api/v1/admin/address-blocks",
            None,
            Some(&member_token),
        )
        .await;
    assert_eq!(status, 403, "members may not list blocks");
    // Nor does the database hold it, in any form a reader could recognise.
    for file in ["veilgram.db", "veilgram.db-wal"] {
        if let Ok(bytes) = std::fs::read(data.path().join(file)) {
            for needle in [&b"127.0.0.7"[..], &[127, 0, 0, 7][..]] {
                assert!(
                    !bytes.windows(needle.len()).any(|window| window == needle),
                    "{file} holds the address"
                );
            }
        }
    }

    // A moderator blocks a whole network through the API, then lifts the first block.
    for (network, seconds) in [("10.0.0.0/4", 60), ("127.0.0.0/8", 0), ("nonsense", 60)] {
        let body = serde_json::json!({ "network": network, "duration_seconds": seconds });
        let (status, answer) = server
            .request(
                "POST",
                "/api/v1/admin/address-blocks",
                Some(&body),
                Some(&moderator_token),
            )
            .await;
        assert_eq!(status, 400, "{network} for {seconds} s: {answer}");
    }
    let body = serde_json::json!({ "network": "127.0.0.8/31", "duration_seconds": 600 });
    let (status, network_block) = server
        .request(
            "POST",
            "/api/v1/admin/address-blocks",
            Some(&body),
            Some(&moderator_token),
        )
        .await;
    assert_eq!(status, 201, "{network_block}");
    assert_eq!(network_block["prefix"].as_u64(), Some(31));
    let (status, _) = sign_up_from(&server, 9).await;
    assert_eq!(status, 403, "127.0.0.9 is in 127.0.0.8/31");
    let (status, _) = sign_up_from(&server, 10).await;
    assert_eq!(status, 201, "127.0.0.10 is not");
    let first = items[0]["id"].as_str().unwrap();
    let (status, _) = server
        .request(
            "DELETE",
            &format!("/api/v1/admin/address-blocks/{first}"),
            None,
            Some(&moderator_token),
        )
        .await;
    assert_eq!(status, 204);
    let (status, body) = sign_up_from(&server, 7).await;
    assert_eq!(status, 201, "lifted at once: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_up_flood_blocks_its_address_for_a_while() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(StartOptions {
        data_dir: Some(data.path()),
        environment: vec![("VEILGRAM_RATE_LIMIT_SCALE", "1")],
        ..StartOptions::default()
    });
    let (_, early) = sign_up_from(&server, 20).await;
    let token = early["access_token"].as_str().unwrap().to_owned();
    // Five sign-ups per half hour are allowed; three times that again is a flood.
    let mut refused = 0;
    for _ in 0..16 {
        let (status, _) = sign_up_from(&server, 20).await;
        if status == 429 {
            refused += 1;
        }
    }
    assert!(refused >= 10, "{refused} sign-ups refused");
    let post = serde_json::json!({ "text": "hello" });
    let (status, body) = server
        .request_from(20, "POST", "/api/v1/posts", Some(&post), Some(&token))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("address_blocked")),
        "the flooding address is blocked from writing: {body}"
    );
    let (status, _) = server
        .request_from(
            21,
            "POST",
            "/api/v1/auth/signup",
            Some(&serde_json::json!({})),
            None,
        )
        .await;
    assert_eq!(status, 201, "others are not");
}
