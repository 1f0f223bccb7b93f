//! Notifications (made from events, grouped, listed, read, live) and `/ws` over a real socket:
//! authentication, origins, subscriptions under the REST visibility rules, live comments,
//! counts and tallies, replay after a reconnect, limits, and sessions ending; and two
//! processes delivering each other's events through Redis.

use crate::helpers::{Account, Options, TestApp};
use crate::moderation::{moderator, queue, report, resolve};
use axum::http::{Method, StatusCode};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use veilgram_testkit::TestDatabase;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Serves the app's router on a loopback port for the life of the test.
async fn listen(app: &TestApp) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let router = app.router.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    address
}

async fn open(
    address: &str,
    origin: Option<&str>,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let mut request = format!("ws://{address}/ws").into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

async fn send(socket: &mut Socket, value: Value) {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}

/// The next JSON text message (pings skipped), within five seconds.
async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a message within 5 s")
            .expect("the socket is open")
            .unwrap();
        match message {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

/// Waits for the server to close the socket; answers the close code.
async fn closed(socket: &mut Socket) -> Option<CloseCode> {
    loop {
        match tokio::time::timeout(Duration::from_secs(6), socket.next())
            .await
            .expect("closed within 6 s")
        {
            Some(Ok(Message::Close(frame))) => return frame.map(|frame| frame.code),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return None,
        }
    }
}

async fn signed_in(address: &str, account: &Account) -> Socket {
    let mut socket = open(address, None).await.unwrap();
    send(
        &mut socket,
        json!({ "type": "auth", "token": account.access_token }),
    )
    .await;
    let ready = next(&mut socket).await;
    assert_eq!(ready["type"], "ready", "{ready}");
    socket
}

async fn notifications_are_made_grouped_listed_read_and_pushed(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let address = listen(&app).await;
    let author = app.signup(None).await;
    let fan = app.signup(None).await;
    let other = app.signup(None).await;
    let mut socket = signed_in(&address, &author).await;
    let post = app
        .post_text(&author.access_token, "notice me", "public")
        .await;
    for (who, path, body) in [
        (&fan, format!("/api/v1/posts/{post}/like"), json!({})),
        (
            &fan,
            format!("/api/v1/posts/{post}/comments"),
            json!({ "text": "hi @nobody" }),
        ),
        (
            &fan,
            format!("/api/v1/users/{}/follow", author.user_id),
            json!({}),
        ),
        (&author, format!("/api/v1/posts/{post}/like"), json!({})),
    ] {
        let response = app.post(&path, body, Some(&who.access_token)).await;
        assert!(response.status.is_success(), "{}", response.text);
    }
    app.drain_events().await;
    let mut live = Vec::new();
    for _ in 0..3 {
        let event = next(&mut socket).await;
        assert_eq!(
            (event["type"].as_str(), event["event"].as_str()),
            (Some("event"), Some("notification"))
        );
        assert_eq!(event["channel"], format!("user:{}", author.user_id));
        live.push(event["data"]["type"].as_str().unwrap().to_owned());
    }
    live.sort();
    assert_eq!(
        live,
        ["comment", "follow", "like"],
        "no notification of one's own like"
    );

    let second_like = app
        .post(
            &format!("/api/v1/posts/{post}/like"),
            json!({}),
            Some(&other.access_token),
        )
        .await;
    assert!(second_like.status.is_success());
    app.drain_events().await;
    app.drain_events().await; // a redelivery changes nothing
    let list = app
        .get("/api/v1/notifications", Some(&author.access_token))
        .await;
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{}", list.text);
    assert_eq!(
        (items[0]["type"].as_str(), items[0]["actors"].as_i64()),
        (Some("like"), Some(2)),
        "grouped"
    );
    assert_eq!(items[0]["actor"], other.user_id.as_str());
    let count = app
        .get(
            "/api/v1/notifications/unread_count",
            Some(&author.access_token),
        )
        .await;
    assert_eq!(count.body["count"], 3);
    let oldest = items[2]["id"].as_str().unwrap();
    let read = app
        .post(
            "/api/v1/notifications/read",
            json!({ "up_to_id": oldest }),
            Some(&author.access_token),
        )
        .await;
    assert_eq!(read.status, StatusCode::NO_CONTENT);
    let count = app
        .get(
            "/api/v1/notifications/unread_count",
            Some(&author.access_token),
        )
        .await;
    assert_eq!(count.body["count"], 2);
    let page = app
        .get("/api/v1/notifications?limit=2", Some(&author.access_token))
        .await;
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/api/v1/notifications?cursor={cursor}"),
            Some(&author.access_token),
        )
        .await;
    assert_eq!(rest.body["items"][0]["read"], true);
    let bad = app
        .get(
            "/api/v1/notifications?cursor=nope",
            Some(&author.access_token),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // A block hides what the blocked person caused; an anonymous thread hides who commented.
    let blocked = app
        .post(
            &format!("/api/v1/users/{}/block", fan.user_id),
            json!({}),
            Some(&author.access_token),
        )
        .await;
    assert!(blocked.status.is_success());
    let list = app
        .get("/api/v1/notifications", Some(&author.access_token))
        .await;
    assert!(list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|item| item["actor"] != fan.user_id.as_str()));
    let thread = app
        .post(
            "/api/v1/posts",
            json!({ "text": "ask", "anonymous_thread": true }),
            Some(&author.access_token),
        )
        .await;
    let thread = thread.body["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/posts/{thread}/comments"),
        json!({ "text": "secret" }),
        Some(&other.access_token),
    )
    .await;
    app.drain_events().await;
    let list = app
        .get("/api/v1/notifications", Some(&author.access_token))
        .await;
    assert_eq!(list.body["items"][0]["type"], "comment");
    assert_eq!(list.body["items"][0]["actor"], Value::Null, "{}", list.text);
    assert!(!next(&mut socket).await.to_string().contains(&other.user_id));
}

