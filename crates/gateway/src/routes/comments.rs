//! Comment routes: comment and reply, read threads and replies, like, report, delete, and block
//! the author of a comment without learning who it is.

use crate::app::AppState;
use crate::cursor;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{
    idempotency_key, path_uuid, ApiJson, ApiJsonWithDigest, ApiPath, ApiQuery, Caller, MaybeCaller,
    PageQuery,
};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use veilgram_comments::{BlockedAuthor, ThreadView};
use veilgram_core::ports::{alias_label, CommentAuthor, CommentRecord};
use veilgram_core::{AliasBlockId, CommentId, PostId};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_comment, post_comments))
        .routes(routes!(replies))
        .routes(routes!(delete_comment))
        .routes(routes!(like_comment, unlike_comment))
        .routes(routes!(report_comment))
        .routes(routes!(appeal_comment))
        .routes(routes!(block_comment_author))
        .routes(routes!(alias_blocks))
        .routes(routes!(unblock_alias))
}

/// An account (`id`, `nickname`, `avatar`), an alias in an anonymous thread (`alias` only), or
/// null for a deleted comment.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CommentAuthorView {
    Account {
        #[schema(value_type = String, format = Uuid)]
        id: veilgram_core::UserId,
        nickname: String,
        avatar: Option<String>,
    },
    Alias {
        alias: String,
    },
}

#[derive(Serialize, ToSchema)]
pub struct CommentView {
    #[schema(value_type = String, format = Uuid)]
    id: CommentId,
    #[schema(value_type = String, format = Uuid)]
    post_id: PostId,
    #[schema(value_type = Option<String>, format = Uuid)]
    parent_id: Option<CommentId>,
    author: Option<CommentAuthorView>,
    /// `[deleted]` for a deleted comment kept because it has replies.
    text: String,
    deleted: bool,
    like_count: i64,
    liked_by_me: bool,
    reply_count: i64,
    /// The first replies (in thread listings only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    replies: Option<Vec<CommentView>>,
    created_at: String,
    moderation: crate::routes::posts::ModerationView,
}

