//! The routes of every service. Each handler's `#[utoipa::path]` is the single source of its
//! method, path and documented responses: `routes!` registers the handler from it.

mod admin;
mod auth;
mod comments;
mod feeds;
mod graph;
mod media;
mod notifications;
pub(crate) mod operations;
mod polls;
mod posts;
mod push;
pub(crate) mod realtime;
pub(crate) mod rendered;
mod search;
mod users;

use crate::app::AppState;
use crate::error::ErrorBody;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "VeilGram API",
        version = "1",
        description = "The public API of VeilGram, an anonymous social network. See API.md."
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerScheme)
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::routes())
        .merge(admin::routes())
        .merge(users::routes())
        .merge(posts::routes())
        .merge(graph::routes())
        .merge(comments::routes())
        .merge(polls::routes())
        .merge(feeds::routes())
        .merge(media::routes())
        .merge(notifications::routes())
        .merge(push::routes())
        .merge(search::routes())
        .merge(operations::routes())
}
