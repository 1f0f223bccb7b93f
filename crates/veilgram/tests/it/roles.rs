//! Process roles as a deployment runs them: several real `veilgram serve` processes on one
//! PostgreSQL and one Redis, each running some roles; consumer groups handled once, and taken
//! over when the process holding them dies; SIGTERM draining every role.

use crate::{Server, StartOptions};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use veilgram_testkit::TestDatabase;

/// A counter's value in a process's `/metrics` (0 when absent).
async fn metric(server: &Server, name: &str) -> u64 {
    server
        .metrics()
        .await
        .lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}

fn start(
    database: &TestDatabase,
    redis_url: &str,
    roles: &str,
    directory: &tempfile::TempDir,
) -> Server {
    Server::start(StartOptions {
        data_dir: Some(directory.path()),
        database_url: Some(database.url().as_str()),
        environment: vec![("VEILGRAM_REDIS_URL", redis_url), ("VEILGRAM_ROLES", roles)],
        ..StartOptions::default()
    })
}

async fn signup(server: &Server, nickname: &str) -> Value {
    let (status, account) = server
        .request(
            "POST",
            "/api/v1/auth/signup",
            Some(&json!({ "nickname": nickname })),
            None,
        )
        .await;
    assert_eq!(status, 201, "{account}");
    account
}

/// Polls `check` every 50 ms until it holds, for at most `within`; answers how long it took.
async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(50));
    loop {
        ticker.tick().await;
        if check().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{what} did not happen within {within:?}"
        );
    }
}