async fn moderation_reaches_the_authors_sockets(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let address = listen(&app).await;
    let author = app.signup(None).await;
    let reader = app.signup(None).await;
    let judge = moderator(&app).await;
    let post = app
        .post_text(&author.access_token, "reported", "public")
        .await;
    report(
        &app,
        &format!("/api/v1/posts/{post}/report"),
        "spam",
        &reader,
    )
    .await;
    app.drain_events().await;
    let mut socket = signed_in(&address, &author).await;
    let groups = queue(&app, "", &judge.access_token).await;
    let report_id = groups["items"][0]["id"].as_str().unwrap();
    assert_eq!(
        resolve(&app, report_id, "hide", &judge.access_token).await,
        StatusCode::NO_CONTENT
    );
    app.drain_events().await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let event = next(&mut socket).await;
        assert_eq!(event["channel"], format!("user:{}", author.user_id));
        assert!(event["id"].is_string());
        seen.push(json!([
            event["event"],
            event["data"]["post_id"],
            event["data"]["action"],
            event["data"]["type"]
        ]));
    }
    seen.sort_by_key(|event| event.to_string());
    assert_eq!(
        seen,
        vec![
            json!(["moderation.changed", post, "hide", null]),
            json!(["notification", post, null, "moderation"]),
        ]
    );
}

