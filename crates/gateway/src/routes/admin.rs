//! Moderation routes (moderators only): the open-report queue and decisions on it, and blocks
//! of abusive addresses and networks (kept as keyed hashes; see `blocks`).

use crate::app::AppState;
use crate::cursor;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{path_uuid, ApiJson, ApiPath, ApiQuery, Caller, PageQuery};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use veilgram_core::ports::Actor;
use veilgram_core::ports::{AddressBlock, AddressBlockKind};
use veilgram_core::ports::{ModerationAction, ReportGroup};
use veilgram_core::{AddressBlockId, ReportId, Timestamp};

const QUEUE: &str = "reports";
const LOG: &str = "moderation-log";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(open_reports))
        .routes(routes!(moderation_log))
        .routes(routes!(resolve_report))
        .routes(routes!(address_blocks, block_network))
        .routes(routes!(lift_block))
}

/// `post`, or `comment` when there is a comment id.
fn target_kind(comment_id: Option<veilgram_core::CommentId>) -> String {
    if comment_id.is_some() {
        "comment"
    } else {
        "post"
    }
    .to_owned()
}

/// The open reports about one post or comment.
#[derive(Serialize, ToSchema)]
pub struct ReportGroupView {
    /// The oldest open report's id: resolve the group with it.
    id: String,
    /// `post` or `comment`.
    target_kind: String,
    post_id: String,
    comment_id: Option<String>,
    author_id: Option<String>,
    /// The reported text.
    text: String,
    reports: i64,
    /// Reports per reason (`spam`, `abuse`, `nsfw`, `other`; `automatic` for automatic
    /// moderation's own, whose rule and score the moderation log gives).
    reasons: BTreeMap<String, i64>,
    first_reported_at: String,
}

