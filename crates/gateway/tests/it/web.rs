//! The web client as the server delivers it: one page, versioned assets, strict CSP, gzip,
//! long-lived caching (what the browser scenarios in the `veilgram` crate rely on).

use crate::helpers::TestApp;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::io::Read;
use veilgram_testkit::TestDatabase;

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> crate::helpers::TestResponse {
    let mut request = Request::builder().uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.send(request.body(Body::empty()).unwrap()).await
}

fn header<'a>(response: &'a crate::helpers::TestResponse, name: &str) -> &'a str {
    response
        .headers
        .get(name)
        .map_or("", |value| value.to_str().unwrap())
}

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[tokio::test]
async fn the_app_is_one_page_with_versioned_compressed_assets_and_a_strict_policy() {
    let database = TestDatabase::sqlite();
    let app = TestApp::new(&database).await;

    let page = get(&app, "/", &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&page, "content-encoding"), "gzip");
    assert_eq!(header(&page, "cache-control"), "no-cache");
    let csp = header(&page, "content-security-policy");
    for directive in [
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    // WebAssembly (the proof of work's Argon2) is the one exception; never eval or inline.
    assert!(
        !csp.replace("'wasm-unsafe-eval'", "").contains("unsafe"),
        "{csp}"
    );
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    assert_eq!(header(&page, "referrer-policy"), "no-referrer");
    let html = gunzip(&page.raw);
    // No inline script or style: everything the page runs comes from a versioned file.
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "{html}"
    );
    let version = veilgram_web::version();
    let script = format!("/assets/{version}/main.js");
    assert!(html.contains(&script), "{html}");

    // A versioned asset: immutable for a year, revalidated by ETag.
    let plain = get(&app, &script, &[]).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(
        header(&plain, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(header(&plain, "content-encoding"), "");
    assert_eq!(
        header(&plain, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    let zipped = get(&app, &script, &[("accept-encoding", "gzip")]).await;
    assert_eq!(gunzip(&zipped.raw).as_bytes(), plain.raw.as_slice());
    assert!(zipped.raw.len() < plain.raw.len());
    let etag = header(&plain, "etag").to_owned();
    let again = get(&app, &script, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    // Modules import each other by relative paths inside the same version.
    let nested = get(&app, &format!("/assets/{version}/views/feed.js"), &[]).await;
    assert_eq!(nested.status, StatusCode::OK);

    // Another build's version, an unknown file, or the page itself under /assets: 404 in the
    // API's error format.
    for path in [
        "/assets/000000000000/main.js".to_owned(),
        format!("/assets/{version}/nope.js"),
        format!("/assets/{version}/../Cargo.toml"),
        format!("/assets/{version}/index.html"),
    ] {
        let missing = get(&app, &path, &[]).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(missing.body["error"]["code"], "not_found", "{path}");
    }

    // The service worker (at the root, for its scope) and the manifest name this version.
    let worker = get(&app, "/sw.js", &[]).await;
    assert_eq!(header(&worker, "cache-control"), "no-cache");
    assert!(worker
        .text
        .contains(&format!("/assets/{version}/messages/en.js")));
    let manifest = get(&app, "/manifest.webmanifest", &[]).await;
    assert_eq!(
        header(&manifest, "content-type"),
        "application/manifest+json"
    );
    let icons = manifest.body["icons"].as_array().unwrap();
    for icon in icons {
        let source = icon["src"].as_str().unwrap();
        assert_eq!(
            get(&app, source, &[]).await.status,
            StatusCode::OK,
            "{source}"
        );
    }
    assert!(icons.iter().any(|icon| icon["sizes"] == "512x512"));

    // The API keeps its own answers: no HTML fallback for unknown API routes.
    let api = get(&app, "/api/v1/nothing-here", &[]).await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert_eq!(api.body["error"]["code"], "not_found");
}

#[test]
fn both_catalogues_carry_the_same_messages() {
    let keys = |source: &str| -> Vec<String> {
        source
            .lines()
            .filter_map(|line| {
                let line = line.trim_start();
                let (key, _) = line.split_once(':')?;
                (!key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .then(|| key.to_owned())
            })
            .collect()
    };
    let english = keys(include_str!("../../../web/assets/messages/en.js"));
    let korean = keys(include_str!("../../../web/assets/messages/ko.js"));
    assert!(english.len() > 150, "{}", english.len());
    let missing: Vec<_> = english.iter().filter(|key| !korean.contains(key)).collect();
    let extra: Vec<_> = korean.iter().filter(|key| !english.contains(key)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing in ko: {missing:?}; only in ko: {extra:?}"
    );
}
