//! Live events across real processes: two `veilgram serve` sharing PostgreSQL and Redis.

use crate::server::Pair;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use veilgram_testkit::TestDatabase;

/// A user connected to process A sees, within a second, a comment posted through process B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_through_one_process_reaches_a_socket_on_another() {
    let database = TestDatabase::postgres().await;
    let redis_url = veilgram_testkit::cache::redis_url();
    let pair = Pair::start(
        database.url().as_str(),
        &[("VEILGRAM_REDIS_URL", redis_url.as_str())],
    );
    let (first, second) = (&pair.first, &pair.second);
    let (_, author) = first
        .request("POST", "/api/v1/auth/signup", Some(&json!({})), None)
        .await;
    let (_, commenter) = second
        .request("POST", "/api/v1/auth/signup", Some(&json!({})), None)
        .await;
    let token = author["access_token"].as_str().unwrap();
    let (status, post) = first
        .request(
            "POST",
            "/api/v1/posts",
            Some(&json!({ "text": "live?" })),
            Some(token),
        )
        .await;
    assert_eq!(status, 201);
    let post = post["id"].as_str().unwrap();

    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", first.address))
        .await
        .unwrap();
    for message in [
        json!({ "type": "auth", "token": token }),
        json!({ "type": "subscribe", "channel": format!("post:{post}") }),
    ] {
        socket
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }
    // (The author's own channel may carry the post's announcement meanwhile.)
    let mut answers = Vec::new();
    while answers.len() < 2 {
        if let Some(Ok(Message::Text(text))) = socket.next().await {
            let kind = serde_json::from_str::<Value>(text.as_str()).unwrap()["type"].clone();
            if kind != "event" {
                answers.push(kind);
            }
        }
    }
    assert_eq!(answers, ["ready", "subscribed"]);

    let started = Instant::now();
    let (status, _) = second
        .request(
            "POST",
            &format!("/api/v1/posts/{post}/comments"),
            Some(&json!({ "text": "hello from B" })),
            commenter["access_token"].as_str(),
        )
        .await;
    assert_eq!(status, 201);
    let comment = loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a live event")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            let event: Value = serde_json::from_str(text.as_str()).unwrap();
            if event["event"] == "comment.created" {
                break event;
            }
        }
    };
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(comment["channel"], format!("post:{post}"));
}

/// Two processes with their own data directories on one PostgreSQL and one Redis share the
/// signing keys through the database: a token from either works on both, their JWKS are the
/// same, a logout through one closes a socket held by the other, and a key rotated through one
/// signs on the other within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_with_their_own_data_directories_share_one_key_ring() {
    let database = TestDatabase::postgres().await;
    let redis_url = veilgram_testkit::cache::redis_url();
    let pair = Pair::start(
        database.url().as_str(),
        &[("VEILGRAM_REDIS_URL", redis_url.as_str())],
    );
    let (first, second) = (&pair.first, &pair.second);
    let mut tokens = Vec::new();
    for server in [first, second] {
        let (status, account) = server
            .request("POST", "/api/v1/auth/signup", Some(&json!({})), None)
            .await;
        assert_eq!(status, 201, "{account}");
        tokens.push(account);
    }
    for account in &tokens {
        for server in [first, second] {
            let (status, me) = server
                .request(
                    "GET",
                    "/api/v1/users/me",
                    None,
                    account["access_token"].as_str(),
                )
                .await;
            assert_eq!(status, 200, "{me}");
        }
    }
    let jwks = |server: &crate::Server| {
        let address = server.address.clone();
        async move { crate::server::get_text(&address, "/.well-known/jwks.json").await }
    };
    let body = |text: String| text.split_once("\r\n\r\n").unwrap().1.to_owned();
    assert_eq!(body(jwks(first).await), body(jwks(second).await));

    // A socket on the first process; a logout through the second closes it.
    let account = &tokens[0];
    let token = account["access_token"].as_str().unwrap();
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", first.address))
        .await
        .unwrap();
    socket
        .send(Message::Text(
            json!({ "type": "auth", "token": token }).to_string().into(),
        ))
        .await
        .unwrap();
    let ready = socket.next().await.unwrap().unwrap();
    assert!(ready.to_string().contains("ready"), "{ready}");
    let (status, _) = second
        .request(
            "POST",
            "/api/v1/auth/logout",
            Some(&json!({ "refresh_token": account["refresh_token"] })),
            Some(token),
        )
        .await;
    assert_eq!(status, 204);
    let closed_within = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|frame| u16::from(frame.code)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("the socket closes within 5 s");
    assert_eq!(closed, Some(1008));
    let closed_within = closed_within.elapsed();

    // A rotation through the first process's configuration: the second signs with it soon.
    let kid = |token: &str| {
        use base64::Engine as _;
        let header = token.split('.').next().unwrap();
        let header: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(header)
                .unwrap(),
        )
        .unwrap();
        header["kid"].as_str().unwrap().to_owned()
    };
    let other = &tokens[1];
    let old_kid = kid(other["access_token"].as_str().unwrap());
    let rotated = crate::server::binary()
        .arg("rotate-signing-key")
        .env_clear()
        .env("VEILGRAM_DATA_DIR", pair.data_dir(0))
        .env("VEILGRAM_DATABASE_URL", database.url().as_str())
        .output()
        .unwrap();
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let rotated_at = Instant::now();
    // A login every 50 ms (tokens minted for one account in one second must differ).
    let mut ticker = tokio::time::interval(Duration::from_millis(50));
    let new_kid = loop {
        ticker.tick().await;
        let (_, refreshed) = second
            .request(
                "POST",
                "/api/v1/auth/login",
                Some(
                    &json!({ "user_id": other["user_id"], "recovery_key": other["recovery_key"] }),
                ),
                None,
            )
            .await;
        let token = refreshed["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{refreshed}"))
            .to_owned();
        if kid(&token) != old_kid {
            // Accepted by the first process too.
            let (status, _) = first
                .request("GET", "/api/v1/users/me", None, Some(&token))
                .await;
            assert_eq!(status, 200);
            break kid(&token);
        }
        assert!(
            rotated_at.elapsed() < Duration::from_secs(5),
            "the second process never signed with the rotated key"
        );
    };
    let switched_after = rotated_at.elapsed();
    assert!(
        switched_after < Duration::from_millis(1500),
        "{switched_after:?}"
    );
    assert_ne!(new_kid, old_kid);
    eprintln!(
        "shared keys: logout through B closed A's socket in {closed_within:?}; B signed with \
         the key rotated through A after {switched_after:?}"
    );
}