impl CommentView {
    fn new(comment: CommentRecord, replies: Option<Vec<CommentRecord>>) -> Self {
        let author = match comment.author {
            CommentAuthor::Account {
                id,
                nickname,
                avatar_media_id,
            } => Some(CommentAuthorView::Account {
                id,
                nickname,
                avatar: avatar_media_id.map(|media| format!("/media/{media}")),
            }),
            CommentAuthor::Alias(alias) => Some(CommentAuthorView::Alias { alias }),
            CommentAuthor::Gone => None,
        };
        Self {
            id: comment.id,
            post_id: comment.post_id,
            parent_id: comment.parent_id,
            author,
            text: if comment.deleted {
                "[deleted]".to_owned()
            } else {
                comment.text
            },
            deleted: comment.deleted,
            like_count: comment.like_count,
            liked_by_me: comment.liked_by_me,
            reply_count: comment.reply_count,
            replies: replies.map(|replies| {
                replies
                    .into_iter()
                    .map(|reply| Self::new(reply, None))
                    .collect()
            }),
            created_at: comment.created_at.to_rfc3339(),
            moderation: crate::routes::posts::ModerationView::of(
                comment.moderation_state,
                comment.moderation_reason,
            ),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CommentPage {
    items: Vec<CommentView>,
    next_cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCommentRequest {
    /// 1–1000 characters.
    text: String,
    /// The comment replied to; replies deeper than the limit attach to the deepest level.
    parent_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentReportRequest {
    reason: String,
    note: Option<String>,
}

fn comment_id(raw: &str) -> Result<CommentId, ApiError> {
    path_uuid(raw, "id")
}

fn after(state: &AppState, page: &PageQuery, list: &str) -> Result<Option<CommentId>, ApiError> {
    page.cursor
        .as_deref()
        .map(|raw| cursor::decode_id(state, list, raw))
        .transpose()
}

fn page(state: &AppState, views: Vec<CommentView>, limit: i64, list: &str) -> CommentPage {
    let (items, next_cursor) = cursor::page(state, list, views, limit, |view| view.id.to_string());
    CommentPage { items, next_cursor }
}

/// Comments on a post, or replies to one of its comments.
#[utoipa::path(post, path = "/api/v1/posts/{id}/comments", tag = "comments", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid),
           ("Idempotency-Key" = Option<String>, Header, description = "makes retries safe for 24 hours")),
    request_body = CreateCommentRequest,
    responses((status = 201, body = CommentView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
async fn create_comment(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJsonWithDigest(request, digest): ApiJsonWithDigest<CreateCommentRequest>,
) -> Result<Response, ApiError> {
    let post_id: PostId = path_uuid(&id, "id")?;
    let parent = request
        .parent_id
        .as_deref()
        .map(|raw| path_uuid(raw, "parent_id"))
        .transpose()?;
    let key = idempotency_key(&headers)?;
    ApiError::screen(&state.classifier, "text", &request.text)?;
    let links = veilgram_core::text::links(&request.text);
    state.rate_limits.spend_links(caller.user_id, links).await?;
    let (comment, replayed) = state
        .comments
        .create(
            post_id,
            caller.user_id,
            &request.text,
            parent,
            key.map(|key| (key, digest)),
        )
        .await?;
    let mut response = (StatusCode::CREATED, Json(CommentView::new(comment, None))).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Top-level comments of a post, oldest first, each with `reply_count` and its first replies.
#[utoipa::path(get, path = "/api/v1/posts/{id}/comments", tag = "comments", security((), ("bearer" = [])),
    params(("id" = String, Path, format = Uuid), ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = CommentPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn post_comments(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<CommentPage>, ApiError> {
    let post_id: PostId = path_uuid(&id, "id")?;
    let limit = query.limit()?;
    let threads = state
        .comments
        .thread(
            post_id,
            caller.map(|c| c.user_id),
            after(&state, &query, "comments")?,
            limit + 1,
        )
        .await?;
    let views = threads
        .into_iter()
        .map(|ThreadView { comment, replies }| CommentView::new(comment, Some(replies)))
        .collect();
    Ok(Json(page(&state, views, limit, "comments")))
}

/// Direct replies to a comment, oldest first.
#[utoipa::path(get, path = "/api/v1/comments/{id}/replies", tag = "comments", security((), ("bearer" = [])),
    params(("id" = String, Path, format = Uuid), ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = CommentPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn replies(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<CommentPage>, ApiError> {
    let limit = query.limit()?;
    let replies = state
        .comments
        .replies(
            comment_id(&id)?,
            caller.map(|c| c.user_id),
            after(&state, &query, "replies")?,
            limit + 1,
        )
        .await?;
    let views = replies
        .into_iter()
        .map(|reply| CommentView::new(reply, None))
        .collect();
    Ok(Json(page(&state, views, limit, "replies")))
}

/// Deletes a comment (its author or the post's author). One with replies stays as `[deleted]`.
#[utoipa::path(delete, path = "/api/v1/comments/{id}", tag = "comments", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_comment(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state
        .comments
        .delete(comment_id(&id)?, caller.user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Likes a comment. Idempotent.
#[utoipa::path(post, path = "/api/v1/comments/{id}/like", tag = "comments", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn like_comment(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state
        .comments
        .like(comment_id(&id)?, caller.user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes a like back. Idempotent.
#[utoipa::path(delete, path = "/api/v1/comments/{id}/like", tag = "comments", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)), responses((status = 204), (status = 404, body = ErrorBody)))]
async fn unlike_comment(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state
        .comments
        .unlike(comment_id(&id)?, caller.user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The writer appeals the warning or hide on their comment (once per decision): it lands in
/// the moderators' queue.
#[utoipa::path(post, path = "/api/v1/comments/{id}/appeal", tag = "comments", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)), request_body = crate::routes::posts::AppealRequest,
    responses((status = 202), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn appeal_comment(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<crate::routes::posts::AppealRequest>,
) -> Result<StatusCode, ApiError> {
    let content = veilgram_core::ports::ContentRef::Comment(comment_id(&id)?);
    state
        .moderation
        .appeal(caller.user_id, content, request.note.as_deref())
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Reports a comment to the moderators.
#[utoipa::path(post, path = "/api/v1/comments/{id}/report", tag = "comments", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)), request_body = CommentReportRequest,
    responses((status = 202), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn report_comment(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<CommentReportRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .comments
        .report(
            comment_id(&id)?,
            caller.user_id,
            &request.reason,
            request.note.as_deref(),
        )
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Blocks whoever wrote this comment, without telling the caller who it is. In an anonymous
/// thread this blocks the alias in that thread only: its comments there are hidden from the
/// caller and it notifies them no more, and the block is listed (and lifted) as "alias #n in
/// this thread" under `/users/me/alias-blocks`. Elsewhere the named author is blocked.
#[utoipa::path(post, path = "/api/v1/comments/{id}/block-author", tag = "comments", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn block_comment_author(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let blocked = state
        .comments
        .block_author(comment_id(&id)?, caller.user_id)
        .await?;
    if let BlockedAuthor::Account(author) = blocked {
        state.users.block(caller.user_id, author).await?;
        state.accounts_changed(&[caller.user_id, author]).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// One alias the caller blocked: which thread, which alias there. Never who it is.
#[derive(Serialize, ToSchema)]
pub struct AliasBlockView {
    #[schema(value_type = String, format = Uuid)]
    id: AliasBlockId,
    /// The anonymous thread's post.
    #[schema(value_type = String, format = Uuid)]
    post_id: PostId,
    /// `OP` or `#n`, as the thread shows it.
    alias: String,
    created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct AliasBlockPage {
    items: Vec<AliasBlockView>,
    next_cursor: Option<String>,
}

/// The aliases the caller blocked in anonymous threads, newest first.
#[utoipa::path(get, path = "/api/v1/users/me/alias-blocks", tag = "comments", security(("bearer" = [])),
    params(("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = AliasBlockPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn alias_blocks(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<AliasBlockPage>, ApiError> {
    const LIST: &str = "alias-blocks";
    let limit = page.limit()?;
    let before = page
        .cursor
        .as_deref()
        .map(|raw| cursor::decode_id(&state, LIST, raw))
        .transpose()?;
    let blocks = state
        .comments
        .alias_blocks(caller.user_id, before, limit + 1)
        .await?;
    let (blocks, next_cursor) =
        cursor::page(&state, LIST, blocks, limit, |block| block.id.to_string());
    Ok(Json(AliasBlockPage {
        items: blocks
            .into_iter()
            .map(|block| AliasBlockView {
                id: block.id,
                post_id: block.post_id,
                alias: alias_label(block.alias_number),
                created_at: block.created_at.to_rfc3339(),
            })
            .collect(),
        next_cursor,
    }))
}

/// Lifts an alias block. Idempotent.
#[utoipa::path(delete, path = "/api/v1/users/me/alias-blocks/{id}", tag = "comments", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn unblock_alias(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state
        .comments
        .unblock_alias(caller.user_id, path_uuid(&id, "id")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
