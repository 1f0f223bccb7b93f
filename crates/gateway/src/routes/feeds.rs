//! Feed routes: home (the caller's), popular and hashtag (public).

use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery, PageQuery, Reader, ReadingCaller};
use crate::routes::posts::PostPage;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use veilgram_core::text::{hashtags, is_tag_char, MAX_HASHTAG_CHARS};
use veilgram_core::UserId;
use veilgram_feeds::Feed;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(home_feed))
        .routes(routes!(popular_feed))
        .routes(routes!(hashtag_feed))
}

/// A page of `feed` as `reader` may see it, as a `PostPage` body (written by `rendered`, see
/// there).
async fn page(
    state: &AppState,
    feed: Feed<'_>,
    reader: Reader,
    query: &PageQuery,
) -> Result<Response, ApiError> {
    let viewer = reader.viewer();
    reader.read(state, render(state, feed, viewer, query)).await
}

async fn render(
    state: &AppState,
    feed: Feed<'_>,
    viewer: Option<UserId>,
    query: &PageQuery,
) -> Result<Response, ApiError> {
    let limit = query.limit()?;
    let cursor = match &query.cursor {
        Some(raw) => Some(state.feeds.decode_cursor(feed, raw)?),
        None => None,
    };
    let page = state
        .feeds
        .page(feed, viewer, cursor, limit as usize)
        .await?;
    let next_cursor = page.next.map(|next| state.feeds.encode_cursor(feed, next));
    let body = state.rendered_posts().page(page.posts, next_cursor);
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Posts by the accounts the caller follows, and the caller's own, newest first.
#[utoipa::path(
    get, path = "/api/v1/feed/home", tag = "feeds", security(("bearer" = [])),
    params(("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = PostPage), (status = 400, body = ErrorBody),
               (status = 401, body = ErrorBody), (status = 503, body = ErrorBody))
)]
async fn home_feed(
    State(state): State<AppState>,
    ReadingCaller(reader): ReadingCaller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let caller = reader.caller()?;
    page(&state, Feed::Home(caller), reader, &query).await
}

/// Public posts of the last week ranked by engagement with time decay.
#[utoipa::path(
    get, path = "/api/v1/feed/popular", tag = "feeds", security((), ("bearer" = [])),
    params(("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = PostPage), (status = 400, body = ErrorBody),
               (status = 503, body = ErrorBody))
)]
async fn popular_feed(
    State(state): State<AppState>,
    reader: Reader,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    page(&state, Feed::Popular, reader, &query).await
}

/// Public posts carrying a hashtag, newest first. The tag is matched as stored: NFKC, lower
/// case, with or without its `#`.
#[utoipa::path(
    get, path = "/api/v1/feed/hashtags/{tag}", tag = "feeds", security((), ("bearer" = [])),
    params(("tag" = String, Path), ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = PostPage), (status = 400, body = ErrorBody),
               (status = 503, body = ErrorBody))
)]
async fn hashtag_feed(
    State(state): State<AppState>,
    reader: Reader,
    ApiPath(tag): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let raw = tag.strip_prefix('#').unwrap_or(&tag);
    let length = raw.chars().count();
    if length == 0 || length > MAX_HASHTAG_CHARS || !raw.chars().all(is_tag_char) {
        return Err(ApiError::invalid_field(
            "tag",
            "a hashtag is 1 to 100 letters, digits or _",
        ));
    }
    let parsed = hashtags(&format!("#{raw}"));
    let Some(tag) = parsed.first() else {
        return Err(ApiError::invalid_field("tag", "not a hashtag"));
    };
    page(&state, Feed::Hashtag(tag), reader, &query).await
}
