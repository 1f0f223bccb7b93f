//! Post routes: create, read, edit, delete, a user's posts, likes, reports.

use crate::app::AppState;
use crate::cursor;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{
    idempotency_key, path_uuid, ApiJson, ApiJsonWithDigest, ApiPath, ApiQuery, Caller, MaybeCaller,
    PageQuery,
};
use crate::routes::media::MediaView;
use crate::routes::polls::PollView;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use veilgram_core::ports::{Actor, PostRecord};
use veilgram_core::{PostId, UserId};
use veilgram_posts::{NewPostRequest, PollRequest, PostError};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_post))
        .routes(routes!(get_post, edit_post, delete_post))
        .routes(routes!(user_posts))
        .routes(routes!(like_post, unlike_post))
        .routes(routes!(report_post))
        .routes(routes!(appeal_post))
}

#[derive(Serialize, ToSchema)]
pub struct AuthorView {
    #[schema(value_type = String, format = Uuid)]
    id: UserId,
    nickname: String,
    avatar: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ModerationView {
    /// `visible`, `warned` (shown behind a notice with the reason, which the reader taps
    /// through) or `hidden` (pending review: only its author sees it).
    state: String,
    /// Why it is warned or hidden: `slur`, `profanity`, `toxicity`, `spam` or `reports`
    /// (automatic moderation), or `moderator`; absent while visible.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

impl ModerationView {
    pub fn of(state: String, reason: Option<String>) -> Self {
        let reason = if state == "visible" {
            None
        } else {
            Some(reason.unwrap_or_else(|| "moderator".to_owned()))
        };
        Self { state, reason }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PostView {
    #[schema(value_type = String, format = Uuid)]
    id: PostId,
    author: AuthorView,
    text: String,
    hashtags: Vec<String>,
    /// Attached uploads, in the order given.
    media: Vec<MediaView>,
    poll: Option<PollView>,
    visibility: String,
    anonymous_thread: bool,
    like_count: i64,
    comment_count: i64,
    liked_by_me: bool,
    created_at: String,
    edited_at: Option<String>,
    moderation: ModerationView,
}

impl From<PostRecord> for PostView {
    fn from(post: PostRecord) -> Self {
        Self {
            id: post.id,
            author: AuthorView {
                id: post.author_id,
                nickname: post.author_nickname,
                avatar: post.author_avatar_media_id.map(|id| format!("/media/{id}")),
            },
            text: post.text,
            hashtags: post.hashtags,
            media: post.media.into_iter().map(MediaView::from).collect(),
            poll: post.poll.map(PollView::from),
            visibility: post.visibility.as_str().to_owned(),
            anonymous_thread: post.anonymous_thread,
            like_count: post.like_count,
            comment_count: post.comment_count,
            liked_by_me: post.liked_by_me,
            created_at: post.created_at.to_rfc3339(),
            edited_at: post.edited_at.map(|at| at.to_rfc3339()),
            moderation: ModerationView::of(post.moderation_state, post.moderation_reason),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PostPage {
    pub items: Vec<PostView>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePostRequest {
    /// 1–2200 characters; `#hashtags` and `@mentions` are parsed from it.
    text: String,
    /// Up to 10 media the caller uploaded.
    #[serde(default)]
    media_ids: Vec<String>,
    poll: Option<PollRequestBody>,
    /// `public` (default) or `followers`.
    visibility: Option<String>,
    #[serde(default)]
    anonymous_thread: bool,
}

/// A poll created with the post.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PollRequestBody {
    /// 2–4 distinct options of at most 80 characters.
    options: Vec<String>,
    /// 300 (5 minutes) to 604800 (7 days).
    closes_in_seconds: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditPostRequest {
    text: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// `spam`, `abuse`, `nsfw` or `other`.
    reason: String,
    note: Option<String>,
}

fn post_id(raw: &str) -> Result<PostId, ApiError> {
    path_uuid(raw, "id")
}

/// Creates a post. With `Idempotency-Key`, a retry with the same body returns the first post.
#[utoipa::path(
    post, path = "/api/v1/posts", tag = "posts", security(("bearer" = [])),
    request_body = CreatePostRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "makes retries safe for 24 hours")),
    responses(
        (status = 201, body = PostView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)
    )
)]
async fn create_post(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    ApiJsonWithDigest(request, digest): ApiJsonWithDigest<CreatePostRequest>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    ApiError::screen(&state.classifier, "text", &request.text)?;
    let links = veilgram_core::text::links(&request.text);
    state.rate_limits.spend_links(caller.user_id, links).await?;
    let request = NewPostRequest {
        text: request.text,
        media_ids: request.media_ids,
        poll: request.poll.map(|poll| PollRequest {
            options: poll.options,
            closes_in_seconds: poll.closes_in_seconds,
        }),
        visibility: request.visibility,
        anonymous_thread: request.anonymous_thread,
    };
    let (post, replayed) = state
        .posts
        .create(caller.user_id, request, key.map(|key| (key, digest)))
        .await?;
    // The author's posts_count changed: this process must not serve a stale profile.
    state.users.forget_cached(caller.user_id);
    let mut response = (StatusCode::CREATED, Json(PostView::from(post))).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// A post, if the caller may see it (public posts need no token).
#[utoipa::path(
    get, path = "/api/v1/posts/{id}", tag = "posts", security((), ("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = PostView), (status = 404, body = ErrorBody))
)]
async fn get_post(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PostView>, ApiError> {
    let post = state
        .posts
        .get(post_id(&id)?, caller.map(|c| c.user_id))
        .await?;
    Ok(Json(post.into()))
}

/// Replaces the text of the caller's own post.
#[utoipa::path(
    patch, path = "/api/v1/posts/{id}", tag = "posts", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)), request_body = EditPostRequest,
    responses((status = 200, body = PostView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
async fn edit_post(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<EditPostRequest>,
) -> Result<Json<PostView>, ApiError> {
    let id = post_id(&id)?;
    ApiError::screen(&state.classifier, "text", &request.text)?;
    let mut links = veilgram_core::text::links(&request.text);
    if links > 0 {
        // Only links the edit adds are spent.
        if let Ok(before) = state.posts.get(id, Some(caller.user_id)).await {
            links = links.saturating_sub(veilgram_core::text::links(&before.text));
        }
    }
    state.rate_limits.spend_links(caller.user_id, links).await?;
    let post = state.posts.edit(id, caller.user_id, &request.text).await?;
    state.post_changed(post.id).await;
    Ok(Json(post.into()))
}

/// Deletes the caller's own post.
#[utoipa::path(
    delete, path = "/api/v1/posts/{id}", tag = "posts", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
async fn delete_post(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let id = post_id(&id)?;
    match state.posts.delete(id, caller.user_id).await {
        // A moderator may delete anyone's post they can see.
        Err(PostError::NotAuthor) if state.moderation.is_moderator(caller.user_id).await? => {
            let post = state.posts.get(id, Some(caller.user_id)).await?;
            state
                .posts
                .remove(id, post.author_id, Actor::User(caller.user_id))
                .await?;
            state.users.forget_cached(post.author_id);
        }
        outcome => {
            outcome?;
            state.users.forget_cached(caller.user_id);
        }
    }
    state.post_changed(id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's posts the caller may see, newest first.
#[utoipa::path(
    get, path = "/api/v1/users/{id}/posts", tag = "posts", security((), ("bearer" = [])),
    params(("id" = String, Path, format = Uuid), ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = PostPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
async fn user_posts(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<PostPage>, ApiError> {
    let author: UserId = path_uuid(&id, "id")?;
    let viewer = caller.map(|c| c.user_id);
    let limit = page.limit()?;
    let before: Option<PostId> = page
        .cursor
        .as_deref()
        .map(|raw| cursor::decode_id(&state, "user-posts", raw))
        .transpose()?;
    // The author must be visible to the caller at all (not deactivated, no block either way).
    state.users.public_profile(author, viewer).await?;
    let posts = state
        .posts
        .by_author(author, viewer, before, limit + 1)
        .await?;
    Ok(Json(page_of(&state, posts, limit)))
}

fn page_of(state: &AppState, posts: Vec<PostRecord>, limit: i64) -> PostPage {
    let (posts, next_cursor) = cursor::page(state, "user-posts", posts, limit, |post| {
        post.id.to_string()
    });
    PostPage {
        items: posts.into_iter().map(PostView::from).collect(),
        next_cursor,
    }
}

/// Likes a post the caller may see. Idempotent.
#[utoipa::path(
    post, path = "/api/v1/posts/{id}/like", tag = "posts", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 404, body = ErrorBody))
)]
async fn like_post(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.posts.like(post_id(&id)?, caller.user_id).await?;
    state.accounts_changed(&[caller.user_id]).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes a like back. Idempotent.
#[utoipa::path(
    delete, path = "/api/v1/posts/{id}/like", tag = "posts", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 404, body = ErrorBody))
)]
async fn unlike_post(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.posts.unlike(post_id(&id)?, caller.user_id).await?;
    state.accounts_changed(&[caller.user_id]).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Why the author asks the moderators to look again.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppealRequest {
    /// Up to 500 characters.
    pub note: Option<String>,
}

/// The author appeals the warning or hide on their post (once per decision): it lands in the
/// moderators' queue.
#[utoipa::path(
    post, path = "/api/v1/posts/{id}/appeal", tag = "posts", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)), request_body = AppealRequest,
    responses((status = 202), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody))
)]
async fn appeal_post(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<AppealRequest>,
) -> Result<StatusCode, ApiError> {
    let content = veilgram_core::ports::ContentRef::Post(post_id(&id)?);
    state
        .moderation
        .appeal(caller.user_id, content, request.note.as_deref())
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Reports a post to the moderators.
#[utoipa::path(
    post, path = "/api/v1/posts/{id}/report", tag = "posts", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)), request_body = ReportRequest,
    responses((status = 202), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
async fn report_post(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<ReportRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .posts
        .report(
            post_id(&id)?,
            caller.user_id,
            &request.reason,
            request.note.as_deref(),
        )
        .await?;
    Ok(StatusCode::ACCEPTED)
}
