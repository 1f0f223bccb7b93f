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
    let mut answers = Vec::new();
    while answers.len() < 2 {
        if let Some(Ok(Message::Text(text))) = socket.next().await {
            answers.push(serde_json::from_str::<Value>(text.as_str()).unwrap()["type"].clone());
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