impl From<ReportGroup> for ReportGroupView {
    fn from(group: ReportGroup) -> Self {
        Self {
            id: group.report_id.to_string(),
            target_kind: target_kind(group.target.comment_id),
            post_id: group.target.post_id.to_string(),
            comment_id: group.target.comment_id.map(|id| id.to_string()),
            author_id: group.target.author_id.map(|id| id.to_string()),
            text: group.text,
            reports: group.reports,
            reasons: group.reasons.into_iter().collect(),
            first_reported_at: group.first_reported_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ReportQueuePage {
    items: Vec<ReportGroupView>,
    next_cursor: Option<String>,
}

/// Open reports grouped by the content they are about, oldest first.
#[utoipa::path(
    get, path = "/api/v1/admin/reports", tag = "moderation", security(("bearer" = [])),
    params(("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ReportQueuePage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
async fn open_reports(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<ReportQueuePage>, ApiError> {
    let limit = page.limit()?;
    let after: Option<ReportId> = page
        .cursor
        .as_deref()
        .map(|raw| cursor::decode_id(&state, QUEUE, raw))
        .transpose()?;
    let groups = state
        .moderation
        .queue(caller.user_id, after, limit + 1)
        .await?;
    let (groups, next_cursor) = cursor::page(&state, QUEUE, groups, limit, |group| {
        group.report_id.to_string()
    });
    let items = groups.into_iter().map(ReportGroupView::from).collect();
    Ok(Json(ReportQueuePage { items, next_cursor }))
}

/// One decision about a post or comment, automatic or a moderator's (never which moderator).
#[derive(Serialize, ToSchema)]
pub struct ModerationLogView {
    #[schema(format = Uuid)]
    id: String,
    /// `post` or `comment`.
    target_kind: String,
    #[schema(format = Uuid)]
    post_id: String,
    comment_id: Option<String>,
    /// Automatic: `queue`, `warn`, `hide`, or `allow` (a warning lifted by an edit); a
    /// moderator's: `dismiss`, `hide`, `warn`, `delete`, `suspend_author`.
    decision: String,
    /// `slur`, `profanity` or `toxicity` (automatic decisions).
    category: Option<String>,
    /// The keyword list or model that decided (automatic decisions).
    rule: Option<String>,
    /// The classifier's score, 0 to 1 (automatic decisions).
    score: Option<f64>,
    /// `system` or `moderator`.
    by: String,
    created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ModerationLogPage {
    items: Vec<ModerationLogView>,
    next_cursor: Option<String>,
}

/// The moderation log, newest first: every automatic decision that changed something or asks
/// for review, and every moderator's decision.
#[utoipa::path(
    get, path = "/api/v1/admin/moderation-log", tag = "moderation", security(("bearer" = [])),
    params(("limit" = Option<i64>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ModerationLogPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
async fn moderation_log(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<ModerationLogPage>, ApiError> {
    let limit = page.limit()?;
    let before: Option<uuid::Uuid> = page
        .cursor
        .as_deref()
        .map(|raw| cursor::decode_id(&state, LOG, raw))
        .transpose()?;
    let entries = state
        .moderation
        .log(caller.user_id, before, limit + 1)
        .await?;
    let (entries, next_cursor) =
        cursor::page(&state, LOG, entries, limit, |entry| entry.id.to_string());
    let items = entries
        .into_iter()
        .map(|entry| ModerationLogView {
            id: entry.id.to_string(),
            target_kind: target_kind(entry.comment_id),
            post_id: entry.post_id.to_string(),
            comment_id: entry.comment_id.map(|id| id.to_string()),
            decision: entry.decision,
            category: entry.category,
            rule: entry.rule,
            score: entry.score,
            by: if entry.by_system {
                "system"
            } else {
                "moderator"
            }
            .to_owned(),
            created_at: entry.created_at.to_rfc3339(),
        })
        .collect();
    Ok(Json(ModerationLogPage { items, next_cursor }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// `dismiss` (nothing wrong: a warning or an automatic hide is lifted), `hide` (a post; a
    /// comment is deleted), `warn` (shown behind a notice), `delete` or `suspend_author`.
    action: String,
}

/// Decides on the reported content: every open report about it is closed with the action, and
/// its author is notified.
#[utoipa::path(
    post, path = "/api/v1/admin/reports/{id}/resolve", tag = "moderation", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    request_body = ResolveRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
async fn resolve_report(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<ResolveRequest>,
) -> Result<StatusCode, ApiError> {
    let report_id: ReportId = path_uuid(&id, "id")?;
    let Some(action) = ModerationAction::parse(&request.action) else {
        return Err(ApiError::invalid_field(
            "action",
            "one of dismiss, hide, delete, suspend_author",
        ));
    };
    state
        .moderate(Actor::User(caller.user_id), report_id, action)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A block as listed: the kind of network, never which.
#[derive(Serialize, ToSchema)]
pub struct AddressBlockView {
    id: String,
    /// `manual` (a moderator or operator) or `flood` (the address flooded sign-ups, logins or
    /// proofs of work).
    kind: &'static str,
    /// `ipv4` or `ipv6`.
    family: &'static str,
    prefix: u8,
    reason: String,
    until: String,
    created_at: String,
}

impl From<AddressBlock> for AddressBlockView {
    fn from(block: AddressBlock) -> Self {
        Self {
            id: block.id.to_string(),
            kind: block.kind.name(),
            family: block.family,
            prefix: block.prefix,
            reason: block.reason,
            until: block.until.to_rfc3339(),
            created_at: block.created_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AddressBlockList {
    items: Vec<AddressBlockView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockRequest {
    /// An address (`203.0.113.7`; IPv6 by its /64) or a network (`203.0.113.0/24`, at least /8;
    /// `2001:db8::/48`, at least /16). Kept only as keyed hashes.
    network: String,
    /// How long, at most 90 days.
    duration_seconds: u64,
    /// For the moderators' list (at most 200 characters).
    #[serde(default)]
    reason: String,
}

async fn require_moderator(
    state: &AppState,
    caller: &veilgram_auth::Principal,
) -> Result<(), ApiError> {
    if state.moderation.is_moderator(caller.user_id).await? {
        Ok(())
    } else {
        Err(veilgram_moderation::ModerationError::NotModerator.into())
    }
}

/// The address blocks in force, newest first.
#[utoipa::path(
    get, path = "/api/v1/admin/address-blocks", tag = "moderation", security(("bearer" = [])),
    responses((status = 200, body = AddressBlockList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
async fn address_blocks(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<AddressBlockList>, ApiError> {
    require_moderator(&state, &caller).await?;
    let blocks = state.address_blocks.list(Timestamp::now()).await?;
    Ok(Json(AddressBlockList {
        items: blocks.into_iter().map(AddressBlockView::from).collect(),
    }))
}

/// Blocks an address or network from making changes (sign-up, login and every write) for a
/// while; reading stays open.
#[utoipa::path(
    post, path = "/api/v1/admin/address-blocks", tag = "moderation", security(("bearer" = [])),
    request_body = BlockRequest,
    responses((status = 201, body = AddressBlockView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
async fn block_network(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(request): ApiJson<BlockRequest>,
) -> Result<(StatusCode, Json<AddressBlockView>), ApiError> {
    require_moderator(&state, &caller).await?;
    let block = state
        .address_blocks
        .block(
            &request.network,
            std::time::Duration::from_secs(request.duration_seconds),
            AddressBlockKind::Manual,
            &request.reason,
            Timestamp::now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(block.into())))
}

/// Lifts an address block.
#[utoipa::path(
    delete, path = "/api/v1/admin/address-blocks/{id}", tag = "moderation", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
async fn lift_block(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    require_moderator(&state, &caller).await?;
    let id: AddressBlockId = path_uuid(&id, "id")?;
    if state.address_blocks.lift(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("address block"))
    }
}
