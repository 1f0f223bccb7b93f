//! Gateway basics: error format everywhere, request ids, CORS, body limits, health, metrics,
//! and the OpenAPI document matching the routes.

use crate::helpers::{Options, TestApp};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use veilgram_testkit::TestDatabase;

fn is_error_format(response: &crate::helpers::TestResponse) -> bool {
    response.body["error"]["code"].is_string() && response.body["error"]["message"].is_string()
}

async fn every_kind_of_bad_request_gets_the_api_error_format(database: &TestDatabase) {
    let app = TestApp::with_options(
        database,
        Options {
            max_body_bytes: 1024,
            ..Options::default()
        },
    )
    .await;
    let raw = |method: Method, path: &str, content_type: Option<&str>, body: Vec<u8>| {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(content_type) = content_type {
            builder = builder.header("content-type", content_type);
        }
        builder.body(Body::from(body)).unwrap()
    };
    let cases = [
        (
            raw(Method::GET, "/api/v1/nowhere", None, vec![]),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            raw(Method::PUT, "/api/v1/auth/signup", None, vec![]),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            raw(
                Method::POST,
                "/api/v1/auth/signup",
                Some("application/json"),
                b"{\"nickname\":".to_vec(),
            ),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            raw(
                Method::POST,
                "/api/v1/auth/signup",
                Some("text/plain"),
                b"{}x".to_vec(),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            raw(
                Method::POST,
                "/api/v1/auth/signup",
                Some("application/json"),
                vec![b' '; 4096],
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            raw(
                Method::POST,
                "/api/v1/auth/login",
                Some("application/json"),
                b"[1,2]".to_vec(),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_field",
        ),
    ];
    // Path segments that are not UTF-8 once percent-decoded (a lone byte, a surrogate).
    let not_utf8 = [
        "/api/v1/users/%FF",
        "/api/v1/feed/hashtags/%ED%A0%80",
        "/media/%FF",
        "/api/v1/posts/%FF/comments",
    ]
    .map(|path| {
        (
            raw(Method::GET, path, None, vec![]),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        )
    });
    // A plain GET of the WebSocket endpoint is not an upgrade.
    let not_upgrade = (
        raw(Method::GET, "/ws", None, vec![]),
        StatusCode::BAD_REQUEST,
        "not_a_websocket",
    );
    let cases = cases.into_iter().chain([not_upgrade]);
    for (request, status, code) in cases.chain(not_utf8) {
        let path = request.uri().to_string();
        let response = app.send(request).await;
        assert_eq!(
            (response.status, response.code()),
            (status, code),
            "{path}: {}",
            response.text
        );
        assert!(is_error_format(&response), "{path}: {}", response.text);
        assert!(response.headers.contains_key("x-request-id"));
    }
}

async fn request_ids_are_echoed_or_generated(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let with_id = Request::get("/healthz")
        .header("x-request-id", "client-abc.123")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.send(with_id).await.headers["x-request-id"],
        "client-abc.123"
    );
    let hostile = Request::get("/healthz")
        .header("x-request-id", "has spaces\tand tabs")
        .body(Body::empty())
        .unwrap();
    let generated = app.send(hostile).await.headers["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
    let first = app.get("/healthz", None).await.headers["x-request-id"].clone();
    let second = app.get("/healthz", None).await.headers["x-request-id"].clone();
    assert_ne!(first, second);
}

async fn cors_allows_only_configured_origins(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/v1/auth/signup")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .body(Body::empty())
            .unwrap()
    };
    let allowed = app.send(preflight("https://app.example")).await;
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "https://app.example"
    );
    let refused = app.send(preflight("https://evil.example")).await;
    assert!(!refused.headers.contains_key("access-control-allow-origin"));
}

async fn health_readiness_and_metrics_report(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let health = app.get("/healthz", None).await;
    assert_eq!(
        (health.status, health.text.as_str()),
        (StatusCode::OK, "ok")
    );
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["checks"]["database"], "ok");
    app.signup(None).await;
    app.get("/api/v1/users/me", None).await;
    // Metrics are the admin listener's, not the public one's.
    let public = app.get("/metrics", None).await;
    assert_eq!(public.status, StatusCode::NOT_FOUND, "{}", public.text);
    assert_eq!(app.admin_get("/healthz").await.status, StatusCode::OK);
    let metrics = app.admin_get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    for expected in [
        "veilgram_http_requests_total{route=\"/api/v1/auth/signup\",method=\"POST\",status=\"201\"} 1",
        "veilgram_http_requests_total{route=\"/api/v1/users/me\",method=\"GET\",status=\"401\"} 1",
        "veilgram_http_request_duration_seconds_bucket{route=\"/api/v1/auth/signup\",method=\"POST\",status=\"201\",le=\"+Inf\"} 1",
    ] {
        assert!(metrics.text.contains(expected), "missing {expected}\n{}", metrics.text);
    }
}

