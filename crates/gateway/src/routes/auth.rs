//! Auth routes: sign-up, login, refresh, logout, recovery-key rotation, JWKS.

use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{path_uuid, ApiJson, Caller, ClientAddress};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use veilgram_auth::proof::{ProofError, Purpose};
use veilgram_auth::service::SignedUp;
use veilgram_auth::IssuedTokens;
use veilgram_core::{Timestamp, UserId};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(challenge))
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(rotate_recovery_key))
        .routes(routes!(jwks))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// Optional; a random placeholder is assigned when absent.
    nickname: Option<String>,
    /// A solved sign-up challenge; required unless the server runs without proofs of work.
    proof: Option<ProofBody>,
}

/// A solved challenge: the challenge as handed out and a nonce whose Argon2id hash starts with
/// the challenge's number of zero bits.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProofBody {
    #[serde(deserialize_with = "challenge_text")]
    #[schema(max_length = 1024)]
    challenge: String,
    /// Decimal, below 2^53 (what a JavaScript number holds exactly).
    #[serde(deserialize_with = "exact_in_javascript")]
    #[schema(value_type = u64, maximum = 9007199254740991_u64)]
    nonce: u64,
}

/// A challenge as `POST /auth/challenge` hands it out is far shorter than 1024 characters.
fn challenge_text<'de, D: serde::Deserializer<'de>>(input: D) -> Result<String, D::Error> {
    let challenge = String::deserialize(input)?;
    if challenge.chars().count() > 1024 {
        return Err(serde::de::Error::custom(
            "a challenge is at most 1024 characters",
        ));
    }
    Ok(challenge)
}

