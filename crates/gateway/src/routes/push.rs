//! Push device routes: register an FCM or APNs token or a Web Push subscription; remove one.

use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{path_uuid, ApiJson, ApiPath, Caller};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use veilgram_core::ports::PushTarget;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_device))
        .routes(routes!(remove_device))
        .routes(routes!(vapid_key))
}

#[derive(Serialize, ToSchema)]
pub struct VapidKeyView {
    /// Base64url: `applicationServerKey` for `PushManager.subscribe()`.
    public_key: String,
}

/// The key browsers subscribe to Web Push with.
#[utoipa::path(
    get, path = "/api/v1/push/vapid_key", tag = "push",
    responses((status = 200, body = VapidKeyView))
)]
async fn vapid_key(State(state): State<AppState>) -> Json<VapidKeyView> {
    Json(VapidKeyView {
        public_key: state.vapid_public_key.to_string(),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionKeys {
    p256dh: String,
    auth: String,
}

/// A Web Push subscription, as the browser's `PushSubscription.toJSON()` gives it.
#[derive(Deserialize, ToSchema)]
pub struct Subscription {
    endpoint: String,
    keys: SubscriptionKeys,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// `fcm`, `apns` or `webpush`.
    platform: String,
    /// The FCM registration token or APNs device token.
    token: Option<String>,
    /// Web Push only.
    subscription: Option<Subscription>,
}

#[derive(Serialize, ToSchema)]
pub struct DeviceView {
    id: String,
    platform: String,
}

/// Registers a device for push (one device belongs to one account: registering it again moves
/// it). Pushes carry no readable content: a Web Push payload is encrypted for the browser, the
/// others only say that something is new.
#[utoipa::path(
    post, path = "/api/v1/push/devices", tag = "push", security(("bearer" = [])),
    request_body = RegisterRequest,
    responses((status = 201, body = DeviceView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
async fn register_device(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<DeviceView>), ApiError> {
    let missing = |field: &str| {
        ApiError::invalid_field(field, format!("{field} is required for this platform"))
    };
    let target = match (
        request.platform.as_str(),
        request.token,
        request.subscription,
    ) {
        ("fcm", Some(token), None) => PushTarget::Fcm { token },
        ("apns", Some(token), None) => PushTarget::Apns { token },
        ("webpush", None, Some(subscription)) => PushTarget::WebPush {
            endpoint: subscription.endpoint,
            p256dh: subscription.keys.p256dh,
            auth: subscription.keys.auth,
        },
        ("fcm" | "apns", _, _) => return Err(missing("token")),
        ("webpush", _, _) => return Err(missing("subscription")),
        _ => {
            return Err(ApiError::invalid_field(
                "platform",
                "platform is fcm, apns or webpush",
            ));
        }
    };
    let device = state.push_devices.register(caller.user_id, target).await?;
    Ok((
        StatusCode::CREATED,
        Json(DeviceView {
            id: device.id.to_string(),
            platform: device.target.platform().to_owned(),
        }),
    ))
}

/// Removes one of the caller's devices.
#[utoipa::path(
    delete, path = "/api/v1/push/devices/{id}", tag = "push", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
async fn remove_device(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state
        .push_devices
        .remove(caller.user_id, path_uuid(&id, "id")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
