//! Rate limits through the API: per keyed address for sign-ups (IPv6 by /64), `X-Forwarded-For`
//! only from trusted proxies, per account for posting, the headers of RFC 9331's successor
//! draft, and no address in the cache.

use crate::helpers::{Options, TestApp};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use veilgram_gateway::{Budget, Limit, Network, RateLimitSettings};
use veilgram_testkit::cache::{CacheKind, TestCache};
use veilgram_testkit::TestDatabase;

fn settings(budget: Budget, count: u64, trusted: &[&str]) -> RateLimitSettings {
    let mut settings = RateLimitSettings::default();
    for (candidate, limit) in &mut settings.limits {
        if *candidate == budget {
            *limit = Limit {
                count,
                seconds: 600,
            };
        }
    }
    settings.trusted_proxies = trusted.iter().map(|t| Network::parse(t).unwrap()).collect();
    settings
}

async fn signup_from(
    app: &TestApp,
    peer: &str,
    forwarded: Option<&str>,
) -> crate::helpers::TestResponse {
    let address: std::net::IpAddr = peer.parse().unwrap();
    let mut request = Request::builder()
        .method("POST")
        .uri("/api/v1/auth/signup")
        .header("content-type", "application/json");
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    let mut request = request.body(Body::from("{}")).unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(address, 40000)));
    app.send(request).await
}

async fn sign_ups_are_limited_per_address_and_ipv6_per_64(database: &TestDatabase) {
    let cache = TestCache::create(CacheKind::Redis).await;
    let app = TestApp::with_options(
        database,
        Options {
            cache: Some(Arc::clone(&cache.cache)),
            rate_limits: settings(Budget::Signup, 2, &[]),
            ..Options::default()
        },
    )
    .await;
    let first = signup_from(&app, "192.0.2.1", None).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(first.headers["ratelimit-policy"], "\"signup\";q=2;w=600");
    assert!(first.headers["ratelimit"]
        .to_str()
        .unwrap()
        .starts_with("\"signup\";r=1;t="));
    assert_eq!(
        signup_from(&app, "192.0.2.1", None).await.status,
        StatusCode::CREATED
    );
    let refused = signup_from(&app, "192.0.2.1", None).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    let retry: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&retry), "{retry}");
    assert!(refused.headers["ratelimit"]
        .to_str()
        .unwrap()
        .starts_with("\"signup\";r=0;"));
    assert_eq!(
        signup_from(&app, "192.0.2.2", None).await.status,
        StatusCode::CREATED,
        "another address has its own budget"
    );

    for peer in ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9"] {
        assert_eq!(
            signup_from(&app, peer, None).await.status,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        signup_from(&app, "2001:db8:1:2:abcd::1", None).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "one /64 is one budget"
    );
    assert_eq!(
        signup_from(&app, "2001:db8:1:3::1", None).await.status,
        StatusCode::CREATED
    );

    // Buckets are named by keyed hashes: no address is in the cache.
    let mut connection = redis::Client::open(veilgram_testkit::cache::redis_url().as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", cache.prefix))
        .query(&mut connection)
        .unwrap();
    assert!(!keys.is_empty());
    for key in &keys {
        for address in ["192.0.2.1", "192.0.2.2", "2001:db8", "c000:201", "c0000201"] {
            assert!(!key.contains(address), "{key} names an address");
        }
    }
}

