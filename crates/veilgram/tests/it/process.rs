//! Start-up, configuration, engines, graceful shutdown, logs and key rotation of the real binary.

use crate::server::{binary, read_response, run_subcommand, Pair, Server, StartOptions};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use veilgram_testkit::TestDatabase;

fn kid_of(token: &str) -> String {
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[test]
fn an_unknown_database_scheme_is_refused_loudly() {
    let directory = tempfile::tempdir().unwrap();
    let output = binary()
        .arg("serve")
        .env_clear()
        .env("VEILGRAM_DATA_DIR", directory.path().join("data"))
        .env("VEILGRAM_DATABASE_URL", "mysql://localhost/veilgram")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unsupported database URL scheme \"mysql\""),
        "{stderr}"
    );
    assert!(
        !directory.path().join("data").exists(),
        "nothing may be created on refusal"
    );
}

#[test]
fn help_explains_the_subcommands() {
    let output = binary().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "serve",
        "migrate",
        "rotate-signing-key",
        "moderator",
        "VEILGRAM_DATABASE_URL",
        "VEILGRAM_REDIS_URL",
        "VEILGRAM_LISTEN",
        "VEILGRAM_DATA_DIR",
    ] {
        assert!(help.contains(expected), "--help lacks {expected}:\n{help}");
    }
}

#[test]
fn migrate_brings_the_database_up_to_date_and_is_repeatable() {
    let directory = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let output = run_subcommand(&["migrate"], directory.path());
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("database (sqlite) is at migration")
        );
    }
    assert!(directory.path().join("veilgram.db").exists());
}

#[tokio::test]
async fn serves_on_sqlite_and_finishes_in_flight_requests_on_sigterm() {
    let directory = tempfile::tempdir().unwrap();
    let mut server = Server::start(StartOptions {
        data_dir: Some(directory.path()),
        ..Default::default()
    });
    assert!(
        directory.path().join("veilgram.db").exists(),
        "the embedded default is SQLite in the data dir"
    );
    let (status, _) = server
        .request("POST", "/api/v1/auth/signup", Some(&json!({})), None)
        .await;
    assert_eq!(status, 201);

    // Send a request's head now and its body after SIGTERM: it is in flight when the signal lands.
    let started = |metrics: String| -> u64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix("veilgram_http_requests_started_total "))
            .and_then(|value| value.trim().parse().ok())
            .unwrap()
    };
    let before = started(server.metrics().await);
    let body = json!({ "nickname": "late_arrival" }).to_string();
    let mut stream = TcpStream::connect(&server.address).await.unwrap();
    let head = format!(
        "POST /api/v1/auth/signup HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // /metrics is the admin listener's and counts only the public one's requests: one more
    // started means the server has the request.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if started(server.metrics().await) > before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never received the request"
        );
    }
    server.terminate();
    server.wait_for_log("shutdown signal received", Duration::from_secs(10));
    stream.write_all(body.as_bytes()).await.unwrap();
    let (status, response) = read_response(&mut stream).await;
    assert_eq!(status, 201, "the in-flight request completes: {response}");
    assert!(server.wait_exit(Duration::from_secs(15)).success());
    // New connections are refused once it has stopped.
    assert!(TcpStream::connect(&server.address).await.is_err());
}

#[test]
fn an_unreachable_cache_stops_the_start_loudly() {
    let directory = tempfile::tempdir().unwrap();
    let output = binary()
        .arg("serve")
        .env_clear()
        .env("VEILGRAM_DATA_DIR", directory.path())
        .env("VEILGRAM_LISTEN", "127.0.0.1:0")
        .env("VEILGRAM_REDIS_URL", "redis://:hunter2@127.0.0.1:1")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot reach the redis cache"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the password leaked: {stderr}");
}

