//! Extractors whose rejections speak API.md's error format: a JSON body that names the field at
//! fault, and the bearer-token caller.

use crate::app::AppState;
use crate::error::ApiError;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use std::future::Future;
use veilgram_auth::{Principal, Unconfirmed};
use veilgram_core::UserId;

/// A JSON request body. An empty body reads as `{}`, so endpoints whose fields are all optional
/// accept a bare POST.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (bytes, is_json_body) = read_body(request, state).await?;
        let body: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        if body != b"{}" && !is_json_body {
            return Err(unsupported_media_type());
        }
        parse_json(body).map(ApiJson)
    }
}

/// The body's bytes (within the body limit), and whether it was declared as JSON.
async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<(Bytes, bool), ApiError> {
    let declared_json = is_json(
        request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok()),
    );
    let bytes = Bytes::from_request(request, state)
        .await
        .map_err(body_rejection)?;
    Ok((bytes, declared_json))
}

fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "the body must be application/json",
    )
}

fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json")
                || (mime.len() > 5
                    && mime[..mime.len() - 5]
                        .to_ascii_lowercase()
                        .starts_with("application/")
                    && mime.to_ascii_lowercase().ends_with("+json"))
        })
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the body is too large",
        )
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            "the body could not be read",
        )
    }
}

/// Parses JSON, naming the field at fault in the error. A number with a zero fraction (`3.0`)
/// is the integer it equals, as JSON Schema's `integer` says.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // Every body is an object: serde would also read a struct from an array of its fields.
    if body.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "the body must be a JSON object",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    let value = match parsed {
        Ok(value) => value,
        Err(error)
            if error
                .inner()
                .to_string()
                .starts_with("invalid type: floating point") =>
        {
            let mut tree: serde_json::Value =
                serde_json::from_slice(body).map_err(|_| malformed_json())?;
            if !integral_numbers(&mut tree) {
                return Err(field_error(error));
            }
            return serde_path_to_error::deserialize(tree).map_err(field_error);
        }
        Err(error) => return Err(field_error(error)),
    };
    deserializer.end().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "trailing data after the JSON body",
        )
    })?;
    Ok(value)
}

fn malformed_json() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "malformed_json",
        "the body is not valid JSON",
    )
}

/// The API error for a body that is JSON but not what the operation takes, naming the field.
fn field_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    if inner.is_syntax() || inner.is_eof() || inner.is_io() {
        return malformed_json();
    }
    let message = inner.to_string();
    // The path of an unknown field ends in its name; that of a missing one is its parent's,
    // and serde names the field only in the message.
    let field = match (path.as_str(), message.starts_with("missing field")) {
        (".", _) => field_named_in(&message),
        (parent, true) => field_named_in(&message).map(|child| format!("{parent}.{child}")),
        (path, false) => Some(path.to_owned()),
    };
    let clean = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    let mut api_error = ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", clean);
    api_error.field = field;
    api_error
}

/// Turns every number in `tree` with a zero fraction into the integer it equals; whether any
/// was turned.
fn integral_numbers(tree: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match tree {
        Value::Number(number) if number.is_f64() => {
            let Some(float) = number.as_f64() else {
                return false;
            };
            let exact = float.fract() == 0.0 && float.abs() < 9_007_199_254_740_992.0;
            if exact {
                *tree = Value::from(float as i64);
            }
            exact
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |turned, item| integral_numbers(item) | turned),
        Value::Object(fields) => fields
            .values_mut()
            .fold(false, |turned, value| integral_numbers(value) | turned),
        _ => false,
    }
}

/// serde names the field in "missing field `x`" / "unknown field `x`" messages at the root.
fn field_named_in(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let length = message[start..].find('`')?;
    Some(message[start..start + length].to_owned())
}

/// The authenticated caller. Rejects with 401 when the bearer token is missing, malformed,
/// expired, revoked or not an access token.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(authenticate(parts, state).await?))
    }
}

/// Where a request comes from, as far as the server may know it: the address (never stored or
/// logged) and its keyed hash of the day, which names it in counters.
pub struct ClientAddress {
    pub address: Option<std::net::IpAddr>,
    pub bucket: String,
}

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let address = state
            .rate_limits
            .request_address(&parts.extensions, &parts.headers);
        let bucket = match address {
            Some(address) => {
                state
                    .rate_limits
                    .address_bucket(address, veilgram_core::Timestamp::now())
                    .await?
            }
            // An in-process caller: one shared name.
            None => "unknown".into(),
        };
        Ok(Self { address, bucket })
    }
}

