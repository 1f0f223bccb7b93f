//! Operational routes: liveness and readiness on the public listener; those and the metrics on
//! the admin listener ([`admin_router`]), which operators keep off the internet.

use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// What the admin listener serves: `/healthz`, `/readyz` and `/metrics`, nothing of the API.
pub fn admin_router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz))
        .route("/metrics", axum::routing::get(metrics))
        .fallback(|| async { ApiError::not_found("route") })
        .with_state(state)
}

/// The process is alive. Touches no dependency.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200)))]
async fn healthz() -> &'static str {
    "ok"
}

/// Every dependency answers (within 2 s each).
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses((status = 200), (status = 503, body = ErrorBody))
)]
async fn readyz(State(state): State<AppState>) -> Response {
    let mut checks = serde_json::Map::new();
    let mut ready = true;
    for check in state.health_checks.iter() {
        let outcome = tokio::time::timeout(Duration::from_secs(2), check.check()).await;
        let status = match outcome {
            Ok(Ok(())) => "ok",
            Ok(Err(error)) => {
                tracing::warn!(dependency = check.name(), error = %error, "not ready");
                ready = false;
                "unavailable"
            }
            Err(_) => {
                tracing::warn!(dependency = check.name(), "readiness check timed out");
                ready = false;
                "timeout"
            }
        };
        checks.insert(check.name().to_owned(), json!(status));
    }
    if ready {
        Json(json!({ "status": "ready", "checks": checks })).into_response()
    } else {
        let mut error = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!("not ready: {}", serde_json::Value::Object(checks)),
        );
        error
            .headers
            .push((header::RETRY_AFTER, HeaderValue::from_static("1")));
        error.into_response()
    }
}

/// Prometheus text format (admin listener only).
async fn metrics(State(state): State<AppState>) -> Response {
    let extra: String = state
        .metrics_sources
        .iter()
        .map(|source| source())
        .collect();
    let mut response = state.metrics.render(&extra).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