async fn sockets_follow_what_their_user_may_see(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let address = listen(&app).await;
    let author = app.signup(None).await;
    let viewer = app.signup(None).await;

    // Origins: the allowlist and the server itself, nothing else.
    assert!(open(&address, Some("https://evil.example")).await.is_err());
    assert!(open(&address, Some("https://app.example")).await.is_ok());
    assert!(open(&address, Some(&format!("http://{address}")))
        .await
        .is_ok());
    // Authentication comes first, and only from the first message.
    let mut anonymous = open(&address, None).await.unwrap();
    send(&mut anonymous, json!({ "type": "ping" })).await;
    assert_eq!(closed(&mut anonymous).await, Some(CloseCode::Policy));
    let mut forged = open(&address, None).await.unwrap();
    send(
        &mut forged,
        json!({ "type": "auth", "token": "not-a-token" }),
    )
    .await;
    assert_eq!(next(&mut forged).await["code"], "unauthorized");

    let created = app
        .post(
            "/api/v1/posts",
            json!({ "text": "vote!", "poll": { "options": ["a", "b"], "closes_in_seconds": 3600 } }),
            Some(&author.access_token),
        )
        .await;
    let post = created.body["id"].as_str().unwrap().to_owned();
    let poll = created.body["poll"]["id"].as_str().unwrap().to_owned();
    let hidden = app
        .post_text(&author.access_token, "followers only", "followers")
        .await;
    let mut socket = signed_in(&address, &viewer).await;
    send(
        &mut socket,
        json!({ "type": "subscribe", "channel": format!("post:{hidden}") }),
    )
    .await;
    assert_eq!(
        next(&mut socket).await["code"],
        "not_found",
        "as the REST API would answer"
    );
    send(
        &mut socket,
        json!({ "type": "subscribe", "channel": format!("user:{}", author.user_id) }),
    )
    .await;
    assert_eq!(next(&mut socket).await["code"], "not_found");
    for channel in [format!("post:{post}"), format!("poll:{poll}")] {
        send(
            &mut socket,
            json!({ "type": "subscribe", "channel": channel }),
        )
        .await;
        assert_eq!(next(&mut socket).await["type"], "subscribed");
    }
    send(&mut socket, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut socket).await["type"], "pong");
    socket
        .send(Message::Text("{not json".into()))
        .await
        .unwrap();
    assert_eq!(next(&mut socket).await["code"], "bad_message");
    send(&mut socket, json!({ "type": "dance" })).await;
    assert_eq!(next(&mut socket).await["code"], "bad_message");
    socket
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(next(&mut socket).await["code"], "bad_message");

    app.post(
        &format!("/api/v1/posts/{post}/comments"),
        json!({ "text": "first" }),
        Some(&author.access_token),
    )
    .await;
    app.post(
        &format!("/api/v1/polls/{poll}/votes"),
        json!({ "option_index": 1 }),
        Some(&author.access_token),
    )
    .await;
    app.drain_events().await;
    let comment = next(&mut socket).await;
    assert_eq!(
        (comment["event"].as_str(), comment["channel"].as_str()),
        (
            Some("comment.created"),
            Some(format!("post:{post}").as_str())
        )
    );
    assert!(!comment.to_string().contains("first"), "ids only, no text");
    let counts = next(&mut socket).await;
    assert_eq!(
        (
            counts["event"].as_str(),
            counts["data"]["comment_count"].as_i64()
        ),
        (Some("post.updated"), Some(1))
    );
    let tally = next(&mut socket).await;
    assert_eq!(tally["event"], "poll.updated");
    assert_eq!(tally["data"]["options"][1]["votes"], 1);
    assert!(
        !tally.to_string().contains(&author.user_id),
        "never who voted"
    );

    // A reconnecting client gets what it missed since an id, or is told to refetch.
    let since = comment["id"].as_str().unwrap().to_owned();
    drop(socket);
    let mut again = signed_in(&address, &viewer).await;
    send(
        &mut again,
        json!({ "type": "subscribe", "channel": format!("post:{post}"), "since": since }),
    )
    .await;
    assert_eq!(next(&mut again).await["type"], "subscribed");
    assert_eq!(
        next(&mut again).await,
        counts,
        "what came after the comment, replayed"
    );
    send(
        &mut again,
        json!({ "type": "subscribe", "channel": format!("poll:{poll}"), "since": "0190-unknown" }),
    )
    .await;
    assert_eq!(next(&mut again).await["type"], "subscribed");
    assert_eq!(next(&mut again).await["type"], "refetch");

    // Limits: a message over 4 KiB, and a flood of messages.
    let mut big = signed_in(&address, &viewer).await;
    big.send(Message::Text("x".repeat(5 * 1024).into()))
        .await
        .unwrap();
    assert_eq!(closed(&mut big).await, Some(CloseCode::Size));
    let mut flood = signed_in(&address, &viewer).await;
    for _ in 0..30 {
        if flood
            .send(Message::Text(json!({ "type": "ping" }).to_string().into()))
            .await
            .is_err()
        {
            break;
        }
    }
    let mut code = None;
    while code.is_none() {
        match tokio::time::timeout(Duration::from_secs(5), flood.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Close(frame))) => code = frame.map(|frame| frame.code),
            Some(Ok(_)) => {}
            _ => break,
        }
    }
    assert_eq!(code, Some(CloseCode::Policy));

    // Logging out closes the user's sockets within five seconds.
    let logout = app
        .post("/api/v1/auth/logout", json!({}), Some(&viewer.access_token))
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    assert_eq!(closed(&mut again).await, Some(CloseCode::Policy));
    // So does deleting the account.
    let mut authors = signed_in(&address, &author).await;
    let deleted = app
        .call(
            Method::DELETE,
            "/api/v1/users/me",
            None,
            Some(&author.access_token),
        )
        .await;
    assert!(deleted.status.is_success(), "{}", deleted.text);
    assert_eq!(closed(&mut authors).await, Some(CloseCode::Policy));
}

