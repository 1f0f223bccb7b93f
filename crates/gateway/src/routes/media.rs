//! Media routes: uploads (multipart, streamed to disk as they arrive), an upload's status, and
//! the stored files themselves with validators, ranges and long-lived caching.

use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{idempotency_key, path_uuid, ApiJson, ApiPath, Caller};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use veilgram_core::ports::MediaRecord;
use veilgram_media::MediaError;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_media))
        .routes(routes!(get_media, describe_media))
        .routes(routes!(serve_media))
}

/// An upload as clients see it.
#[derive(Serialize, ToSchema)]
pub struct MediaView {
    id: String,
    /// `image` or `video`.
    kind: String,
    /// `processing`, `ready` or `failed`.
    status: String,
    url: Option<String>,
    thumbnail_url: Option<String>,
    /// Videos: the first frame, at display size.
    #[serde(skip_serializing_if = "Option::is_none")]
    poster_url: Option<String>,
    width: Option<i64>,
    height: Option<i64>,
    duration_ms: Option<i64>,
    blurhash: Option<String>,
    /// The owner's description, for people who cannot see it.
    alt: Option<String>,
}

impl From<MediaRecord> for MediaView {
    fn from(media: MediaRecord) -> Self {
        Self {
            id: media.id.to_string(),
            kind: media.kind,
            status: media.status,
            url: media.key.map(|key| format!("/media/{key}")),
            thumbnail_url: media.thumbnail_key.map(|key| format!("/media/{key}")),
            poster_url: media.poster_key.map(|key| format!("/media/{key}")),
            width: media.width,
            height: media.height,
            duration_ms: media.duration_ms,
            blurhash: media.blurhash,
            alt: media.alt,
        }
    }
}

fn multipart_error(error: multer::Error) -> ApiError {
    match error {
        multer::Error::StreamSizeExceeded { limit }
        | multer::Error::FieldSizeExceeded { limit, .. } => MediaError::TooLarge { limit }.into(),
        other => ApiError::invalid_field("file", format!("not a valid multipart body: {other}")),
    }
}

/// Uploads one photo or video (multipart field `file`). The format is decided from the bytes;
/// the file name and the part's content type are ignored. Images are ready at once; videos are
/// `processing` until transcoded (poll `GET /api/v1/media/{id}`).
#[utoipa::path(
    post, path = "/api/v1/media", tag = "media", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "makes retries safe for 24 hours")),
    request_body(content_type = "multipart/form-data", description = "field `file`"),
    responses(
        (status = 201, body = MediaView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)
    )
)]
async fn upload_media(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        ApiError::invalid_field("file", "send the file as multipart/form-data, field `file`")
    })?;
    let limit = state.media.settings().max_upload_bytes();
    let constraints = multer::Constraints::new()
        .allowed_fields(vec!["file"])
        .size_limit(
            multer::SizeLimit::new()
                .whole_stream(limit + 64 * 1024)
                .per_field(limit),
        );
    let mut multipart =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut received = None;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        if received.is_some() {
            return Err(ApiError::invalid_field("file", "one file per upload"));
        }
        let mut receiver = state.media.receiver()?;
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            receiver.write(&chunk)?;
        }
        received = Some(receiver.finish());
    }
    let received = received.ok_or_else(|| ApiError::invalid_field("file", "no file was sent"))?;
    if received.size == 0 {
        return Err(ApiError::invalid_field("file", "the file is empty"));
    }
    let (media, replayed) = state.media.upload(caller.user_id, received, key).await?;
    let mut response = (StatusCode::CREATED, Json(MediaView::from(media))).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// One of the caller's uploads (anyone else's is not found): poll it while a video processes.
#[utoipa::path(
    get, path = "/api/v1/media/{id}", tag = "media", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = MediaView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