async fn forwarded_for_counts_only_from_trusted_proxies(database: &TestDatabase) {
    let app = TestApp::with_options(
        database,
        Options {
            rate_limits: settings(Budget::Signup, 2, &["10.0.0.0/8"]),
            ..Options::default()
        },
    )
    .await;
    for _ in 0..2 {
        let ok = signup_from(&app, "10.0.0.5", Some("198.51.100.7")).await;
        assert_eq!(ok.status, StatusCode::CREATED);
    }
    assert_eq!(
        signup_from(&app, "10.9.9.9", Some("198.51.100.7"))
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS,
        "the client behind any trusted proxy is one client"
    );
    assert_eq!(
        signup_from(&app, "10.0.0.5", Some("198.51.100.8"))
            .await
            .status,
        StatusCode::CREATED
    );
    // An untrusted peer cannot escape its budget by naming other addresses.
    for forwarded in ["203.0.113.1", "203.0.113.2"] {
        let ok = signup_from(&app, "192.0.2.50", Some(forwarded)).await;
        assert_eq!(ok.status, StatusCode::CREATED);
    }
    assert_eq!(
        signup_from(&app, "192.0.2.50", Some("203.0.113.3"))
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

async fn posting_is_limited_per_account_and_scale_zero_turns_limits_off(database: &TestDatabase) {
    let app = TestApp::with_options(
        database,
        Options {
            // A new account has earned a tenth of it: 2.
            rate_limits: settings(Budget::Posting, 20, &[]),
            ..Options::default()
        },
    )
    .await;
    let first = app.signup(None).await;
    let second = app.signup(None).await;
    for n in 0..2 {
        app.post_text(&first.access_token, &format!("n{n}"), "public")
            .await;
    }
    let refused = app
        .post(
            "/api/v1/posts",
            json!({ "text": "one more" }),
            Some(&first.access_token),
        )
        .await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        refused.headers["ratelimit-policy"], "\"posting\";q=2;w=600",
        "a new account's share of the posting budget"
    );
    app.post_text(&second.access_token, "mine", "public").await;
    // Reads have their own budget.
    let read = app.get("/api/v1/users/me", Some(&first.access_token)).await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(read.headers["ratelimit-policy"]
        .to_str()
        .unwrap()
        .starts_with("\"reads\""));

    let unlimited = TestApp::with_options(
        database,
        Options {
            rate_limits: RateLimitSettings {
                scale: 0.0,
                ..settings(Budget::Posting, 1, &[])
            },
            ..Options::default()
        },
    )
    .await;
    let someone = unlimited.signup(None).await;
    for n in 0..3 {
        unlimited
            .post_text(&someone.access_token, &format!("free {n}"), "public")
            .await;
    }
}

async fn new_accounts_have_a_small_links_budget_that_refused_text_does_not_spend(
    database: &TestDatabase,
) {
    let app = TestApp::with_options(
        database,
        Options {
            // A new account has earned a tenth of it: 3 links.
            rate_limits: settings(Budget::Links, 30, &[]),
            ..Options::default()
        },
    )
    .await;
    let author = app.signup(None).await;
    let token = author.access_token.as_str();
    let post = app
        .post_text(
            token,
            "see https://a.example/x and b.com, twice: b.com",
            "public",
        )
        .await;
    // Two links spent of three: a post with two more is refused whole, and spends nothing.
    let refused = app
        .post(
            "/api/v1/posts",
            json!({ "text": "c.com and www.d.example" }),
            Some(token),
        )
        .await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.body["error"]["code"], "rate_limited");
    assert!(refused.headers.contains_key("retry-after"));
    assert_eq!(
        refused.headers["ratelimit-policy"], "\"links\";q=3;w=600",
        "a new account's share of the links budget"
    );
    // Text without links is not limited by it, and an edit spends only the links it adds.
    app.post_text(token, "no links at all", "public").await;
    let edited = app
        .call(
            axum::http::Method::PATCH,
            &format!("/api/v1/posts/{post}"),
            Some(json!({ "text": "see https://a.example/x and b.com, edited" })),
            Some(token),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{:?}", edited.body);
    // The refused post gave its links back: one is left, for a comment.
    let comment = app
        .post(
            &format!("/api/v1/posts/{post}/comments"),
            json!({ "text": "more at e.com" }),
            Some(token),
        )
        .await;
    assert_eq!(comment.status, StatusCode::CREATED, "{:?}", comment.body);
    let over = app
        .post(
            &format!("/api/v1/posts/{post}/comments"),
            json!({ "text": "and f.com" }),
            Some(token),
        )
        .await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
    let comments = app
        .get(&format!("/api/v1/posts/{post}/comments"), Some(token))
        .await;
    assert_eq!(
        comments.body["items"].as_array().map(Vec::len),
        Some(1),
        "the refused comment was not written"
    );
}

veilgram_testkit::for_each_engine!(
    new_accounts_have_a_small_links_budget_that_refused_text_does_not_spend,
    sign_ups_are_limited_per_address_and_ipv6_per_64,
    forwarded_for_counts_only_from_trusted_proxies,
    posting_is_limited_per_account_and_scale_zero_turns_limits_off,
);
