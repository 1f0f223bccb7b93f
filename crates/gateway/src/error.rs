//! API.md's error format, and the one table that maps every service error to a status and a
//! stable code. A 5xx never carries internals: its cause is logged, the body is generic.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use veilgram_auth::AuthError;
use veilgram_comments::CommentError;
use veilgram_core::StoreError;
use veilgram_feeds::{CursorError, FeedError};
use veilgram_media::MediaError;
use veilgram_notifications::PushError;
use veilgram_polls::PollError;
use veilgram_posts::PostError;
use veilgram_users::{NicknameError, UserError};

/// `{"error": {"code", "message", "field"?}}`
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, snake_case; clients branch on it.
    code: &'static str,
    /// Human-readable; may change.
    message: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Extra response headers (e.g. `WWW-Authenticate`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            headers: Vec::new(),
        }
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_field", message).with_field(field)
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// A text the moderation policy refuses at the write: 422 `blocked_by_moderation` naming
    /// the category (never the word that matched) and the field.
    pub fn blocked_by_moderation(field: &str, category: veilgram_classify::Category) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "blocked_by_moderation",
            format!("this text is refused by moderation: {}", category.name()),
        )
        .with_field(field)
    }

    /// `Err` if the moderation policy refuses `text` at the write (the keyword rules; a few
    /// microseconds).
    pub fn screen(
        classifier: &veilgram_classify::TextClassifier,
        field: &str,
        text: &str,
    ) -> Result<(), Self> {
        match classifier
            .refused(text)
            .and_then(|verdict| verdict.category)
        {
            Some(category) => Err(Self::blocked_by_moderation(field, category)),
            None => Ok(()),
        }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::UNAUTHORIZED, code, message);
        error.headers.push((
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"veilgram\""),
        ));
        error
    }

    /// A failure the client cannot fix: logged with its cause, answered generically.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
    }

    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "dependency unavailable");
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "a dependency is unavailable; retry shortly",
        );
        error
            .headers
            .push((header::RETRY_AFTER, HeaderValue::from_static("1")));
        error
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::not_found("resource"),
            StoreError::Conflict(rule) => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("conflict on {rule}"),
            ),
            StoreError::Unavailable(_) => Self::unavailable(&error),
        }
    }
}

impl From<MediaError> for ApiError {
    fn from(error: MediaError) -> Self {
        let message = error.to_string();
        match error {
            MediaError::Unsupported => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                message,
            )
            .with_field("file"),
            MediaError::TooLarge { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message).with_field("file")
            }
            MediaError::QuotaExceeded { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded", message)
            }
            MediaError::Refused(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "media_refused", message)
                    .with_field("file")
            }
            MediaError::Undecodable(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "undecodable", message)
                    .with_field("file")
            }
            MediaError::InvalidAlt(_) => Self::invalid_field("alt", message),
            MediaError::NotFound => Self::not_found("media"),
            MediaError::IdempotencyKeyReused => idempotency_key_reused(message),
            MediaError::Store(error) => error.into(),
            MediaError::Storage(_) => Self::unavailable(&error),
            MediaError::Processing(_) | MediaError::Io(_) => Self::internal(&error),
        }
    }
}

impl From<veilgram_moderation::ModerationError> for ApiError {
    fn from(error: veilgram_moderation::ModerationError) -> Self {
        use veilgram_moderation::ModerationError;
        let message = error.to_string();
        match error {
            ModerationError::NotModerator => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            ModerationError::NotFound => Self::not_found("report"),
            ModerationError::ContentNotFound => Self::not_found("post or comment"),
            ModerationError::NothingToAppeal => {
                Self::new(StatusCode::CONFLICT, "nothing_to_appeal", message)
            }
            ModerationError::AlreadyAppealed => {
                Self::new(StatusCode::CONFLICT, "already_appealed", message)
            }
            ModerationError::NoteTooLong => Self::invalid_field("note", message),
            ModerationError::Store(error) => error.into(),
        }
    }
}

impl From<PushError> for ApiError {
    fn from(error: PushError) -> Self {
        match error {
            PushError::Invalid(field, message) => Self::invalid_field(field, message),
            PushError::NotFound => Self::not_found("device"),
            PushError::Store(error) => error.into(),
        }
    }
}

impl From<FeedError> for ApiError {
    fn from(error: FeedError) -> Self {
        match error {
            FeedError::Store(error) => error.into(),
            FeedError::CacheUnavailable(_) => Self::unavailable(&error),
        }
    }
}

impl From<veilgram_core::ports::SearchError> for ApiError {
    fn from(error: veilgram_core::ports::SearchError) -> Self {
        // Either way the index cannot answer now; nothing else depends on it.
        Self::unavailable(&error)
    }
}

impl From<veilgram_app::AppError> for ApiError {
    fn from(error: veilgram_app::AppError) -> Self {
        match error {
            veilgram_app::AppError::Moderation(error) => error.into(),
            veilgram_app::AppError::Post(error) => error.into(),
            veilgram_app::AppError::Comment(error) => error.into(),
            veilgram_app::AppError::User(error) => error.into(),
        }
    }
}

