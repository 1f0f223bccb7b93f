//! Search: posts by any fragment of their text or hashtags, accounts by any fragment of their
//! nickname or status message (Korean and English), ranked by relevance, recency or
//! popularity; and hashtags holding the fragment, by use. The index proposes; every post is
//! then checked for the caller exactly as the feeds check theirs, and every account as profiles
//! are, so nothing the caller may not see is answered (and no count is given that would tell).

use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{page_limit, ApiQuery, Reader};
use crate::routes::graph::ProfilePage;
use crate::routes::posts::PostPage;
use crate::routes::users::PublicProfile;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use veilgram_core::ports::{Search, SearchPosition, SearchSort};
use veilgram_core::UserId;

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

/// A page of hashtags a search found (its schema is in `openapi::search_page`).
#[derive(Serialize)]
pub struct HashtagPage {
    items: Vec<HashtagUse>,
    next_cursor: Option<String>,
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

/// What a search looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Posts,
    Users,
    Hashtags,
}

/// The cursor list of one search: a cursor pages only the search it came from.
fn list(kind: Kind, sort: SearchSort, query: &str) -> String {
    let digest = Sha256::digest(veilgram_core::text::nickname_key(query).as_bytes());
    format!(
        "search:{kind:?}:{sort:?}:{}",
        veilgram_core::hex(&digest[..12])
    )
}

fn invalid_cursor() -> ApiError {
    ApiError::invalid_field("cursor", "the cursor is not valid for this list")
}

fn position(state: &AppState, list: &str, raw: &str) -> Result<SearchPosition, ApiError> {
    let position = crate::cursor::decode(state, list, raw)?;
    let (key, id) = position.split_once('|').ok_or_else(invalid_cursor)?;
    Ok(SearchPosition {
        key: key.parse().map_err(|_| invalid_cursor())?,
        id: id.parse::<uuid::Uuid>().map_err(|_| invalid_cursor())?,
    })
}

/// Posts (`type=posts`, the default) matching `q`, each word as a fragment of a word of the
/// text or a hashtag (`#` or not), in the order `sort` asks, signed-in callers also finding the
/// followers-only posts of accounts they follow; accounts (`type=users`) by fragments of their
/// nickname or status message, by relevance or followers (`popular`); or hashtags
/// (`type=hashtags`) holding `q` anywhere, the one it spells first, then by use in the last 30
/// days.
#[utoipa::path(
    get, path = "/api/v1/search", tag = "search", security((), ("bearer" = [])),
    params(
        ("q" = String, Query, min_length = 1, max_length = 200, description = "the words to find; query syntax is plain text"),
        ("type" = Option<String>, Query, description = "`posts` (the default), `users` or `hashtags`"),
        ("sort" = Option<String>, Query, description = "`relevance` (the default), `recent` (posts only) or `popular`; hashtags are ranked by use"),
        ("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)
    ),
    responses((status = 200, body = PostPage, description = "a `PostPage`, `ProfilePage` or `HashtagPage` as `type` asks"),
               (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 503, body = ErrorBody))
)]
async fn search(
    State(state): State<AppState>,
    reader: Reader,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Response, ApiError> {
    if query.q.is_empty() || query.q.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::invalid_field("q", "q is 1 to 200 characters"));
    }
    let kind = match query.kind.as_deref() {
        None | Some("posts") => Kind::Posts,
        Some("users") => Kind::Users,
        Some("hashtags") => Kind::Hashtags,
        Some(_) => {
            return Err(ApiError::invalid_field(
                "type",
                "type is posts, users or hashtags",
            ))
        }
    };
    let sort = match query.sort.as_deref() {
        None => SearchSort::Relevance,
        Some(raw) => SearchSort::parse(raw).ok_or_else(|| {
            ApiError::invalid_field("sort", "sort is relevance, recent or popular")
        })?,
    };
    if kind == Kind::Users && sort == SearchSort::Recent {
        // Accounts carry no sign-up time, and their order must not tell it.
        return Err(ApiError::invalid_field(
            "sort",
            "accounts are sorted by relevance or popular",
        ));
    }
    let limit = page_limit(query.limit.as_deref())?;
    let list = list(kind, sort, &query.q);
    let viewer = reader.viewer();
    let raw_cursor = query.cursor.as_deref();
    match kind {
        Kind::Hashtags => {
            let skip = match raw_cursor {
                Some(raw) => crate::cursor::decode_id::<i64>(&state, &list, raw)?,
                None => 0,
            };
            Ok(Json(hashtags(&state, &query.q, skip, limit, &list).await?).into_response())
        }
        Kind::Posts | Kind::Users => {
            let after = match raw_cursor {
                Some(raw) => Some(position(&state, &list, raw)?),
                None => None,
            };
            let search = Search {
                query: &query.q,
                sort,
                public_only: viewer.is_none(),
                after,
                // One more than the page, to know whether another follows.
                limit: usize::try_from(limit).unwrap_or(1) + 1,
            };
            if kind == Kind::Users {
                let work = users(&state, search, viewer, &list);
                reader.read(&state, work).await
            } else {
                let work = posts(&state, search, viewer, &list);
                reader.read(&state, work).await
            }
        }
    }
}

/// The page of hits the index proposed (one more than the page asks), and the next cursor:
/// the page ends at the last hit read, seen by the caller or not, so the next never repeats one.
fn page_of<Id: Copy>(
    state: &AppState,
    list: &str,
    hits: Vec<veilgram_core::ports::Hit<Id>>,
    wanted: usize,
) -> (Vec<Id>, Option<String>) {
    let limit = i64::try_from(wanted.saturating_sub(1)).unwrap_or(0);
    let (hits, next_cursor) = crate::cursor::page(state, list, hits, limit, |last| {
        format!("{}|{}", last.position.key, last.position.id)
    });
    (hits.iter().map(|hit| hit.id).collect(), next_cursor)
}

async fn posts(
    state: &AppState,
    search: Search<'_>,
    viewer: Option<UserId>,
    list: &str,
) -> Result<Response, ApiError> {
    let hits = state.search.search_posts(&search).await?;
    let (ids, next_cursor) = page_of(state, list, hits, search.limit);
    let posts = state.feeds.visible_posts(&ids, viewer).await?;
    let body = state.rendered_posts().page(posts, next_cursor);
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn users(
    state: &AppState,
    search: Search<'_>,
    viewer: Option<UserId>,
    list: &str,
) -> Result<Response, ApiError> {
    let hits = state.search.search_users(&search).await?;
    let (ids, next_cursor) = page_of(state, list, hits, search.limit);
    let users = state.users.visible_users(&ids, viewer).await?;
    Ok(Json(ProfilePage {
        items: users
            .into_iter()
            .map(|user| PublicProfile::new(user, None))
            .collect(),
        next_cursor,
    })
    .into_response())
}

async fn hashtags(
    state: &AppState,
    query: &str,
    skip: i64,
    limit: i64,
    list: &str,
) -> Result<HashtagPage, ApiError> {
    let found = state.feeds.hashtag_search(query, skip, limit + 1).await?;
    // Each tag with its place in the ranking: the cursor is the place after the page's last.
    let ranked: Vec<(i64, HashtagUse)> = (skip + 1..)
        .zip(found)
        .map(|(place, (tag, uses))| (place, HashtagUse { tag, uses }))
        .collect();
    let (ranked, next_cursor) =
        crate::cursor::page(state, list, ranked, limit, |(place, _)| place.to_string());
    let items = ranked.into_iter().map(|(_, item)| item).collect();
    Ok(HashtagPage { items, next_cursor })
}