async fn the_openapi_document_matches_the_routes(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let spec = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(spec.status, StatusCode::OK);
    assert!(spec.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = spec.body["paths"].as_object().unwrap();
    for documented in [
        "/api/v1/auth/signup",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/recovery-key",
        "/.well-known/jwks.json",
        "/api/v1/users/me",
        "/api/v1/users/me/deactivate",
        "/api/v1/users/me/export",
        "/api/v1/users/{id}",
        "/healthz",
        "/readyz",
    ] {
        assert!(
            paths.contains_key(documented),
            "{documented} is not documented"
        );
    }
    // The statuses the layers around every handler give are documented, and what an answer
    // creates links to the operations on it.
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            let bearer = operation["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|scheme| scheme.get("bearer").is_some()));
            if path.starts_with("/api/v1/") {
                assert!(responses.contains_key("429"), "{method} {path}: 429");
                assert!(responses.contains_key("503"), "{method} {path}: 503");
            }
            if bearer {
                assert!(responses.contains_key("401"), "{method} {path}: 401");
            }
            if operation.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(responses.contains_key(status), "{method} {path}: {status}");
                }
            }
        }
    }
    let created = &paths["/api/v1/posts"]["post"]["responses"]["201"]["links"];
    assert_eq!(
        created["get_post_by_id"]["parameters"]["id"], "$response.body#/id",
        "{created}"
    );
    assert_eq!(
        paths["/api/v1/feed/popular"]["get"]["parameters"][0]["schema"]["maximum"], 100,
        "limit is documented as the server reads it"
    );
    // Every documented operation is routed: none answers "route not found" or 405.
    for (path, operations) in paths {
        for method in operations.as_object().unwrap().keys() {
            let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app.call(method.clone(), &concrete, None, None).await;
            assert_ne!(
                response.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            assert_ne!(
                response.body["error"]["message"], "route not found",
                "{method} {path}"
            );
        }
    }
}

/// What answers a signed-in caller is theirs: no cache may keep it. Public answers stay
/// cacheable, and the web app carries its browser policies.
async fn private_answers_are_never_stored_by_caches(database: &TestDatabase) {
    let app = TestApp::new(database).await;
    let account = app.signup(None).await;
    let token = Some(account.access_token.as_str());
    let post = app.post_text(&account.access_token, "mine", "public").await;
    for path in [
        "/api/v1/users/me".to_owned(),
        "/api/v1/users/me/export".to_owned(),
        "/api/v1/notifications".to_owned(),
        format!("/api/v1/posts/{post}"),
        "/api/v1/feed/home".to_owned(),
    ] {
        let response = app.get(&path, token).await;
        assert!(response.status.is_success(), "{path}: {}", response.text);
        let cache = response
            .headers
            .get("cache-control")
            .map(|value| value.to_str().unwrap());
        assert!(
            cache.is_some_and(|cache| cache.contains("no-store")),
            "{path}: cache-control {cache:?}"
        );
    }
    let public = app.get(&format!("/api/v1/posts/{post}"), None).await;
    assert_eq!(public.status, StatusCode::OK);
    assert!(!public
        .headers
        .get("cache-control")
        .is_some_and(|value| value.to_str().unwrap().contains("no-store")));
    let page = app.get("/", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.headers["permissions-policy"]
        .to_str()
        .unwrap()
        .contains("camera=()"));
    assert_eq!(page.headers["cross-origin-opener-policy"], "same-origin");
}

veilgram_testkit::for_each_engine!(
    private_answers_are_never_stored_by_caches,
    every_kind_of_bad_request_gets_the_api_error_format,
    request_ids_are_echoed_or_generated,
    cors_allows_only_configured_origins,
    health_readiness_and_metrics_report,
    the_openapi_document_matches_the_routes,
);