impl From<CursorError> for ApiError {
    fn from(error: CursorError) -> Self {
        Self::invalid_field("cursor", error.to_string())
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidCredentials => {
                Self::unauthorized("invalid_credentials", error.to_string())
            }
            AuthError::MalformedRecoveryKey => {
                Self::invalid_field("recovery_key", error.to_string())
            }
            AuthError::InvalidToken(_) => Self::unauthorized("invalid_token", error.to_string()),
            AuthError::InvalidRefreshToken => {
                Self::unauthorized("invalid_refresh_token", error.to_string())
            }
            AuthError::RefreshTokenReused => {
                Self::unauthorized("refresh_token_reused", error.to_string())
            }
            AuthError::NicknameTaken => nickname_taken(),
            AuthError::Store(store) => store.into(),
        }
    }
}

impl From<veilgram_auth::proof::ProofError> for ApiError {
    fn from(error: veilgram_auth::proof::ProofError) -> Self {
        use veilgram_auth::proof::ProofError;
        let code = match error {
            ProofError::Required => "proof_required",
            ProofError::Expired | ProofError::Spent => "proof_expired",
            ProofError::Forged | ProofError::Wrong => "proof_invalid",
        };
        Self::new(StatusCode::FORBIDDEN, code, error.to_string()).with_field("proof")
    }
}

fn nickname_taken() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "nickname_taken",
        "that nickname is taken",
    )
    .with_field("nickname")
}

impl From<UserError> for ApiError {
    fn from(error: UserError) -> Self {
        match error {
            UserError::InvalidNickname(reason) => {
                let code = match reason {
                    NicknameError::Length | NicknameError::Characters => "invalid_field",
                    NicknameError::Profane => "nickname_not_allowed",
                    NicknameError::Reserved => "nickname_reserved",
                };
                Self::new(StatusCode::BAD_REQUEST, code, reason.to_string()).with_field("nickname")
            }
            UserError::NicknameTaken => nickname_taken(),
            UserError::InvalidStatusMessage => {
                Self::invalid_field("status_message", error.to_string())
            }
            UserError::MediaNotFound => Self::not_found("media").with_field("avatar_media_id"),
            UserError::NotFound => Self::not_found("user"),
            UserError::SelfTarget => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_target", error.to_string())
                    .with_field("id")
            }
            UserError::Store(store) => store.into(),
        }
    }
}

impl From<PostError> for ApiError {
    fn from(error: PostError) -> Self {
        let message = error.to_string();
        match error {
            PostError::InvalidText => Self::invalid_field("text", message),
            PostError::TooManyHashtags => {
                Self::new(StatusCode::BAD_REQUEST, "too_many_hashtags", message).with_field("text")
            }
            PostError::TooManyMentions => {
                Self::new(StatusCode::BAD_REQUEST, "too_many_mentions", message).with_field("text")
            }
            PostError::InvalidVisibility => Self::invalid_field("visibility", message),
            PostError::TooManyMedia => Self::invalid_field("media_ids", message),
            PostError::MediaNotFound => Self::not_found("media").with_field("media_ids"),
            PostError::InvalidPollOptions => Self::invalid_field("poll.options", message),
            PostError::InvalidPollDuration => {
                Self::invalid_field("poll.closes_in_seconds", message)
            }
            PostError::InvalidReason => Self::invalid_field("reason", message),
            PostError::InvalidNote => Self::invalid_field("note", message),
            PostError::NotFound => Self::not_found("post"),
            PostError::NotAuthor => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            PostError::IdempotencyMismatch => idempotency_key_reused(message),
            PostError::Store(store) => store.into(),
        }
    }
}

impl From<CommentError> for ApiError {
    fn from(error: CommentError) -> Self {
        let message = error.to_string();
        match error {
            CommentError::InvalidText => Self::invalid_field("text", message),
            // An id that names no comment of this post: nothing to reply to, as for a missing
            // post or media.
            CommentError::InvalidParent => {
                Self::new(StatusCode::NOT_FOUND, "not_found", message).with_field("parent_id")
            }
            CommentError::InvalidReason => Self::invalid_field("reason", message),
            CommentError::InvalidNote => Self::invalid_field("note", message),
            CommentError::PostNotFound => Self::not_found("post"),
            CommentError::NotFound => Self::not_found("comment"),
            CommentError::NotAllowed => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            CommentError::OwnComment => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_target", message).with_field("id")
            }
            CommentError::IdempotencyMismatch => idempotency_key_reused(message),
            CommentError::Store(store) => store.into(),
        }
    }
}

impl From<PollError> for ApiError {
    fn from(error: PollError) -> Self {
        let message = error.to_string();
        match error {
            PollError::NotFound => Self::not_found("poll"),
            PollError::AlreadyVoted => Self::new(StatusCode::CONFLICT, "already_voted", message),
            PollError::Closed => Self::new(StatusCode::GONE, "poll_closed", message),
            PollError::InvalidOption => Self::invalid_field("option_index", message),
            PollError::Store(store) => store.into(),
        }
    }
}

fn idempotency_key_reused(message: String) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        message,
    )
    .with_field("Idempotency-Key")
}
