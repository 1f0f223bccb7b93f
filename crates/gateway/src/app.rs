//! The application state and the router that assembles routes, fallbacks and layers.

use crate::error::ApiError;
use crate::observe::{observe, Metrics};
use crate::routes;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use veilgram_core::ports::HealthCheck;

/// What the HTTP edge needs from configuration.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Origins allowed to call the API from a browser (exact `scheme://host[:port]`).
    pub cors_allowed_origins: Vec<String>,
    /// Upper bound of any JSON request body, in bytes.
    pub max_body_bytes: usize,
    /// Serve the API and the web app (the `api` role).
    pub api: bool,
    /// Serve `/ws` (the `realtime` role).
    pub realtime: bool,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            cors_allowed_origins: Vec::new(),
            max_body_bytes: 64 * 1024,
            api: true,
            realtime: true,
        }
    }
}

/// Renders Prometheus text for `/metrics`.
pub type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;

/// Everything a handler can reach, behind one `Arc`. axum clones the state for the handler and
/// for each middleware and extractor that asks for it, on every request: one shared count to
/// raise and lower is cheaper than one per service (nineteen atomic increments and decrements
/// per clone, on counters both cores touch, were 4% of a warm feed read's time in `perf`).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

struct Shared {
    services: Services,
    /// Posts' JSON as feed pages last showed them.
    rendered_posts: crate::routes::rendered::RenderedPosts,
}

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(Shared {
            services,
            rendered_posts: Default::default(),
        }))
    }

    pub(crate) fn rendered_posts(&self) -> &crate::routes::rendered::RenderedPosts {
        &self.0.rendered_posts
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0.services
    }
}

/// What [`AppState`] holds: the application (every service, and the workflows spanning them,
/// reached through `Deref`) and the HTTP edge's own parts and settings.
pub struct Services {
    pub app: Arc<veilgram_app::App>,
    /// This process's live connections.
    pub hub: Arc<veilgram_realtime::Hub>,
    /// Origins a browser may open `/ws` from (besides the server's own).
    pub ws_origins: Arc<Vec<String>>,
    /// Sockets not yet authenticated, per keyed client-address hash (`/ws` refuses beyond).
    pub unauthenticated_sockets: Arc<crate::server::AddressCounts>,
    /// The VAPID public key browsers subscribe to Web Push with (base64url).
    pub vapid_public_key: Arc<str>,
    pub rate_limits: Arc<crate::limits::RateLimiter>,
    /// The search index (the indexer consumer group writes it).
    pub search: Arc<dyn veilgram_core::ports::SearchIndex>,
    /// Networks blocked from writing (see `blocks`).
    pub address_blocks: Arc<crate::blocks::AddressBlocks>,
    /// Extra Prometheus text appended to `/metrics` (e.g. event consumers' progress).
    pub metrics_sources: Arc<[MetricsSource]>,
    pub health_checks: Arc<[Arc<dyn HealthCheck>]>,
    pub metrics: Arc<Metrics>,
}

impl std::ops::Deref for Services {
    type Target = veilgram_app::App;

    fn deref(&self) -> &veilgram_app::App {
        &self.app
    }
}

/// The whole HTTP surface, plus the OpenAPI document generated from the same routes.
pub fn router(state: AppState, config: &GatewayConfig) -> Router {
    let (routes, openapi) = routes::api_router().split_for_parts();
    let openapi = Arc::new(crate::openapi::document(&openapi));
    let metrics = Arc::clone(&state.metrics);
    // A process without the api role answers only the health checks (and `/ws` if realtime).
    let mut routes = if config.api {
        routes.route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let openapi = Arc::clone(&openapi);
                async move { axum::Json(openapi.as_ref().clone()) }
            }),
        )
    } else {
        routes::operations::routes().split_for_parts().0
    };
    if config.realtime {
        routes = routes.route("/ws", axum::routing::get(routes::realtime::websocket));
    }
    let routes = routes.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        crate::limits::rate_limit,
    ));
    let routes = if config.api {
        routes.merge(veilgram_web::routes())
    } else {
        routes
    };
    routes
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not accept that method",
            )
        })
        .with_state(state)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(CatchPanicLayer::custom(
            |_panic: Box<dyn std::any::Any + Send>| {
                ApiError::internal(&"a handler panicked").into_response()
            },
        ))
        .layer(cors_layer(config))
        .layer(axum::middleware::from_fn_with_state(metrics, observe))
}

fn cors_layer(config: &GatewayConfig) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .cors_allowed_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            HeaderName::from_static("ratelimit"),
            HeaderName::from_static("ratelimit-policy"),
        ])
        .max_age(Duration::from_secs(600))
}