async fn get_media(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<MediaView>, ApiError> {
    let id = path_uuid(&id, "id")?;
    Ok(Json(state.media.get(id, caller.user_id).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DescribeRequest {
    /// The description for people who cannot see the upload; empty clears it.
    alt: String,
}

/// Describes one of the caller's uploads before it is attached (alternative text).
#[utoipa::path(
    patch, path = "/api/v1/media/{id}", tag = "media", security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body = DescribeRequest,
    responses((status = 200, body = MediaView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
async fn describe_media(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<DescribeRequest>,
) -> Result<Json<MediaView>, ApiError> {
    let id = path_uuid(&id, "id")?;
    let media = state
        .media
        .describe(id, caller.user_id, &request.alt)
        .await?;
    Ok(Json(media.into()))
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    All,
    Part(u64, u64),
    Unsatisfiable,
}

/// One `bytes=` range (`a-b`, `a-`, `-n`); several ranges, or anything unreadable, are
/// answered with the whole file, as RFC 9110 allows.
fn wanted(range: Option<&HeaderValue>, size: u64) -> Wanted {
    let Some(spec) = range
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().strip_prefix("bytes="))
    else {
        return Wanted::All;
    };
    if spec.contains(',') {
        return Wanted::All;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Wanted::All;
    };
    let (first, last) = (first.trim(), last.trim());
    let parsed = match (first.parse::<u64>(), last.parse::<u64>()) {
        (Ok(first), Ok(last)) if first <= last => Some((first, last.min(size.saturating_sub(1)))),
        (Ok(first), Err(_)) if last.is_empty() => Some((first, size.saturating_sub(1))),
        (Err(_), Ok(suffix)) if first.is_empty() && suffix > 0 => {
            Some((size.saturating_sub(suffix), size.saturating_sub(1)))
        }
        _ => return Wanted::All,
    };
    match parsed {
        Some((first, last)) if first < size && first <= last => Wanted::Part(first, last),
        _ => Wanted::Unsatisfiable,
    }
}

/// A stored file: strong `ETag` (`If-None-Match` → 304), `Range` (206, 416), immutable caching.
#[utoipa::path(
    get, path = "/media/{key}", tag = "media",
    params(("key" = String, Path, description = "as in a media object's `url`")),
    responses((status = 200, description = "the bytes"), (status = 206, description = "a range"),
               (status = 304, description = "not modified"), (status = 404, body = ErrorBody),
               (status = 416, description = "range not satisfiable"))
)]
async fn serve_media(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let valid_key = key.len() < 64
        && key.starts_with('m')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
    if !valid_key {
        return Err(ApiError::not_found("media"));
    }
    let object = state.media.object(&key).await?;
    let etag = format!("\"{}\"", object.etag);
    let size = object.size as u64;
    let mut response_headers = HeaderMap::new();
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            response_headers.insert(name, value);
        }
    };
    set(header::ETAG, &etag);
    set(header::CACHE_CONTROL, "public, max-age=31536000, immutable");
    set(header::CONTENT_TYPE, &object.content_type);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::CONTENT_DISPOSITION, "inline");
    set(header::ACCEPT_RANGES, "bytes");
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .map(|tag| tag.trim().trim_start_matches("W/"))
                .any(|tag| tag == etag || tag == "*")
        });
    if not_modified {
        return Ok((StatusCode::NOT_MODIFIED, response_headers).into_response());
    }
    // A range is honoured only while the client's copy is this one (If-Range).
    let range_applies = headers
        .get(header::IF_RANGE)
        .is_none_or(|value| value.to_str().ok() == Some(etag.as_str()));
    let wanted = if range_applies {
        wanted(headers.get(header::RANGE), size)
    } else {
        Wanted::All
    };
    let (status, range) = match wanted {
        Wanted::All => (StatusCode::OK, None),
        Wanted::Part(first, last) => {
            set(
                header::CONTENT_RANGE,
                &format!("bytes {first}-{last}/{size}"),
            );
            (StatusCode::PARTIAL_CONTENT, Some(first..last + 1))
        }
        Wanted::Unsatisfiable => {
            set(header::CONTENT_RANGE, &format!("bytes */{size}"));
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, response_headers).into_response());
        }
    };
    let length = range.as_ref().map_or(size, |range| range.end - range.start);
    set(header::CONTENT_LENGTH, &length.to_string());
    let stored = state.media.storage().get(&key, range).await?;
    let body = Body::from_stream(
        stored
            .into_stream()
            .map(|chunk| chunk.map_err(std::io::Error::other)),
    );
    Ok((status, response_headers, body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_like_rfc_9110_says() {
        let range = |text: &str| wanted(Some(&HeaderValue::from_str(text).unwrap()), 1000);
        assert_eq!(wanted(None, 1000), Wanted::All);
        assert_eq!(range("bytes=0-99"), Wanted::Part(0, 99));
        assert_eq!(range("bytes=900-"), Wanted::Part(900, 999));
        assert_eq!(range("bytes=-100"), Wanted::Part(900, 999));
        assert_eq!(range("bytes=990-2000"), Wanted::Part(990, 999));
        assert_eq!(range("bytes=1000-1001"), Wanted::Unsatisfiable);
        assert_eq!(range("bytes=5-1"), Wanted::All);
        assert_eq!(range("bytes=0-1,5-9"), Wanted::All);
        assert_eq!(range("items=0-1"), Wanted::All);
    }
}