/// A new post is announced to its author and to the followers this process serves: those
/// connected, and those away whose channel is kept (they get it when they reconnect); to
/// nobody else.
async fn new_posts_reach_the_followers_each_process_serves(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let address = listen(&app).await;
    let [author, fan, away, stranger] = [(); 4].map(|()| app.signup(None));
    let (author, fan, away, stranger) = (author.await, fan.await, away.await, stranger.await);
    let follow = |who: &Account, whom: &Account| {
        let (token, user_id) = (who.access_token.clone(), whom.user_id.clone());
        let app = &app;
        async move {
            app.follow(&token, &user_id).await;
            app.drain_events().await;
        }
    };
    follow(&fan, &author).await;
    follow(&away, &author).await;
    // Away has never connected, but a notification of theirs keeps their channel.
    follow(&author, &away).await;
    let notifications = app
        .get("/api/v1/notifications", Some(&away.access_token))
        .await;
    let last_seen = notifications.body["items"][0]["id"].clone();
    assert!(last_seen.is_string(), "{}", notifications.text);
    let mut authors = signed_in(&address, &author).await;
    let mut fans = signed_in(&address, &fan).await;
    let mut strangers = signed_in(&address, &stranger).await;

    let post = app
        .post_text(&author.access_token, "hello", "followers")
        .await;
    app.drain_events().await;
    for (socket, account) in [(&mut authors, &author), (&mut fans, &fan)] {
        let event = next(socket).await;
        assert_eq!(event["event"], "post.created", "{event}");
        assert_eq!(event["channel"], format!("user:{}", account.user_id));
        assert_eq!(event["data"]["post_id"], post.as_str());
        assert_eq!(event["data"]["author_id"], author.user_id.as_str());
    }
    // The stranger's next event is the one meant for them: the post was not (and the bus
    // delivers in order, so the post's announcement is behind us).
    follow(&author, &stranger).await;
    let event = next(&mut strangers).await;
    assert_eq!(event["event"], "notification", "{event}");

    // Connecting, the follower who was away is told of the post.
    let mut back = open(&address, None).await.unwrap();
    send(
        &mut back,
        json!({ "type": "auth", "token": away.access_token, "since": last_seen }),
    )
    .await;
    assert_eq!(next(&mut back).await["type"], "ready");
    let missed = next(&mut back).await;
    assert_eq!(missed["event"], "post.created", "{missed}");
    assert_eq!(missed["data"]["post_id"], post.as_str());
}

/// Two processes share PostgreSQL and Redis: a user connected to A sees, within a second, a
/// comment posted through B; a follower connected to A hears of a post B's relay announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_deliver_each_others_events_through_redis() {
    let database = TestDatabase::postgres().await;
    let url = veilgram_testkit::cache::redis_url();
    let bus = |url: String| async move {
        let bus = veilgram_cache::RedisPubSub::connect(&url).await.unwrap();
        bus.wait_subscribed().await;
        Arc::new(bus) as Arc<dyn veilgram_core::pubsub::PubSub>
    };
    let first = TestApp::with_options(
        &database,
        Options {
            pubsub: Some(bus(url.clone()).await),
            ..Options::default()
        },
    )
    .await;
    let second = first
        .second_process_with(
            &database,
            Options {
                pubsub: Some(bus(url).await),
                ..Options::default()
            },
        )
        .await;
    let address = listen(&first).await;
    let author = first.signup(None).await;
    let commenter = second.signup(None).await;
    let fan = second.signup(None).await;
    second.follow(&fan.access_token, &author.user_id).await;
    second.drain_events().await;
    let mut fans = signed_in(&address, &fan).await;
    let post = first
        .post_text(&author.access_token, "across processes", "public")
        .await;
    let mut socket = signed_in(&address, &author).await;
    send(
        &mut socket,
        json!({ "type": "subscribe", "channel": format!("post:{post}") }),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "subscribed");

    let comment = second
        .post(
            &format!("/api/v1/posts/{post}/comments"),
            json!({ "text": "from B" }),
            Some(&commenter.access_token),
        )
        .await;
    assert_eq!(comment.status, StatusCode::CREATED);
    let started = std::time::Instant::now();
    second.drain_events().await; // B's relay publishes
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let event = next(&mut socket).await;
        seen.push(event["event"].as_str().unwrap().to_owned());
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    seen.sort();
    assert_eq!(
        seen,
        [
            "comment.created",
            "notification",
            "post.created",
            "post.updated"
        ]
    );
    // B's relay announced the post to A's connected follower with one bus message.
    let announced = next(&mut fans).await;
    assert_eq!(announced["event"], "post.created", "{announced}");
    assert_eq!(announced["data"]["post_id"], post.as_str());
}

