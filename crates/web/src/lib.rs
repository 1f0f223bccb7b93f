//! The browser client: a single-page app in plain ES modules (no build step, no framework),
//! embedded in the binary and served by it.
//!
//! # Layout
//! - `assets/`: the app itself. `index.html` and `sw.js` are served at fixed paths; everything
//!   else under `/assets/<version>/`, where `<version>` is a digest of every asset, so a URL
//!   always names the same bytes and may be cached for a year.
//! - [`routes`]: the axum routes, merged into the gateway's router.
//!
//! # Invariants
//! - Every answer carries a strict Content-Security-Policy (no inline script or style, no
//!   `eval` (WebAssembly only, for the proof of work's Argon2), connections and media to this origin only), `nosniff`, a Permissions-Policy that
//!   turns off the powerful features it never uses, and `Cross-Origin-Opener-Policy`.
//! - Assets are gzip-compressed once, at first use; a client that does not accept gzip gets
//!   the plain bytes.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::sync::LazyLock;

/// Where the service worker and the page find the versioned assets.
const VERSION_PLACEHOLDER: &str = "__VERSION__";

/// The policy every answer of the web client carries.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self'; img-src 'self' blob:; media-src 'self' blob:; connect-src 'self'; \
    worker-src 'self'; manifest-src 'self'; font-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// Powerful features the app never uses, turned off for it and anything it could embed.
pub const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), \
    display-capture=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), \
    midi=(), payment=(), publickey-credentials-get=(), usb=(), browsing-topics=()";

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!("../assets/", $path)) as &[u8])),*]
    };
}

/// Every file of the app, by its path under `assets/`.
const FILES: &[(&str, &[u8])] = assets![
    "index.html",
    "sw.js",
    "manifest.webmanifest",
    "icon.svg",
    "icon-192.png",
    "icon-512.png",
    "app.css",
    "main.js",
    "api.js",
    "dom.js",
    "i18n.js",
    "live.js",
    "proof.js",
    "proof-worker.js",
    "vendor/argon2.umd.min.js",
    "router.js",
    "session.js",
    "messages/en.js",
    "messages/ko.js",
    "views/common.js",
    "views/shell.js",
    "views/welcome.js",
    "views/feed.js",
    "views/post.js",
    "views/composer.js",
    "views/profile.js",
    "views/notifications.js",
    "views/settings.js",
    "views/moderation.js",
];

struct Asset {
    content_type: &'static str,
    plain: Vec<u8>,
    /// None for what is compressed already (PNG).
    gzip: Option<Vec<u8>>,
    etag: String,
}

struct Bundle {
    version: String,
    assets: HashMap<&'static str, Asset>,
}

static BUNDLE: LazyLock<Bundle> = LazyLock::new(|| {
    let mut digest = Sha256::new();
    for (path, bytes) in FILES {
        digest.update(path.as_bytes());
        digest.update((bytes.len() as u64).to_le_bytes());
        digest.update(bytes);
    }
    let version = veilgram_core::hex(&digest.finalize()[..6]);
    let assets = FILES
        .iter()
        .map(|(path, bytes)| {
            let plain = if matches!(*path, "index.html" | "sw.js" | "manifest.webmanifest") {
                String::from_utf8_lossy(bytes)
                    .replace(VERSION_PLACEHOLDER, &version)
                    .into_bytes()
            } else {
                bytes.to_vec()
            };
            let etag = format!("\"{}\"", veilgram_core::hex(&Sha256::digest(&plain)[..12]));
            let content_type = content_type(path);
            let asset = Asset {
                content_type,
                gzip: (content_type != "image/png").then(|| gzip(&plain)),
                plain,
                etag,
            };
            (*path, asset)
        })
        .collect();
    Bundle { version, assets }
});

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("webmanifest") => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

/// The digest that names this build's assets (`/assets/<version>/…`).
pub fn version() -> &'static str {
    &BUNDLE.version
}

/// The web client's routes: `/`, `/sw.js`, `/manifest.webmanifest` and `/assets/<version>/…`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|headers: HeaderMap| async move { serve("index.html", &headers, false) }),
        )
        .route(
            "/sw.js",
            get(|headers: HeaderMap| async move { serve("sw.js", &headers, false) }),
        )
        .route(
            "/manifest.webmanifest",
            get(|headers: HeaderMap| async move { serve("manifest.webmanifest", &headers, false) }),
        )
        .route("/assets/{version}/{*path}", get(versioned))
}