/// A caller the rate-limit middleware already authenticated for this request (extensions are
/// set by the server only), so the token is verified once.
#[derive(Clone, Copy)]
pub struct Authenticated(pub Principal);

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    if let Some(Authenticated(principal)) = parts.extensions.get::<Authenticated>() {
        return Ok(*principal);
    }
    let token = bearer_token(&parts.headers)?;
    Ok(state.auth.authenticate(token).await?)
}

/// The token of an `Authorization: Bearer …` header.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(missing_token)?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("invalid_token", "the token is malformed"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "use the Bearer scheme"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized(
            "invalid_token",
            "use the Bearer scheme",
        ));
    }
    Ok(token.trim())
}

fn missing_token() -> ApiError {
    ApiError::unauthorized("missing_token", "an access token is required")
}

/// Parses a UUID path segment, answering 400 naming the parameter.
pub fn path_uuid<I: std::str::FromStr>(raw: &str, name: &str) -> Result<I, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::invalid_field(name, format!("{name} must be a UUID")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Login {
        user_id: String,
        nested: Option<Nested>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Nested {
        count: u8,
    }

    #[test]
    fn names_the_field_at_fault() {
        let missing = parse_json::<Login>(b"{}").unwrap_err();
        assert_eq!(missing.field.as_deref(), Some("user_id"));
        let unknown = parse_json::<Login>(br#"{"user_id":"x","admin":true}"#).unwrap_err();
        assert_eq!(unknown.field.as_deref(), Some("admin"));
        let nested = parse_json::<Login>(br#"{"user_id":"x","nested":{"count":999}}"#).unwrap_err();
        assert_eq!(nested.field.as_deref(), Some("nested.count"));
        assert_eq!(nested.code, "invalid_field");
    }

    #[test]
    fn integral_numbers_are_integers_and_arrays_are_not_objects() {
        let parsed = parse_json::<Login>(br#"{"user_id":"x","nested":{"count":7.0}}"#).unwrap();
        assert_eq!(parsed.nested.map(|nested| nested.count), Some(7));
        let fraction = parse_json::<Login>(br#"{"user_id":"x","nested":{"count":7.5}}"#);
        assert_eq!(fraction.unwrap_err().field.as_deref(), Some("nested.count"));
        let array = parse_json::<Login>(br#"["x", null]"#).unwrap_err();
        assert_eq!(
            array.code, "invalid_field",
            "serde would read a struct from it"
        );
    }

    #[test]
    fn malformed_json_is_its_own_error() {
        for body in [
            &b"{"[..],
            b"{\"user_id\": }",
            b"nope",
            b"{\"user_id\":\"x\"} trailing",
        ] {
            assert_eq!(
                parse_json::<Login>(body).unwrap_err().code,
                "malformed_json"
            );
        }
    }

    #[test]
    fn recognises_json_content_types() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON; charset=utf-8")));
        assert!(is_json(Some("application/merge-patch+json")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(None));
    }
}

/// The caller if a bearer token is present (and then it must be valid); `None` without one. For
/// public routes whose answer depends on who asks (visibility, `liked_by_me`).
pub struct MaybeCaller(pub Option<Principal>);

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(Self(None));
        }
        Ok(Self(Some(authenticate(parts, state).await?)))
    }
}

/// The caller, if a bearer token is present (and then it must be valid), of a route that only
/// reads: its token is verified, but its check against the revocation list shared through the
/// cache may still be to come. [`read`](Self::read) sends that check together with the read's
/// own cache round trips and answers the read only if the token holds, so a revoked token gets
/// its 401 as before, one round trip sooner for everyone else. Only for reads that change
/// nothing but caches (whose answer may be thrown away).
pub struct Reader(Option<Token>);

enum Token {
    /// Checked in full already (by the rate-limit middleware).
    Confirmed(UserId),
    Unconfirmed(Unconfirmed),
}

impl Reader {
    /// The caller, who must have presented a token (401 otherwise).
    pub fn caller(&self) -> Result<UserId, ApiError> {
        self.viewer().ok_or_else(missing_token)
    }

    /// The caller, if a token was presented.
    pub fn viewer(&self) -> Option<UserId> {
        self.0.as_ref().map(|token| match token {
            Token::Confirmed(user_id) => *user_id,
            Token::Unconfirmed(token) => token.user_id(),
        })
    }

    /// Runs `read` while the token's check is finished; its answer if the token holds, the
    /// check's error if not.
    pub async fn read<T>(
        self,
        state: &AppState,
        read: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let Some(Token::Unconfirmed(token)) = self.0 else {
            return read.await;
        };
        let (confirmed, answer) = tokio::join!(state.auth.confirm(token), read);
        confirmed?;
        answer
    }
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(Authenticated(principal)) = parts.extensions.get::<Authenticated>() {
            return Ok(Self(Some(Token::Confirmed(principal.user_id))));
        }
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(Self(None));
        }
        let token = state.auth.verify(bearer_token(&parts.headers)?)?;
        Ok(Self(Some(Token::Unconfirmed(token))))
    }
}

/// A [`Reader`] who presented a token: without one the request is refused (401) before any
/// later extractor looks at it, as with [`Caller`].
pub struct ReadingCaller(pub Reader);

impl FromRequestParts<AppState> for ReadingCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let reader = Reader::from_request_parts(parts, state).await?;
        reader.caller()?;
        Ok(Self(reader))
    }
}

