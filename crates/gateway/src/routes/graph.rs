//! Social-graph routes: follow, unfollow, block, unblock, followers and following lists.

use crate::app::AppState;
use crate::cursor;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{path_uuid, ApiPath, ApiQuery, Caller, MaybeCaller, PageQuery};
use crate::routes::users::PublicProfile;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use veilgram_core::ports::{GraphCursor, GraphList};
use veilgram_core::{Timestamp, UserId};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(follow, unfollow))
        .routes(routes!(block, unblock))
        .routes(routes!(followers))
        .routes(routes!(following))
        .routes(routes!(blocked))
}

#[derive(Serialize, ToSchema)]
pub struct ProfilePage {
    pub(crate) items: Vec<PublicProfile>,
    pub(crate) next_cursor: Option<String>,
}

fn target(raw: &str) -> Result<UserId, ApiError> {
    path_uuid(raw, "id")
}

/// Follows a user. Idempotent; 404 for users the caller cannot see.
#[utoipa::path(post, path = "/api/v1/users/{id}/follow", tag = "graph", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn follow(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.users.follow(caller.user_id, target(&id)?).await?;
    state.accounts_changed(&[caller.user_id]).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Stops following a user. Idempotent.
#[utoipa::path(delete, path = "/api/v1/users/{id}/follow", tag = "graph", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 400, body = ErrorBody)))]
async fn unfollow(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.users.unfollow(caller.user_id, target(&id)?).await?;
    state.accounts_changed(&[caller.user_id]).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Blocks a user: both disappear from each other everywhere and follows both ways are removed.
#[utoipa::path(post, path = "/api/v1/users/{id}/block", tag = "graph", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn block(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let target = target(&id)?;
    state.users.block(caller.user_id, target).await?;
    state.accounts_changed(&[caller.user_id, target]).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Lifts a block. Idempotent.
#[utoipa::path(delete, path = "/api/v1/users/{id}/block", tag = "graph", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 400, body = ErrorBody)))]
async fn unblock(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let target = target(&id)?;
    state.users.unblock(caller.user_id, target).await?;
    state.accounts_changed(&[caller.user_id, target]).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn list(
    state: &AppState,
    id: &str,
    which: GraphList,
    viewer: Option<UserId>,
    page: &PageQuery,
) -> Result<ProfilePage, ApiError> {
    let user_id = target(id)?;
    let limit = page.limit()?;
    let list_name = match which {
        GraphList::Followers => "followers",
        GraphList::Following => "following",
        GraphList::Blocked => "blocks",
    };
    let after = match &page.cursor {
        None => None,
        Some(raw) => {
            let position = cursor::decode(state, list_name, raw)?;
            let invalid =
                || ApiError::invalid_field("cursor", "the cursor is not valid for this list");
            let (since, user) = position.split_once(':').ok_or_else(invalid)?;
            Some(GraphCursor {
                since: Timestamp::from_millis(since.parse().map_err(|_| invalid())?),
                user_id: user.parse().map_err(|_| invalid())?,
            })
        }
    };
    let entries = state
        .users
        .graph_list(user_id, which, viewer, after, limit + 1)
        .await?;
    let (entries, next_cursor) = cursor::page(state, list_name, entries, limit, |entry| {
        format!("{}:{}", entry.since.as_millis(), entry.user.id)
    });
    Ok(ProfilePage {
        items: entries
            .into_iter()
            .map(|entry| PublicProfile::new(entry.user, None))
            .collect(),
        next_cursor,
    })
}

/// Who follows a user, newest first.
#[utoipa::path(get, path = "/api/v1/users/{id}/followers", tag = "graph", security((), ("bearer" = [])),
    params(("id" = String, Path, format = Uuid), ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ProfilePage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn followers(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<ProfilePage>, ApiError> {
    Ok(Json(
        list(
            &state,
            &id,
            GraphList::Followers,
            caller.map(|c| c.user_id),
            &page,
        )
        .await?,
    ))
}

/// Whom a user follows, newest first.
#[utoipa::path(get, path = "/api/v1/users/{id}/following", tag = "graph", security((), ("bearer" = [])),
    params(("id" = String, Path, format = Uuid), ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ProfilePage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn following(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<ProfilePage>, ApiError> {
    Ok(Json(
        list(
            &state,
            &id,
            GraphList::Following,
            caller.map(|c| c.user_id),
            &page,
        )
        .await?,
    ))
}

/// Whom the caller blocked, newest first (to unblock them: `DELETE /users/{id}/block`).
#[utoipa::path(get, path = "/api/v1/users/me/blocks", tag = "graph", security(("bearer" = [])),
    params(("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ProfilePage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn blocked(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<ProfilePage>, ApiError> {
    let me = caller.user_id;
    Ok(Json(
        list(&state, &me.to_string(), GraphList::Blocked, Some(me), &page).await?,
    ))
}