async fn versioned(
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
) -> Response {
    // A path that is not UTF-8 names no asset.
    let Ok(Path((version, path))) = path else {
        return not_found();
    };
    if version != BUNDLE.version {
        // An old page asking for assets this build no longer has: it must reload.
        return not_found();
    }
    let Some((&name, _)) = BUNDLE.assets.get_key_value(path.as_str()) else {
        return not_found();
    };
    if matches!(name, "index.html" | "sw.js") {
        return not_found();
    }
    serve(name, &headers, true)
}

fn not_found() -> Response {
    let body = serde_json::json!({
        "error": { "code": "not_found", "message": "no such file" }
    });
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}

fn serve(name: &'static str, headers: &HeaderMap, immutable: bool) -> Response {
    let Some(asset) = BUNDLE.assets.get(name) else {
        return not_found();
    };
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == asset.etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else if let Some(gzip) = asset.gzip.as_ref().filter(|_| accepts_gzip(headers)) {
        let mut response = gzip.clone().into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        response
    } else {
        asset.plain.clone().into_response()
    };
    let out = response.headers_mut();
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(etag) = HeaderValue::from_str(&asset.etag) {
        out.insert(header::ETAG, etag);
    }
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    out.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    out.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(PERMISSIONS_POLICY),
    );
    // No window the app opens (or that opens it) keeps a handle on it.
    out.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if name == "sw.js" {
        out.insert(
            HeaderName::from_static("service-worker-allowed"),
            HeaderValue::from_static("/"),
        );
    }
    response
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|parameter| {
                parameter
                    .trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_page_imports_is_embedded() {
        // Relative imports between modules must name embedded files.
        for (path, bytes) in FILES.iter().filter(|(path, _)| path.ends_with(".js")) {
            let text = String::from_utf8_lossy(bytes);
            let directory = path.rsplit_once('/').map_or("", |(dir, _)| dir);
            for line in text.lines().filter(|line| line.starts_with("import ")) {
                let Some(target) = line.split('"').nth(1) else {
                    continue;
                };
                if !target.starts_with('.') {
                    continue;
                }
                let mut parts: Vec<&str> = directory.split('/').filter(|p| !p.is_empty()).collect();
                for segment in target.split('/') {
                    match segment {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        other => parts.push(other),
                    }
                }
                let resolved = parts.join("/");
                assert!(
                    FILES.iter().any(|(name, _)| *name == resolved),
                    "{path} imports {target}, which is not embedded"
                );
            }
        }
    }

    #[test]
    fn every_message_the_code_asks_for_is_in_the_english_catalogue() {
        let file = |name: &str| {
            FILES
                .iter()
                .find(|(path, _)| *path == name)
                .map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned())
                .unwrap_or_default()
        };
        let english = file("messages/en.js");
        let mut asked = 0;
        for (path, bytes) in FILES.iter().filter(|(path, _)| path.ends_with(".js")) {
            let text = String::from_utf8_lossy(bytes);
            for (at, _) in text.match_indices("t(\"") {
                // `t(` itself, not the end of another name (`emit(`).
                if text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let Some((key, _)) = text[at + 3..].split_once('"') else {
                    continue;
                };
                if !key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    continue;
                }
                asked += 1;
                assert!(
                    english.contains(&format!("\n  {key}: ")),
                    "{path} asks for the message {key:?}, which en.js lacks"
                );
            }
        }
        assert!(asked > 100, "{asked}");
    }

    #[test]
    fn nothing_in_the_app_parses_html_or_evaluates_strings() {
        for (path, bytes) in FILES.iter().filter(|(path, _)| path.ends_with(".js")) {
            let text = String::from_utf8_lossy(bytes);
            for risky in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
            ] {
                assert!(!text.contains(risky), "{path} uses {risky}");
            }
        }
    }

    #[test]
    fn gzip_is_chosen_only_when_accepted() {
        let mut headers = HeaderMap::new();
        assert!(!accepts_gzip(&headers));
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, br"),
        );
        assert!(accepts_gzip(&headers));
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0"),
        );
        assert!(!accepts_gzip(&headers));
    }
}
