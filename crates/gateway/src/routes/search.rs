//! Search: posts by any fragment of their text or hashtags (Korean and English), ranked by
//! relevance, recency or popularity. The index proposes; every post is then checked for the
//! caller exactly as the feeds check theirs, so nothing the caller may not see is answered
//! (and no count is given that would tell).

use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{page_limit, ApiQuery, Reader};
use crate::routes::posts::PostPage;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use veilgram_core::ports::{PostSearch, SearchPosition, SearchSort};
use veilgram_core::{PostId, UserId};

/// Characters of `q` taken.
pub const MAX_QUERY_CHARS: usize = 200;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search))
        .routes(routes!(suggest_hashtags))
}

/// Hashtags a search box or composer may complete to.
#[derive(Serialize, ToSchema)]
pub struct HashtagSuggestions {
    items: Vec<HashtagUse>,
}

#[derive(Serialize, ToSchema)]
pub struct HashtagUse {
    /// Without `#`, normalised (NFKC, lower case).
    tag: String,
    /// Public posts that used it in the last 30 days.
    uses: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuggestQuery {
    q: String,
}

/// Hashtag autocompletion ranked by use: the tag `q` spells first (with or without `#`), then
/// the tags starting with it by how many public posts used them in the last 30 days; ten at most.
#[utoipa::path(
    get, path = "/api/v1/search/hashtags/suggest", tag = "search",
    params(("q" = String, Query, min_length = 1, max_length = 101, description = "what was typed, `#` or not")),
    responses((status = 200, body = HashtagSuggestions), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody))
)]
async fn suggest_hashtags(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<SuggestQuery>,
) -> Result<Json<HashtagSuggestions>, ApiError> {
    if query.q.is_empty() || query.q.chars().count() > veilgram_core::text::MAX_HASHTAG_CHARS + 1 {
        return Err(ApiError::invalid_field("q", "q is 1 to 101 characters"));
    }
    let found = state.feeds.hashtag_suggestions(&query.q, 10).await?;
    Ok(Json(HashtagSuggestions {
        items: found
            .into_iter()
            .map(|(tag, uses)| HashtagUse { tag, uses })
            .collect(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    q: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    sort: Option<String>,
    limit: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::non_empty")]
    cursor: Option<String>,
}

/// The cursor list of one search: a cursor pages only the search it came from.
fn list(sort: SearchSort, query: &str) -> String {
    let digest = Sha256::digest(veilgram_core::text::nickname_key(query).as_bytes());
    format!(
        "search:posts:{sort:?}:{}",
        veilgram_core::hex(&digest[..12])
    )
}

fn position(state: &AppState, list: &str, raw: &str) -> Result<SearchPosition, ApiError> {
    let position = crate::cursor::decode(state, list, raw)?;
    let invalid = || ApiError::invalid_field("cursor", "the cursor is not valid for this list");
    let (key, post_id) = position.split_once('|').ok_or_else(invalid)?;
    Ok(SearchPosition {
        key: key.parse().map_err(|_| invalid())?,
        post_id: post_id.parse::<PostId>().map_err(|_| invalid())?,
    })
}

/// Posts matching `q`, each word as a fragment of a word of the text or a hashtag (`#` or
/// not), in the order `sort` asks; signed-in callers also find the followers-only posts of
/// accounts they follow.
#[utoipa::path(
    get, path = "/api/v1/search", tag = "search", security((), ("bearer" = [])),
    params(
        ("q" = String, Query, min_length = 1, max_length = 200, description = "the words to find; query syntax is plain text"),
        ("type" = Option<String>, Query, description = "`posts` (the default)"),
        ("sort" = Option<String>, Query, description = "`relevance` (the default), `recent` or `popular`"),
        ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)
    ),
    responses((status = 200, body = PostPage), (status = 400, body = ErrorBody),
               (status = 401, body = ErrorBody), (status = 503, body = ErrorBody))
)]
async fn search(
    State(state): State<AppState>,
    reader: Reader,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Response, ApiError> {
    if query.q.is_empty() || query.q.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::invalid_field("q", "q is 1 to 200 characters"));
    }
    match query.kind.as_deref() {
        None | Some("posts") => {}
        Some(_) => return Err(ApiError::invalid_field("type", "type is posts")),
    }
    let sort = match query.sort.as_deref() {
        None => SearchSort::Relevance,
        Some(raw) => SearchSort::parse(raw).ok_or_else(|| {
            ApiError::invalid_field("sort", "sort is relevance, recent or popular")
        })?,
    };
    let limit = page_limit(query.limit.as_deref())?;
    let list = list(sort, &query.q);
    let after = match query.cursor.as_deref() {
        Some(raw) => Some(position(&state, &list, raw)?),
        None => None,
    };
    let viewer = reader.viewer();
    let work = render(&state, &query.q, sort, viewer, after, limit, list);
    reader.read(&state, work).await
}

async fn render(
    state: &AppState,
    query: &str,
    sort: SearchSort,
    viewer: Option<UserId>,
    after: Option<SearchPosition>,
    limit: i64,
    list: String,
) -> Result<Response, ApiError> {
    let limit = usize::try_from(limit).unwrap_or(1);
    let hits = state
        .search
        .search_posts(&PostSearch {
            query,
            sort,
            public_only: viewer.is_none(),
            after,
            // One more than the page, to know whether another follows.
            limit: limit + 1,
        })
        .await?;
    let more = hits.len() > limit;
    let hits = &hits[..hits.len().min(limit)];
    let ids: Vec<PostId> = hits.iter().map(|hit| hit.post_id).collect();
    let posts = state.feeds.visible_posts(&ids, viewer).await?;
    // The page ends at the last hit read, seen or not, so the next page never repeats one.
    let next_cursor = hits.last().filter(|_| more).map(|last| {
        let position = format!("{}|{}", last.position.key, last.position.post_id);
        crate::cursor::encode(state, &list, &position)
    });
    let body = state.rendered_posts().page(posts, next_cursor);
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
