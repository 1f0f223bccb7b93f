//! Request ids, access logs and Prometheus metrics, applied to every request by one middleware.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Series {
    count: AtomicU64,
    sum_nanos: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct SeriesKey {
    route: String,
    method: String,
    status: u16,
}

/// Request counts and latency histograms by route template, method and status.
#[derive(Default)]
pub struct Metrics {
    series: RwLock<HashMap<SeriesKey, Arc<Series>>>,
    started: AtomicU64,
}

impl Metrics {
    pub fn record(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let key = SeriesKey {
            route: route.to_owned(),
            method: method.to_owned(),
            status,
        };
        let existing = self
            .series
            .read()
            .ok()
            .and_then(|series| series.get(&key).cloned());
        let series = match existing {
            Some(series) => series,
            None => match self.series.write() {
                Ok(mut all) => Arc::clone(all.entry(key).or_default()),
                Err(_) => return,
            },
        };
        series.count.fetch_add(1, Ordering::Relaxed);
        series
            .sum_nanos
            .fetch_add((seconds * 1e9) as u64, Ordering::Relaxed);
        if let Some(index) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            series.buckets[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn request_started(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self, extra: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP veilgram_http_requests_total HTTP requests answered."
        );
        let _ = writeln!(out, "# TYPE veilgram_http_requests_total counter");
        let snapshot: Vec<(SeriesKey, Arc<Series>)> = match self.series.read() {
            Ok(series) => series
                .iter()
                .map(|(k, v)| (k.clone(), Arc::clone(v)))
                .collect(),
            Err(_) => Vec::new(),
        };
        for (key, series) in &snapshot {
            let _ = writeln!(
                out,
                "veilgram_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {}",
                key.route,
                key.method,
                key.status,
                series.count.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP veilgram_http_request_duration_seconds HTTP request latency."
        );
        let _ = writeln!(
            out,
            "# TYPE veilgram_http_request_duration_seconds histogram"
        );
        for (key, series) in &snapshot {
            let labels = format!(
                "route=\"{}\",method=\"{}\",status=\"{}\"",
                key.route, key.method, key.status
            );
            let mut cumulative = 0;
            for (bound, bucket) in BUCKETS.iter().zip(&series.buckets) {
                cumulative += bucket.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "veilgram_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = series.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "veilgram_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let sum = series.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "veilgram_http_request_duration_seconds_sum{{{labels}}} {sum}"
            );
            let _ = writeln!(
                out,
                "veilgram_http_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP veilgram_http_requests_started_total HTTP requests received."
        );
        let _ = writeln!(out, "# TYPE veilgram_http_requests_started_total counter");
        let _ = writeln!(
            out,
            "veilgram_http_requests_started_total {}",
            self.started.load(Ordering::Relaxed)
        );
        out.push_str(extra);
        out
    }
}

/// A client's request id is echoed if it is short and plain; otherwise a fresh one is made.
fn request_id(request: &Request) -> HeaderValue {
    let valid = request.headers().get(&REQUEST_ID).filter(|value| {
        let bytes = value.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= 128
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
    });
    match valid {
        Some(value) => value.clone(),
        None => HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("invalid")),
    }
}

/// Assigns the request id, times the request, logs it and records its metrics.
pub async fn observe(
    State(metrics): State<Arc<Metrics>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    metrics.request_started();
    let id = request_id(&request);
    request.headers_mut().insert(REQUEST_ID.clone(), id.clone());
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());

    // What answers a signed-in caller is theirs (`liked_by_me`, their notifications, ...):
    // no cache may keep it, unless the handler said otherwise (public, immutable media).
    let private = request
        .headers()
        .contains_key(axum::http::header::AUTHORIZATION);

    let mut response = next.run(request).await;

    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    metrics.record(&route, &method, status, elapsed.as_secs_f64());
    response
        .headers_mut()
        .insert(REQUEST_ID.clone(), id.clone());
    response.headers_mut().insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if private {
        response
            .headers_mut()
            .entry(axum::http::header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("private, no-store"));
    }
    tracing::info!(
        target: "veilgram::access",
        request_id = id.to_str().unwrap_or(""),
        method = %method,
        route = %route,
        status,
        latency_us = elapsed.as_micros() as u64,
        "request"
    );
    response
}