/// A JSON body together with the SHA-256 of its bytes (what an `Idempotency-Key` is bound to).
pub struct ApiJsonWithDigest<T>(pub T, pub [u8; 32]);

impl<T, S> FromRequest<S> for ApiJsonWithDigest<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        use sha2::Digest;
        let (bytes, is_json_body) = read_body(request, state).await?;
        if !is_json_body {
            return Err(unsupported_media_type());
        }
        let digest = sha2::Sha256::digest(&bytes).into();
        Ok(Self(parse_json(&bytes)?, digest))
    }
}

/// Path parameters, with API-format rejections: a segment that is not valid UTF-8 after
/// percent-decoding (`/users/%FF`) is a 400 `invalid_path`, not axum's plain-text answer.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|path| Self(path.0))
            .map_err(|rejection| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_path",
                    rejection.body_text(),
                )
            })
    }
}

/// Query parameters, with API-format rejections naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|query| Self(query.0))
            .map_err(|rejection| {
                let message = rejection.body_text();
                let mut error =
                    ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", message.clone());
                error.field = field_named_in(&message);
                error
            })
    }
}

/// `?limit=&cursor=` as API.md defines them: limit 1..=100, default 20; the cursor is opaque.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    limit: Option<String>,
    /// Empty is the first page, as absent is (forms and clients send `?cursor=`).
    #[serde(default, deserialize_with = "non_empty")]
    pub cursor: Option<String>,
}

/// An optional query parameter where empty means absent (`?cursor=`).
pub(crate) fn non_empty<'de, D: serde::Deserializer<'de>>(
    input: D,
) -> Result<Option<String>, D::Error> {
    let text = <Option<String> as serde::Deserialize>::deserialize(input)?;
    Ok(text.filter(|text| !text.is_empty()))
}

pub const DEFAULT_PAGE: i64 = 20;
pub const MAX_PAGE: i64 = 100;

impl PageQuery {
    pub fn limit(&self) -> Result<i64, ApiError> {
        page_limit(self.limit.as_deref())
    }
}

/// A page's `limit` as given (1..=100), or the default.
pub fn page_limit(raw: Option<&str>) -> Result<i64, ApiError> {
    match raw {
        None => Ok(DEFAULT_PAGE),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|limit| (1..=MAX_PAGE).contains(limit))
            .ok_or_else(|| {
                ApiError::invalid_field("limit", "limit must be a number from 1 to 100")
            }),
    }
}

/// The `Idempotency-Key` header, if present: 1 to 255 visible ASCII characters.
pub fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::invalid_field(
            "Idempotency-Key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )
    };
    let text = value.to_str().map_err(|_| bad())?;
    if text.is_empty() || text.len() > 255 || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(text.to_owned()))
}