#[tokio::test]
async fn serves_on_postgresql_and_redis_when_the_urls_say_so() {
    let database = TestDatabase::postgres().await;
    let directory = tempfile::tempdir().unwrap();
    let redis_url = veilgram_testkit::cache::redis_url();
    let server = Server::start(StartOptions {
        data_dir: Some(directory.path()),
        database_url: Some(database.url().as_str()),
        environment: vec![("VEILGRAM_REDIS_URL", redis_url.as_str())],
        ..StartOptions::default()
    });
    let (status, signup) = server
        .request(
            "POST",
            "/api/v1/auth/signup",
            Some(&json!({ "nickname": "on_postgres" })),
            None,
        )
        .await;
    assert_eq!(status, 201);
    let (status, me) = server
        .request(
            "GET",
            "/api/v1/users/me",
            None,
            signup["access_token"].as_str(),
        )
        .await;
    assert_eq!(
        (status, me["nickname"].as_str()),
        (200, Some("on_postgres"))
    );
    let (status, ready) = server.request("GET", "/readyz", None, None).await;
    assert_eq!(
        (
            status,
            ready["checks"]["database"].as_str(),
            ready["checks"]["cache"].as_str()
        ),
        (200, Some("ok"), Some("ok"))
    );
    assert!(
        !directory.path().join("veilgram.db").exists(),
        "no SQLite file when PostgreSQL is configured"
    );
    let logs = server.logs();
    assert!(logs
        .iter()
        .any(|line| line.contains("\"engine\":\"postgres\"")));
    assert!(logs
        .iter()
        .any(|line| line.contains("\"adapter\":\"redis\"")));
}

#[tokio::test]
async fn logs_are_json_and_never_carry_secrets_or_client_addresses() {
    let directory = tempfile::tempdir().unwrap();
    let server = Server::start(StartOptions {
        data_dir: Some(directory.path()),
        ..Default::default()
    });
    let (_, signup) = server
        .request("POST", "/api/v1/auth/signup", Some(&json!({})), None)
        .await;
    let user_id = signup["user_id"].as_str().unwrap();
    let recovery_key = signup["recovery_key"].as_str().unwrap();
    let (_, login) = server
        .request(
            "POST",
            "/api/v1/auth/login",
            Some(&json!({ "user_id": user_id, "recovery_key": recovery_key })),
            None,
        )
        .await;
    let (_, refreshed) = server
        .request(
            "POST",
            "/api/v1/auth/refresh",
            Some(&json!({ "refresh_token": login["refresh_token"] })),
            None,
        )
        .await;
    server
        .request(
            "POST",
            "/api/v1/auth/refresh",
            Some(&json!({ "refresh_token": login["refresh_token"] })),
            None,
        )
        .await;
    server
        .request(
            "GET",
            "/api/v1/users/me",
            None,
            refreshed["access_token"].as_str(),
        )
        .await;
    server
        .request(
            "POST",
            "/api/v1/auth/login",
            Some(&json!({ "user_id": user_id, "recovery_key": "WRONG" })),
            None,
        )
        .await;
    let (_, rotated) = server
        .request(
            "POST",
            "/api/v1/auth/recovery-key",
            None,
            signup["access_token"].as_str(),
        )
        .await;
    server.wait_for_log("/api/v1/auth/recovery-key", Duration::from_secs(10));

    let secrets = [
        recovery_key.to_owned(),
        recovery_key.replace('-', ""),
        rotated["recovery_key"].as_str().unwrap().to_owned(),
        signup["access_token"].as_str().unwrap().to_owned(),
        signup["refresh_token"].as_str().unwrap().to_owned(),
        login["refresh_token"].as_str().unwrap().to_owned(),
        refreshed["access_token"].as_str().unwrap().to_owned(),
        "WRONG".to_owned(),
    ];
    let logs = server.logs();
    assert!(logs.len() >= 8, "{logs:?}");
    for line in &logs {
        let parsed: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(
            parsed["level"].is_string() && parsed["message"].is_string(),
            "{line}"
        );
        for secret in &secrets {
            assert!(
                !line.contains(secret.as_str()),
                "a secret leaked into the logs: {line}"
            );
        }
        if !line.contains("veilgram listening") && !line.contains("veilgram admin listening") {
            assert!(
                !line.contains("127.0.0.1"),
                "an address leaked into the logs: {line}"
            );
        }
    }
}