/// A nonce a browser can count to: below 2^53.
fn exact_in_javascript<'de, D: serde::Deserializer<'de>>(input: D) -> Result<u64, D::Error> {
    let nonce = u64::deserialize(input)?;
    if nonce >= 1 << 53 {
        return Err(serde::de::Error::custom("a nonce is below 2^53"));
    }
    Ok(nonce)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    /// What the solution will be spent on.
    #[schema(value_type = String, example = "signup")]
    purpose: PurposeName,
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum PurposeName {
    Signup,
    Login,
}

#[derive(Serialize, ToSchema)]
pub struct ChallengeResponse {
    /// Signed and opaque: send it back with the nonce.
    challenge: String,
    /// Always `argon2id` (version 0x13, one lane, 32-byte output; the salt is the challenge
    /// id, base64url-decoded; the password `"<id>:<nonce>"`).
    algorithm: &'static str,
    /// The Argon2 salt, base64url (the challenge's id).
    salt: String,
    /// Whether the request it is for needs a proof now (sign-up whenever proofs are on; login
    /// after repeated failures from the caller's address).
    required: bool,
    /// Leading zero bits the hash must have; 0 when the server requires no proof.
    bits: u8,
    memory_kib: u32,
    iterations: u32,
    expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    #[schema(value_type = String, format = Uuid)]
    user_id: UserId,
    access_token: String,
    refresh_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
}

impl From<IssuedTokens> for TokenResponse {
    fn from(tokens: IssuedTokens) -> Self {
        Self {
            user_id: tokens.user_id,
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            token_type: "Bearer",
            expires_in: tokens.expires_in,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SignupResponse {
    #[serde(flatten)]
    tokens: TokenResponse,
    /// Shown once: the only way back into the account on another device.
    recovery_key: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    user_id: String,
    recovery_key: String,
    /// A solved login challenge, needed after repeated failed logins from one address.
    proof: Option<ProofBody>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryKeyResponse {
    recovery_key: String,
}

/// Responses holding secrets must never be stored by a cache.
fn no_store(status: StatusCode, body: impl Serialize) -> Response {
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Secrets are short; anything longer is not one of ours.
const MAX_SECRET_LENGTH: usize = 512;

/// Hands out a proof-of-work challenge, signed, single-use and expiring; its difficulty grows
/// with recent sign-ups, from the caller's address and overall.
#[utoipa::path(
    post, path = "/api/v1/auth/challenge", tag = "auth",
    request_body = ChallengeRequest,
    responses((status = 201, body = ChallengeResponse), (status = 400, body = ErrorBody))
)]
async fn challenge(
    State(state): State<AppState>,
    client: ClientAddress,
    ApiJson(request): ApiJson<ChallengeRequest>,
) -> Result<Response, ApiError> {
    let purpose = match request.purpose {
        PurposeName::Signup => Purpose::Signup,
        PurposeName::Login => Purpose::Login,
    };
    let now = Timestamp::now();
    let required = match purpose {
        Purpose::Signup => state.proofs.enabled(),
        Purpose::Login => state.proofs.login_needs_proof(&client.bucket, now).await,
    };
    let challenge = state.proofs.challenge(purpose, &client.bucket, now).await;
    Ok(no_store(
        StatusCode::CREATED,
        ChallengeResponse {
            challenge: challenge.token,
            algorithm: "argon2id",
            salt: challenge.id,
            required,
            bits: challenge.bits,
            memory_kib: challenge.memory_kib,
            iterations: challenge.iterations,
            expires_at: challenge.expires_at.to_rfc3339(),
        },
    ))
}

/// Wrong or forged solutions from one address in fifteen minutes that block it for a while.
const FAILED_PROOFS_BEFORE_BLOCK: u64 = 20;

/// Spends a proof for `purpose`, if the server wants proofs; a missing one is `proof_required`.
/// An address that keeps sending wrong ones is blocked for a while.
async fn spend_proof(
    state: &AppState,
    client: &ClientAddress,
    purpose: Purpose,
    proof: Option<&ProofBody>,
) -> Result<(), ApiError> {
    if !state.proofs.enabled() {
        return Ok(());
    }
    let proof = proof.ok_or(ProofError::Required)?;
    if proof.challenge.len() > 1024 || proof.nonce > (1 << 53) {
        return Err(ProofError::Forged.into());
    }
    let now = Timestamp::now();
    let redeemed = state
        .proofs
        .redeem(purpose, &proof.challenge, proof.nonce, now)
        .await;
    if let Err(ProofError::Wrong | ProofError::Forged) = redeemed {
        let failed = state.proofs.failed(&client.bucket, now).await;
        if let (FAILED_PROOFS_BEFORE_BLOCK, Some(address)) = (failed, client.address) {
            let reason = "failed proofs of work";
            if state
                .address_blocks
                .block_address(address, crate::blocks::FLOOD_BLOCK, reason, now)
                .await
                .is_ok()
            {
                tracing::warn!("an address sending wrong proofs of work was blocked");
            }
        }
    }
    Ok(redeemed?)
}

/// Creates an anonymous account: no email, no phone.
#[utoipa::path(
    post, path = "/api/v1/auth/signup", tag = "auth",
    request_body = SignupRequest,
    responses(
        (status = 201, body = SignupResponse),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)
    )
)]
async fn signup(
    State(state): State<AppState>,
    client: ClientAddress,
    ApiJson(request): ApiJson<SignupRequest>,
) -> Result<Response, ApiError> {
    let chosen = request.nickname.is_some();
    let nickname = match request.nickname {
        Some(raw) => state.users.parse_nickname(&raw)?,
        None => state.users.random_nickname(),
    };
    // After the cheap checks, before any write.
    spend_proof(&state, &client, Purpose::Signup, request.proof.as_ref()).await?;
    // A random placeholder can (very rarely) collide: draw again instead of failing.
    let mut attempt = nickname;
    let mut tries = 0;
    let SignedUp {
        tokens,
        recovery_key,
    } = loop {
        let (display, key) = attempt.clone().into_parts();
        match state.auth.sign_up(display, key).await {
            Err(veilgram_auth::AuthError::NicknameTaken) if !chosen && tries < 3 => {
                tries += 1;
                attempt = state.users.random_nickname();
            }
            other => break other?,
        }
    };
    state
        .proofs
        .signed_up(&client.bucket, Timestamp::now())
        .await;
    Ok(no_store(
        StatusCode::CREATED,
        SignupResponse {
            tokens: tokens.into(),
            recovery_key,
        },
    ))
}

/// Logs in with a user id and recovery key. Unknown users and wrong keys get the same 401.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)
    )
)]
async fn login(
    State(state): State<AppState>,
    client: ClientAddress,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let user_id: UserId = path_uuid(&request.user_id, "user_id")?;
    if request.recovery_key.len() > MAX_SECRET_LENGTH {
        return Err(ApiError::invalid_field(
            "recovery_key",
            "the recovery key is too long",
        ));
    }
    let now = Timestamp::now();
    if state.proofs.login_needs_proof(&client.bucket, now).await {
        spend_proof(&state, &client, Purpose::Login, request.proof.as_ref()).await?;
    }
    let tokens = match state.auth.login(user_id, &request.recovery_key).await {
        Ok(tokens) => tokens,
        Err(error) => {
            if matches!(error, veilgram_auth::AuthError::InvalidCredentials) {
                state.proofs.login_failed(&client.bucket, now).await;
            }
            return Err(error.into());
        }
    };
    // Logging in reactivates a deactivated account: drop any cached copy that says otherwise.
    state.accounts_changed(&[user_id]).await;
    Ok(no_store(StatusCode::OK, TokenResponse::from(tokens)))
}

/// Spends a refresh token for a new pair. A spent token presented again ends its session.
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
async fn refresh(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    if request.refresh_token.is_empty() || request.refresh_token.len() > MAX_SECRET_LENGTH {
        return Err(ApiError::invalid_field(
            "refresh_token",
            "the refresh token is malformed",
        ));
    }
    let tokens = state.auth.refresh(&request.refresh_token).await?;
    Ok(no_store(StatusCode::OK, TokenResponse::from(tokens)))
}

/// Ends the caller's session: the access token and its session's refresh tokens stop working.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody))
)]
async fn logout(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<StatusCode, ApiError> {
    state.auth.logout(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the recovery key; the old one stops working and other sessions end.
#[utoipa::path(
    post, path = "/api/v1/auth/recovery-key", tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, body = RecoveryKeyResponse), (status = 401, body = ErrorBody))
)]
async fn rotate_recovery_key(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Response, ApiError> {
    let recovery_key = state.auth.rotate_recovery_key(&caller).await?;
    Ok(no_store(
        StatusCode::OK,
        RecoveryKeyResponse { recovery_key },
    ))
}

/// The public keys that verify access tokens (RFC 7517; Ed25519 keys of RFC 8037).
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "a JWK set", content_type = "application/json"))
)]
async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = Json(state.auth.jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