/// The ids of the posts on `account`'s home feed, through `server`.
async fn home(server: &Server, account: &Value) -> Vec<String> {
    let (_, page) = server
        .request(
            "GET",
            "/api/v1/feed/home?limit=100",
            None,
            account["access_token"].as_str(),
        )
        .await;
    page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// How many notifications `account` has about `post`.
async fn notifications_about(server: &Server, account: &Value, post: &str) -> usize {
    let (_, page) = server
        .request(
            "GET",
            "/api/v1/notifications?limit=100",
            None,
            account["access_token"].as_str(),
        )
        .await;
    page["items"].as_array().map_or(0, |items| {
        items.iter().filter(|item| item["post_id"] == post).count()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_spread_over_processes_act_once_and_survive_a_crash() {
    let database = TestDatabase::postgres().await;
    let redis_url = veilgram_testkit::cache::redis_url();
    let directories: Vec<tempfile::TempDir> =
        (0..6).map(|_| tempfile::tempdir().unwrap()).collect();
    let api = [
        start(&database, &redis_url, "api", &directories[0]),
        start(&database, &redis_url, "api", &directories[1]),
    ];
    let realtime = start(&database, &redis_url, "realtime", &directories[2]);
    let mut consumers = [
        start(&database, &redis_url, "consumers", &directories[3]),
        start(&database, &redis_url, "consumers", &directories[4]),
    ];
    let _jobs = start(&database, &redis_url, "jobs,periodic", &directories[5]);
    // Only the roles asked for: no API on the realtime process, no HTTP at all on consumers.
    let (status, _) = realtime
        .request("POST", "/api/v1/auth/signup", Some(&json!({})), None)
        .await;
    assert_eq!(status, 404);
    assert!(consumers[0].address.is_empty());

    let author = signup(&api[0], "roles_author").await;
    let mut fans = Vec::new();
    for index in 0..3 {
        let fan = signup(&api[1], &format!("roles_fan{index}")).await;
        let follow = format!(
            "/api/v1/users/{}/follow",
            author["user_id"].as_str().unwrap()
        );
        let (status, _) = api[1]
            .request("POST", &follow, None, fan["access_token"].as_str())
            .await;
        assert_eq!(status, 204);
        fans.push(fan);
    }
    // The first fan listens on the realtime process.
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", realtime.address))
        .await
        .unwrap();
    socket
        .send(Message::Text(
            json!({ "type": "auth", "token": fans[0]["access_token"] })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let ready = socket.next().await.unwrap().unwrap();
    assert!(ready.to_string().contains("ready"), "{ready}");

    let post = |text: String| {
        let api = &api[0];
        let token = author["access_token"].as_str().unwrap().to_owned();
        async move {
            let (status, created) = api
                .request(
                    "POST",
                    "/api/v1/posts",
                    Some(&json!({ "text": text })),
                    Some(&token),
                )
                .await;
            assert_eq!(status, 201, "{created}");
            created["id"].as_str().unwrap().to_owned()
        }
    };
    let first = post("hello @roles_fan1".to_owned()).await;
    for fan in &fans {
        eventually(
            Duration::from_secs(10),
            "the post reaching a home feed",
            || async { home(&api[1], fan).await.contains(&first) },
        )
        .await;
    }
    let live = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(Ok(Message::Text(text))) = socket.next().await {
                let event: Value = serde_json::from_str(text.as_str()).unwrap();
                if event["event"] == "post.created" {
                    return event;
                }
            }
        }
    })
    .await
    .expect("a live post.created on the realtime process");
    assert_eq!(live["data"]["post_id"], first.as_str());
    eventually(
        Duration::from_secs(10),
        "the mention's notification",
        || async { notifications_about(&api[0], &fans[1], &first).await == 1 },
    )
    .await;
    // Fanned out once, by one of the two consumer processes.
    eventually(Duration::from_secs(10), "the fan-out", || async {
        metric(&consumers[0], "veilgram_feed_fanout_posts_total").await
            + metric(&consumers[1], "veilgram_feed_fanout_posts_total").await
            >= 1
    })
    .await;
    let counts = [
        metric(&consumers[0], "veilgram_feed_fanout_posts_total").await,
        metric(&consumers[1], "veilgram_feed_fanout_posts_total").await,
    ];
    assert_eq!(counts.iter().sum::<u64>(), 1, "{counts:?}");

    // The holder of the fan-out group dies mid-stream: the other takes over, nothing is lost
    // and nothing happens twice.
    let holder = usize::from(counts[1] == 1);
    let mut burst = Vec::new();
    for index in 0..2 {
        burst.push(post(format!("burst {index} @roles_fan1")).await);
    }
    consumers[holder].kill_hard();
    let killed_at = Instant::now();
    for index in 2..5 {
        burst.push(post(format!("burst {index} @roles_fan1")).await);
    }
    let survivor = &consumers[1 - holder];
    // The survivor fans out at least the three posts made after the kill, and no post twice.
    eventually(Duration::from_secs(30), "the takeover", || async {
        metric(survivor, "veilgram_feed_fanout_posts_total").await >= 3
    })
    .await;
    let taken_over_in = killed_at.elapsed();
    for fan in &fans {
        eventually(
            Duration::from_secs(30),
            "the burst on every home feed",
            || async {
                let feed = home(&api[1], fan).await;
                burst.iter().all(|post| feed.contains(post))
            },
        )
        .await;
    }
    for post in &burst {
        eventually(
            Duration::from_secs(30),
            "each burst post's notification",
            || async { notifications_about(&api[0], &fans[1], post).await == 1 },
        )
        .await;
    }
    let fanned = metric(survivor, "veilgram_feed_fanout_posts_total").await;
    assert!(
        (3..=5).contains(&fanned),
        "the survivor fanned out {fanned} posts"
    );
    for post in &burst {
        assert_eq!(
            notifications_about(&api[0], &fans[1], post).await,
            1,
            "{post}"
        );
    }
    eprintln!(
        "roles: the surviving consumers process took the fan-out group over and fanned out the \
         posts made after the holder was killed {taken_over_in:?} after the kill"
    );
}

/// On SIGTERM, a consumers process finishes, commits and gives its groups up, and exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_every_role() {
    let database = TestDatabase::postgres().await;
    let redis_url = veilgram_testkit::cache::redis_url();
    let directories: Vec<tempfile::TempDir> =
        (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let api = start(&database, &redis_url, "api", &directories[0]);
    let mut first = start(
        &database,
        &redis_url,
        "consumers,jobs,periodic",
        &directories[1],
    );
    let author = signup(&api, "drain_author").await;
    let fan = signup(&api, "drain_fan").await;
    let follow = format!(
        "/api/v1/users/{}/follow",
        author["user_id"].as_str().unwrap()
    );
    api.request("POST", &follow, None, fan["access_token"].as_str())
        .await;
    let (_, created) = api
        .request(
            "POST",
            "/api/v1/posts",
            Some(&json!({ "text": "before" })),
            author["access_token"].as_str(),
        )
        .await;
    let before = created["id"].as_str().unwrap().to_owned();
    // (A home feed may show the post from the database before the fan-out: count it instead.)
    eventually(Duration::from_secs(10), "the first fan-out", || async {
        metric(&first, "veilgram_feed_fanout_posts_total").await == 1
    })
    .await;
    assert!(home(&api, &fan).await.contains(&before));
    first.terminate();
    assert!(first.wait_exit(Duration::from_secs(15)).success());
    first.wait_for_log("background work drained", Duration::from_secs(1));
    // Its leases were given up: a process started now takes the groups over at once, well
    // before they would have expired.
    let second = start(
        &database,
        &redis_url,
        "consumers,jobs,periodic",
        &directories[2],
    );
    let (_, created) = api
        .request(
            "POST",
            "/api/v1/posts",
            Some(&json!({ "text": "after" })),
            author["access_token"].as_str(),
        )
        .await;
    let after = created["id"].as_str().unwrap().to_owned();
    let took = eventually(
        Duration::from_secs(10),
        "the fan-out after the restart",
        || async { metric(&second, "veilgram_feed_fanout_posts_total").await >= 1 },
    )
    .await;
    assert!(home(&api, &fan).await.contains(&after));
    assert!(
        took < Duration::from_secs(2),
        "{took:?}: the leases were not released"
    );
    assert_eq!(metric(&second, "veilgram_feed_fanout_posts_total").await, 1);
}