#[tokio::test]
async fn a_rotated_signing_key_is_used_without_restart_and_old_tokens_stay_valid() {
    let directory = tempfile::tempdir().unwrap();
    let server = Server::start(StartOptions {
        data_dir: Some(directory.path()),
        ..Default::default()
    });
    let (_, signup) = server
        .request("POST", "/api/v1/auth/signup", Some(&json!({})), None)
        .await;
    let old_token = signup["access_token"].as_str().unwrap().to_owned();
    let old_kid = kid_of(&old_token);

    run_subcommand(&["rotate-signing-key"], directory.path());

    // The server notices within about a second; wait for a token signed by the new key.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let new_token = loop {
        ticker.tick().await;
        let (_, refreshed) = server
            .request("POST", "/api/v1/auth/login", Some(&json!({ "user_id": signup["user_id"], "recovery_key": signup["recovery_key"] })), None)
            .await;
        let token = refreshed["access_token"].as_str().unwrap().to_owned();
        if kid_of(&token) != old_kid {
            break token;
        }
        assert!(
            Instant::now() < deadline,
            "the server never picked up the rotated key"
        );
    };
    for token in [&old_token, &new_token] {
        let (status, _) = server
            .request("GET", "/api/v1/users/me", None, Some(token))
            .await;
        assert_eq!(status, 200);
    }
    let (_, jwks) = server
        .request("GET", "/.well-known/jwks.json", None, None)
        .await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&kid_of(&new_token).as_str()),
        "{kids:?}"
    );
}

/// A crash between a write and the publishing of its event loses nothing: the event waits in
/// the outbox (written in the same transaction) and is published after the restart.
#[tokio::test]
async fn events_written_before_a_crash_are_published_after_the_restart() {
    let directory = tempfile::tempdir().unwrap();
    let mut server = Server::start(StartOptions {
        data_dir: Some(directory.path()),
        // The relay is stopped: every event stays in the outbox, as if the process died first.
        environment: vec![("VEILGRAM_EVENTS__RELAY_INTERVAL_MS", "0")],
        ..Default::default()
    });
    let (_, author) = server
        .request("POST", "/api/v1/auth/signup", Some(&json!({})), None)
        .await;
    let (_, fan) = server
        .request("POST", "/api/v1/auth/signup", Some(&json!({})), None)
        .await;
    let token = author["access_token"].as_str();
    for index in 0..3 {
        let (status, _) = server
            .request(
                "POST",
                "/api/v1/posts",
                Some(&json!({ "text": format!("post {index}") })),
                token,
            )
            .await;
        assert_eq!(status, 201);
    }
    let follow = format!(
        "/api/v1/users/{}/follow",
        author["user_id"].as_str().unwrap()
    );
    assert_eq!(
        server
            .request("POST", &follow, None, fan["access_token"].as_str())
            .await
            .0,
        204
    );
    let metrics = server.metrics().await;
    assert!(
        !metrics.contains("type=\"post.created\""),
        "nothing was published yet:\n{metrics}"
    );
    server.kill_hard();

    let restarted = Server::start(StartOptions {
        data_dir: Some(directory.path()),
        ..Default::default()
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ticker = tokio::time::interval(Duration::from_millis(50));
    loop {
        ticker.tick().await;
        let metrics = restarted.metrics().await;
        if metrics.contains("veilgram_events_consumed_total{type=\"post.created\"} 3")
            && metrics.contains("veilgram_events_consumed_total{type=\"user.followed\"} 1")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "events were lost across the crash:\n{metrics}"
        );
    }
}

/// Two server processes sharing PostgreSQL and Redis share one budget per account.
#[tokio::test]
async fn rate_limits_hold_across_two_processes_sharing_redis() {
    let database = TestDatabase::postgres().await;
    let redis_url = veilgram_testkit::cache::redis_url();
    let pair = Pair::start(
        database.url().as_str(),
        &[
            ("VEILGRAM_REDIS_URL", redis_url.as_str()),
            ("VEILGRAM_RATE_LIMIT_SCALE", "1"),
            // A new account has earned a tenth: 3.
            ("VEILGRAM_RATE_LIMITS__POSTING", "30/3600"),
        ],
    );
    let (first, second) = (&pair.first, &pair.second);
    let (status, signup) = first
        .request("POST", "/api/v1/auth/signup", Some(&json!({})), None)
        .await;
    assert_eq!(status, 201);
    let token = signup["access_token"].as_str().unwrap();
    let post = json!({ "text": "counted everywhere" });
    for server in [first, second, first] {
        let (status, answer) = server
            .request("POST", "/api/v1/posts", Some(&post), Some(token))
            .await;
        assert_eq!(status, 201, "{answer}");
    }
    for server in [second, first] {
        let (status, answer) = server
            .request("POST", "/api/v1/posts", Some(&post), Some(token))
            .await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (429, Some("rate_limited"))
        );
    }
}

