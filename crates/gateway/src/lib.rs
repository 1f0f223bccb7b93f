//! The HTTP edge: the only crate that knows axum and the JSON wire types. It routes `/api/v1/*`
//! to the services, turns every failure into API.md's error format, and carries the
//! cross-cutting concerns: request ids, CORS, body limits, access logs and metrics, OpenAPI.
//!
//! # Layout
//! - [`error`]: [`ApiError`] and the one table mapping service errors to statuses and codes.
//! - [`extract`]: body, query, page and bearer-token extractors, with API-format rejections.
//! - [`cursor`]: opaque, list-bound pagination cursors.
//! - [`observe`]: request ids, access logs and Prometheus metrics, as one middleware.
//! - [`limits`]: rate limits per budget, per account or keyed client-address hash, on the cache.
//! - `routes/`: one module per service; each handler carries its `#[utoipa::path]`, and the router
//!   is built from those annotations, so the OpenAPI document cannot drift from the routes.
//! - [`app`]: [`AppState`], [`GatewayConfig`] and [`router`], which assembles everything.
//!
//! # Invariants
//! - Every response, error or not, carries `X-Request-Id` and, if an error, the JSON error body.
//! - Logs carry request ids, routes (templates, not raw paths), statuses and latencies: never IPs,
//!   tokens, recovery keys, query strings or bodies.

pub mod app;
pub mod blocks;
pub mod cursor;
pub mod error;
pub mod extract;
#[doc(hidden)]
pub mod fuzzing;
pub mod limits;
pub mod observe;
pub mod openapi;
pub(crate) mod routes;
pub mod server;

pub use app::{router, AppState, GatewayConfig, MetricsSource, Services};
pub use error::ApiError;
pub use limits::{Budget, Limit, Network, RateLimitSettings, RateLimiter};
pub use observe::Metrics;
pub use routes::operations::admin_router;