/// A poll's author and voters hear that it closed, once.
async fn closed_polls_notify_their_author_and_voters(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let author = app.signup(None).await;
    let voter = app.signup(None).await;
    let bystander = app.signup(None).await;
    let created = app
        .post(
            "/api/v1/posts",
            json!({ "text": "quick poll", "poll": { "options": ["x", "y"], "closes_in_seconds": 300 } }),
            Some(&author.access_token),
        )
        .await;
    let poll = created.body["poll"]["id"].as_str().unwrap();
    let voted = app
        .post(
            &format!("/api/v1/polls/{poll}/votes"),
            json!({ "option_index": 0 }),
            Some(&voter.access_token),
        )
        .await;
    assert_eq!(voted.status, StatusCode::OK);
    let polls = veilgram_polls::PollsService::new(
        Arc::clone(&app.store) as Arc<dyn veilgram_core::ports::PollStore>
    );
    let now = veilgram_core::Timestamp::now();
    assert_eq!(polls.announce_closed(now).await.unwrap(), 0, "still open");
    let later = now.plus(Duration::from_secs(301));
    assert_eq!(polls.announce_closed(later).await.unwrap(), 1);
    assert_eq!(polls.announce_closed(later).await.unwrap(), 0, "once");
    app.drain_events().await;
    for (account, expected) in [(&author, 1), (&voter, 1), (&bystander, 0)] {
        let list = app
            .get("/api/v1/notifications", Some(&account.access_token))
            .await;
        let closed: Vec<&Value> = list.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|item| item["type"] == "poll_closed")
            .collect();
        assert_eq!(closed.len(), expected, "{}", list.text);
        if let Some(item) = closed.first() {
            assert_eq!(item["actor"], Value::Null);
            assert_eq!(item["post_id"], created.body["id"]);
        }
    }
}