#[tokio::test]
async fn operators_grant_and_revoke_the_moderator_role() {
    let directory = tempfile::tempdir().unwrap();
    let server = Server::start(StartOptions {
        data_dir: Some(directory.path()),
        ..Default::default()
    });
    let (_, account) = server
        .request("POST", "/api/v1/auth/signup", Some(&json!({})), None)
        .await;
    let user_id = account["user_id"].as_str().unwrap();
    let token = account["access_token"].as_str().unwrap();
    assert_eq!(role(&server, token).await, json!("member"));
    let run = |change: &str, id: &str| {
        binary()
            .args(["moderator", change, id])
            .env_clear()
            .env("VEILGRAM_DATA_DIR", directory.path())
            .output()
            .unwrap()
    };
    let granted = run("grant", user_id);
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );
    assert_eq!(role(&server, token).await, json!("moderator"));
    let revoked = run("revoke", user_id);
    assert!(revoked.status.success());
    assert_eq!(role(&server, token).await, json!("member"));
    // Nobody, or not an id: a failure that says so.
    let nobody = run("grant", "0b6f6c1e-5d7e-4a53-9c1f-7f4b7c0e9a11");
    assert!(!nobody.status.success());
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("no account"));
    let garbage = run("grant", "bob");
    assert!(!garbage.status.success());
    assert!(String::from_utf8_lossy(&garbage.stderr).contains("not a user id"));
}

async fn role(server: &Server, token: &str) -> Value {
    server
        .request("GET", "/api/v1/users/me", None, Some(token))
        .await
        .1["role"]
        .clone()
}

