//! Notification routes: the caller's list, unread count, and marking read.

use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{path_uuid, ApiJson, ApiQuery, Caller, PageQuery};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use veilgram_core::NotificationId;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notifications))
        .routes(routes!(unread_count))
        .routes(routes!(mark_read))
}

/// A page of notifications; `next_cursor` continues it.
#[derive(Serialize, ToSchema)]
pub struct NotificationPage {
    /// `{id, type, actor, actors, post_id, comment_id, created_at, read}`; `actor` is null in
    /// anonymous threads, `actors` counts the people a grouped notification stands for.
    #[schema(value_type = Vec<Object>)]
    items: Vec<serde_json::Value>,
    next_cursor: Option<String>,
}

/// The caller's notifications, newest first.
#[utoipa::path(
    get, path = "/api/v1/notifications", tag = "notifications", security(("bearer" = [])),
    params(("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = NotificationPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
async fn list_notifications(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<NotificationPage>, ApiError> {
    let limit = query.limit()?;
    // Signed like every other list's cursor, and for this caller's list only.
    let list = format!("notifications:{}", caller.user_id);
    let before: Option<NotificationId> = query
        .cursor
        .as_deref()
        .map(|cursor| crate::cursor::decode_id(&state, &list, cursor))
        .transpose()?;
    let found = state
        .notifications
        .list(caller.user_id, before, limit + 1)
        .await?;
    let (found, next_cursor) =
        crate::cursor::page(&state, &list, found, limit, |last| last.id.to_string());
    Ok(Json(NotificationPage {
        items: found.iter().map(veilgram_notifications::to_json).collect(),
        next_cursor,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct UnreadCount {
    count: i64,
}

/// How many of the caller's notifications are unread.
#[utoipa::path(
    get, path = "/api/v1/notifications/unread_count", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = UnreadCount), (status = 401, body = ErrorBody))
)]
async fn unread_count(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<UnreadCount>, ApiError> {
    let count = state.notifications.unread_count(caller.user_id).await?;
    Ok(Json(UnreadCount { count }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// Marks this notification and every older one; all when absent.
    up_to_id: Option<String>,
}

/// Marks the caller's notifications read.
#[utoipa::path(
    post, path = "/api/v1/notifications/read", tag = "notifications", security(("bearer" = [])),
    request_body = ReadRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
async fn mark_read(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(request): ApiJson<ReadRequest>,
) -> Result<StatusCode, ApiError> {
    let up_to: Option<NotificationId> = request
        .up_to_id
        .as_deref()
        .map(|id| path_uuid(id, "up_to_id"))
        .transpose()?;
    state.notifications.mark_read(caller.user_id, up_to).await?;
    Ok(StatusCode::NO_CONTENT)
}