/// Nothing live about an anonymous thread names an account: not the thread's channel, not the
/// author's own channel, not the notifications (listed or live) for comments, replies,
/// mentions or likes there.
async fn anonymous_threads_name_nobody_live(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let address = listen(&app).await;
    let author = app.signup(Some("thread_owner")).await;
    let watcher = app.signup(None).await;
    let secret = app.signup(Some("hidden_person")).await;
    let thread = app
        .post(
            "/api/v1/posts",
            json!({ "text": "ask", "anonymous_thread": true }),
            Some(&author.access_token),
        )
        .await;
    let thread = thread.body["id"].as_str().unwrap().to_owned();
    let mut owner = signed_in(&address, &author).await;
    let mut onlooker = signed_in(&address, &watcher).await;
    for socket in [&mut owner, &mut onlooker] {
        send(
            socket,
            json!({ "type": "subscribe", "channel": format!("post:{thread}") }),
        )
        .await;
        assert_eq!(next(socket).await["type"], "subscribed");
    }
    let mine = app
        .post(
            &format!("/api/v1/posts/{thread}/comments"),
            json!({ "text": "question" }),
            Some(&author.access_token),
        )
        .await;
    let mine = mine.body["id"].as_str().unwrap().to_owned();
    // A comment, a reply to the author's comment mentioning them, a like of the post and one
    // of the author's comment, all by the same hidden person.
    let comments = format!("/api/v1/posts/{thread}/comments");
    for (path, body) in [
        (comments.clone(), json!({ "text": "hello" })),
        (
            comments.clone(),
            json!({ "text": "@thread_owner answer", "parent_id": mine }),
        ),
        (format!("/api/v1/posts/{thread}/like"), json!({})),
        (format!("/api/v1/comments/{mine}/like"), json!({})),
    ] {
        let done = app.post(&path, body, Some(&secret.access_token)).await;
        assert!(done.status.is_success(), "{path}: {}", done.text);
    }
    app.drain_events().await;
    let names = [secret.user_id.as_str(), "hidden_person"];
    let leaks = |message: &Value| names.iter().any(|name| message.to_string().contains(name));
    // The owner hears of the comment, the reply and the like (grouped kinds may merge), and the
    // thread's counts; the onlooker the thread's events. Read until the like's notification and
    // the last count.
    let mut heard = Vec::new();
    while !heard
        .iter()
        .any(|message: &Value| message["data"]["type"] == "like")
    {
        let message = next(&mut owner).await;
        assert!(
            !leaks(&message),
            "the owner's socket named the person: {message}"
        );
        heard.push(message);
    }
    assert!(heard
        .iter()
        .any(|message| message["data"]["type"] == "reply"));
    loop {
        let message = next(&mut onlooker).await;
        assert!(
            !leaks(&message),
            "the thread's channel named the person: {message}"
        );
        if message["event"] == "post.updated" && message["data"]["like_count"] == 1 {
            break;
        }
    }
    let listed = app
        .get("/api/v1/notifications", Some(&author.access_token))
        .await;
    let items = listed.body["items"].as_array().unwrap();
    assert!(items.len() >= 3, "{}", listed.text);
    for item in items {
        assert_eq!(item["actor"], Value::Null, "{item}");
        assert!(!leaks(item), "{item}");
    }
}

veilgram_testkit::for_each_engine!(
    anonymous_threads_name_nobody_live,
    closed_polls_notify_their_author_and_voters,
    moderation_reaches_the_authors_sockets,
    notifications_are_made_grouped_listed_read_and_pushed,
    new_posts_reach_the_followers_each_process_serves,
    sockets_follow_what_their_user_may_see,
);

/// With Redis gone, sockets stay up and a process's own events still reach its sockets; when
/// Redis is back, events cross processes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_keeps_local_delivery_and_cross_process_delivery_resumes() {
    let database = TestDatabase::sqlite();
    let mut redis = crate::helpers::OwnRedis::start_anywhere();
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let bus_a = Arc::new(veilgram_cache::RedisPubSub::connect(&url).await.unwrap());
    let bus_b = Arc::new(veilgram_cache::RedisPubSub::connect(&url).await.unwrap());
    bus_a.wait_subscribed().await;
    bus_b.wait_subscribed().await;
    let first = TestApp::with_options(
        &database,
        Options {
            pubsub: Some(bus_a.clone()),
            ..Options::default()
        },
    )
    .await;
    let second = first
        .second_process_with(
            &database,
            Options {
                pubsub: Some(bus_b.clone()),
                ..Options::default()
            },
        )
        .await;
    let address = listen(&first).await;
    let author = first.signup(None).await;
    let post = first
        .post_text(&author.access_token, "outage", "public")
        .await;
    first.drain_events().await;
    let mut socket = signed_in(&address, &author).await;
    send(
        &mut socket,
        json!({ "type": "subscribe", "channel": format!("post:{post}") }),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "subscribed");
    let before = bus_a.subscription();
    redis.stop();
    comment_and_see_it(&first, &author, &post, &mut socket).await;
    let mut redis = crate::helpers::OwnRedis::start(redis.port);
    bus_a.wait_subscribed_after(before).await;
    comment_and_see_it(&second, &author, &post, &mut socket).await;
    redis.stop();
}

/// Comments on `post` through `app`, runs its consumers, and waits for the socket to hear it.
async fn comment_and_see_it(app: &TestApp, author: &Account, post: &str, socket: &mut Socket) {
    let path = format!("/api/v1/posts/{post}/comments");
    let created = app
        .post(
            &path,
            json!({ "text": "hello" }),
            Some(&author.access_token),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    app.drain_events().await;
    let comment = created.body["id"].as_str().unwrap();
    loop {
        let event = next(socket).await;
        if event["event"] == "comment.created" && event["data"]["comment_id"] == comment {
            return;
        }
    }
}