/// With `VEILGRAM_SEARCH_URL`, posts are indexed on and searched through that server (here the
/// Elasticsearch 8 API of the noida-db `scripts/opensearch` runs), under the configured prefix.
#[tokio::test]
async fn search_runs_on_opensearch_when_configured() {
    let url = tokio::task::spawn_blocking(veilgram_testkit::opensearch::url)
        .await
        .unwrap();
    let prefix = index_prefix("process");
    let directory = tempfile::tempdir().unwrap();
    let server = Server::start(StartOptions {
        data_dir: Some(directory.path()),
        environment: vec![
            ("VEILGRAM_SEARCH_URL", url.as_str()),
            ("VEILGRAM_SEARCH_INDEX_PREFIX", prefix.as_str()),
        ],
        ..StartOptions::default()
    });
    let (_, signup) = server
        .request("POST", "/api/v1/auth/signup", Some(&json!({})), None)
        .await;
    let token = signup["access_token"].as_str().unwrap();
    let (status, _) = server
        .request(
            "POST",
            "/api/v1/posts",
            Some(&json!({ "text": "제주도에서 오름 트레킹" })),
            Some(token),
        )
        .await;
    assert_eq!(status, 201);
    let found = veilgram_testkit::poll_until(Duration::from_secs(10), || async {
        let (_, page) = server
            .request("GET", "/api/v1/search?q=%EC%A0%9C%EC%A3%BC", None, None)
            .await;
        (page["items"].as_array().map(Vec::len) == Some(1)).then_some(page)
    })
    .await
    .expect("the post is searchable through OpenSearch");
    assert_eq!(found["items"][0]["text"], "제주도에서 오름 트레킹");
    let aliases = reqwest::get(format!("{url}/_alias/{prefix}-search"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        aliases.contains(&format!("{prefix}-search-v2")),
        "{aliases}"
    );
}

/// With OpenSearch down, search answers 503 with `Retry-After` and everything else goes on;
/// once it is back the indexer catches up and nothing is missing. `veilgram reindex`, beside
/// the running server, rebuilds into a new index and moves the alias to it.
#[tokio::test]
async fn search_outlives_opensearch_going_down_and_reindex_moves_the_alias() {
    let url = tokio::task::spawn_blocking(veilgram_testkit::opensearch::url)
        .await
        .unwrap();
    let upstream = url.trim_start_matches("http://").trim_end_matches('/');
    let gate = crate::server::Gate::start(upstream.to_owned()).await;
    gate.set_open(false);
    let gated = format!("http://{}", gate.address);
    let prefix = index_prefix("outage");
    let directory = tempfile::tempdir().unwrap();
    let server = Server::start(StartOptions {
        data_dir: Some(directory.path()),
        environment: vec![
            ("VEILGRAM_SEARCH_URL", gated.as_str()),
            ("VEILGRAM_SEARCH_INDEX_PREFIX", prefix.as_str()),
        ],
        ..StartOptions::default()
    });
    let (_, signup) = server
        .request(
            "POST",
            "/api/v1/auth/signup",
            Some(&json!({ "nickname": "hiker_lee" })),
            None,
        )
        .await;
    let token = signup["access_token"].as_str().unwrap();
    let (status, post) = server
        .request(
            "POST",
            "/api/v1/posts",
            Some(&json!({ "text": "한라산 등반 기록" })),
            Some(token),
        )
        .await;
    assert_eq!(status, 201, "writing goes on with search down");
    let search = format!(
        "http://{}/api/v1/search?q=%ED%95%9C%EB%9D%BC%EC%82%B0",
        server.address
    );
    let down = reqwest::get(&search).await.unwrap();
    assert_eq!(down.status(), 503);
    assert!(down.headers().contains_key("retry-after"));
    let (status, _) = server
        .request(
            "GET",
            &format!("/api/v1/posts/{}", post["id"].as_str().unwrap()),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "reading goes on");
    gate.set_open(true);
    let found = veilgram_testkit::poll_until(Duration::from_secs(20), || async {
        let page: Value = reqwest::get(&search).await.ok()?.json().await.ok()?;
        (page["items"].as_array().map(Vec::len) == Some(1)).then_some(page)
    })
    .await
    .expect("the indexer caught up");
    assert_eq!(found["items"][0]["id"], post["id"]);
    let reindexed = binary()
        .arg("reindex")
        .env_clear()
        .env("VEILGRAM_DATA_DIR", directory.path())
        .env("VEILGRAM_SEARCH_URL", &url)
        .env("VEILGRAM_SEARCH_INDEX_PREFIX", &prefix)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&reindexed.stdout);
    assert!(
        reindexed.status.success(),
        "{}",
        String::from_utf8_lossy(&reindexed.stderr)
    );
    assert!(printed.contains("1 posts, 1 accounts"), "{printed}");
    let aliases: Value = reqwest::get(format!("{url}/_alias/{prefix}-search"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let indexes: Vec<&String> = aliases.as_object().unwrap().keys().collect();
    assert_eq!(indexes.len(), 1, "{aliases}");
    assert!(
        indexes[0].starts_with(&format!("{prefix}-search-v2-")),
        "{aliases}"
    );
    let page: Value = reqwest::get(&search).await.unwrap().json().await.unwrap();
    assert_eq!(
        page["items"][0]["id"], post["id"],
        "served from the new index"
    );
    let users = format!("http://{}/api/v1/search?type=users&q=hiker", server.address);
    let page: Value = reqwest::get(&users).await.unwrap().json().await.unwrap();
    assert_eq!(page["items"][0]["nickname"], "hiker_lee");
}

/// `veilgram reindex` on the embedded index, beside the server that reads and writes it: the
/// rebuilt index replaces the old one in one commit that the server sees, and the server's
/// indexer goes on writing it.
#[tokio::test]
async fn reindex_rebuilds_the_embedded_index_beside_a_running_server() {
    let directory = tempfile::tempdir().unwrap();
    let server = Server::start(StartOptions {
        data_dir: Some(directory.path()),
        ..StartOptions::default()
    });
    let (_, signup) = server
        .request("POST", "/api/v1/auth/signup", Some(&json!({})), None)
        .await;
    let token = signup["access_token"].as_str().unwrap();
    let write = |text: &str| json!({ "text": text });
    let (status, _) = server
        .request(
            "POST",
            "/api/v1/posts",
            Some(&write("남산타워 야경")),
            Some(token),
        )
        .await;
    assert_eq!(status, 201);
    veilgram_testkit::poll_until(Duration::from_secs(10), || async {
        (search_count(&server, "%EB%82%A8%EC%82%B0").await == Some(1)).then_some(())
    })
    .await
    .expect("indexed");
    let output = run_subcommand(&["reindex"], directory.path());
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("1 posts, 1 accounts"), "{printed}");
    assert_eq!(
        search_count(&server, "%EB%82%A8%EC%82%B0").await,
        Some(1),
        "served after the switch"
    );
    let (status, _) = server
        .request(
            "POST",
            "/api/v1/posts",
            Some(&write("북한산 단풍")),
            Some(token),
        )
        .await;
    assert_eq!(status, 201);
    veilgram_testkit::poll_until(Duration::from_secs(10), || async {
        (search_count(&server, "%EB%B6%81%ED%95%9C").await == Some(1)).then_some(())
    })
    .await
    .expect("the server's indexer writes the rebuilt index");
}

/// How many posts a search for `query` (URL-encoded) answers.
async fn search_count(server: &Server, query: &str) -> Option<usize> {
    let path = format!("/api/v1/search?q={query}");
    let (_, page) = server.request("GET", &path, None, None).await;
    page["items"].as_array().map(Vec::len)
}

/// An embedded index of a new schema starts empty (an upgrade): the server fills it from the
/// database when it starts, so nothing posted before is missing from search.
#[tokio::test]
async fn a_new_embedded_index_is_filled_from_the_database_at_start() {
    let directory = tempfile::tempdir().unwrap();
    let mut first = Server::start(StartOptions {
        data_dir: Some(directory.path()),
        ..StartOptions::default()
    });
    let (_, signup) = first
        .request("POST", "/api/v1/auth/signup", Some(&json!({})), None)
        .await;
    let token = signup["access_token"].as_str().unwrap();
    let body = json!({ "text": "지리산 종주 후기" });
    let (status, _) = first
        .request("POST", "/api/v1/posts", Some(&body), Some(token))
        .await;
    assert_eq!(status, 201);
    veilgram_testkit::poll_until(Duration::from_secs(10), || async {
        (search_count(&first, "%EC%A7%80%EB%A6%AC").await == Some(1)).then_some(())
    })
    .await
    .expect("indexed");
    first.terminate();
    assert!(first.wait_exit(Duration::from_secs(15)).success());
    // As after an upgrade to a new schema: no index of it yet.
    std::fs::remove_dir_all(directory.path().join("search")).unwrap();
    let second = Server::start(StartOptions {
        data_dir: Some(directory.path()),
        ..StartOptions::default()
    });
    veilgram_testkit::poll_until(Duration::from_secs(10), || async {
        (search_count(&second, "%EC%A7%80%EB%A6%AC").await == Some(1)).then_some(())
    })
    .await
    .expect("the new index was filled from the database");
}

/// An OpenSearch index prefix no other test run uses.
fn index_prefix(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

/// Runs `veilgram moderation classify` on `input` with `environment`; its output.
fn classify(input: &[u8], environment: &[(&str, &str)]) -> std::process::Output {
    use std::io::Write;
    let mut child = binary()
        .args(["moderation", "classify"])
        .env_clear()
        .envs(environment.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

// Anyone can measure the classifiers on their own data: one verdict per line, whatever the
// line holds, under the configured policy.
#[test]
fn moderation_classify_prints_one_verdict_per_line_under_the_policy() {
    let input =
        "hello world\n시발점에서 다시\nyou n1gg3r\n시 1 발\r\n\u{ff}\nshut up you stupid idiot\n";
    let mut bytes = input.as_bytes().to_vec();
    bytes.extend_from_slice(b"\xff\xfe not utf-8\n");
    let output = classify(&bytes, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verdicts: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(verdicts.len(), 7, "one verdict per line: {verdicts:?}");
    let decisions: Vec<&str> = verdicts
        .iter()
        .map(|verdict| verdict["decision"].as_str().unwrap())
        .collect();
    assert_eq!(
        decisions,
        ["allow", "allow", "block", "warn", "allow", "warn", "allow"]
    );
    assert_eq!(verdicts[2]["category"], "slur");
    assert_eq!(verdicts[3]["rule"], "ko-profanity");
    assert_eq!(verdicts[5]["category"], "toxicity");
    assert!(verdicts
        .iter()
        .all(|verdict| (0.0..=1.0).contains(&verdict["score"].as_f64().unwrap())));

    let strict = classify(
        "시 1 발\n".as_bytes(),
        &[("VEILGRAM_MODERATION__POLICY", "profanity=hide")],
    );
    let verdict: Value = serde_json::from_slice(&strict.stdout).unwrap();
    assert_eq!(verdict["decision"], "hide");

    let refused = classify(b"", &[("VEILGRAM_MODERATION__POLICY", "slur=ban")]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("\"ban\""));
}
