//! User routes: the caller's own profile, someone's public profile, deactivate, delete, export.

use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{path_uuid, ApiJson, ApiPath, Caller, MaybeCaller};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use veilgram_core::ports::UserRecord;
use veilgram_core::UserId;
use veilgram_users::ProfileUpdate;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me, update_me, delete_me))
        .routes(routes!(deactivate_me))
        .routes(routes!(export_me))
        .routes(routes!(get_user))
}

/// The caller's own profile, with private fields.
#[derive(Serialize, ToSchema)]
pub struct Profile {
    #[schema(value_type = String, format = Uuid)]
    id: UserId,
    nickname: String,
    status_message: String,
    /// URL of the avatar image, or null.
    avatar: Option<String>,
    created_at: String,
    followers_count: i64,
    following_count: i64,
    posts_count: i64,
    /// `member` or `moderator`.
    role: String,
}

impl Profile {
    async fn with_role(mut self, state: &AppState) -> Result<Self, ApiError> {
        if state.moderation.is_moderator(self.id).await? {
            veilgram_moderation::MODERATOR.clone_into(&mut self.role);
        }
        Ok(self)
    }
}

/// Someone's profile as anyone may see it: no sign-up time.
#[derive(Serialize, ToSchema)]
pub struct PublicProfile {
    #[schema(value_type = String, format = Uuid)]
    id: UserId,
    nickname: String,
    status_message: String,
    avatar: Option<String>,
    followers_count: i64,
    following_count: i64,
    posts_count: i64,
    /// Whether the caller follows this account (false when anonymous; absent in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    followed_by_me: Option<bool>,
}

fn avatar_url(user: &UserRecord) -> Option<String> {
    user.avatar_media_id
        .as_ref()
        .map(|id| format!("/media/{id}"))
}

impl From<UserRecord> for Profile {
    fn from(user: UserRecord) -> Self {
        Self {
            avatar: avatar_url(&user),
            id: user.id,
            nickname: user.nickname,
            status_message: user.status_message,
            created_at: user.created_at.to_rfc3339(),
            followers_count: user.followers_count,
            following_count: user.following_count,
            posts_count: user.posts_count,
            role: veilgram_moderation::MEMBER.to_owned(),
        }
    }
}

impl PublicProfile {
    pub(crate) fn new(user: UserRecord, followed_by_me: Option<bool>) -> Self {
        Self {
            followed_by_me,
            avatar: avatar_url(&user),
            id: user.id,
            nickname: user.nickname,
            status_message: user.status_message,
            followers_count: user.followers_count,
            following_count: user.following_count,
            posts_count: user.posts_count,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProfileRequest {
    /// 2–30 letters (Hangul included), digits, `_` or `.`; unique ignoring case and width.
    nickname: Option<String>,
    /// At most 150 characters.
    status_message: Option<String>,
    /// An image the caller uploaded.
    avatar_media_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SessionExport {
    created_at: String,
    expires_at: String,
    revoked_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ExportResponse {
    profile: Profile,
    sessions: Vec<SessionExport>,
    exported_at: String,
}

/// The caller's profile.
#[utoipa::path(
    get, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Profile), (status = 401, body = ErrorBody))
)]
async fn get_me(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Profile>, ApiError> {
    let profile = Profile::from(state.users.me(caller.user_id).await?);
    Ok(Json(profile.with_role(&state).await?))
}

/// Changes the caller's nickname, status message or avatar.
#[utoipa::path(
    patch, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    request_body = UpdateProfileRequest,
    responses(
        (status = 200, body = Profile), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
async fn update_me(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(request): ApiJson<UpdateProfileRequest>,
) -> Result<Json<Profile>, ApiError> {
    if let Some(status) = &request.status_message {
        ApiError::screen(&state.classifier, "status_message", status)?;
    }
    let update = ProfileUpdate {
        nickname: request.nickname,
        status_message: request.status_message,
        avatar_media_id: request.avatar_media_id,
    };
    let profile = Profile::from(state.users.update(caller.user_id, update).await?);
    state.accounts_changed(&[caller.user_id]).await;
    Ok(Json(profile.with_role(&state).await?))
}

/// Erases the account; its tokens die at once and its nickname is freed.
#[utoipa::path(
    delete, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody))
)]
async fn delete_me(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<StatusCode, ApiError> {
    state.delete_account(caller.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Hides the account until its next login, and ends its sessions.
#[utoipa::path(
    post, path = "/api/v1/users/me/deactivate", tag = "users", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody))
)]
async fn deactivate_me(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<StatusCode, ApiError> {
    state.deactivate_account(caller.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Everything the server holds about the caller, as JSON.
#[utoipa::path(
    get, path = "/api/v1/users/me/export", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = ExportResponse), (status = 401, body = ErrorBody))
)]
async fn export_me(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Response, ApiError> {
    let export = state.users.export(caller.user_id).await?;
    let body = ExportResponse {
        profile: Profile::from(export.profile).with_role(&state).await?,
        sessions: export
            .sessions
            .into_iter()
            .map(|session| SessionExport {
                created_at: session.created_at.to_rfc3339(),
                expires_at: session.expires_at.to_rfc3339(),
                revoked_at: session.revoked_at.map(|at| at.to_rfc3339()),
            })
            .collect(),
        exported_at: veilgram_core::Timestamp::now().to_rfc3339(),
    };
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"veilgram-export.json\""),
    );
    Ok(response)
}

/// Someone's public profile. Deactivated and deleted accounts are 404.
#[utoipa::path(
    get, path = "/api/v1/users/{id}", tag = "users", security((), ("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "user id")),
    responses((status = 200, body = PublicProfile), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
async fn get_user(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PublicProfile>, ApiError> {
    let user_id: UserId = path_uuid(&id, "id")?;
    let viewer = caller.map(|c| c.user_id);
    let profile = state.users.public_profile(user_id, viewer).await?;
    let followed_by_me = state.users.follows(viewer, user_id).await?;
    Ok(Json(PublicProfile::new(profile, Some(followed_by_me))))
}
