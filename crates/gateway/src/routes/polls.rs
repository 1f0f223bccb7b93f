//! Poll routes: results and voting. Results are aggregate counts only.

use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{path_uuid, ApiJson, ApiPath, Caller, MaybeCaller};
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use veilgram_core::ports::PollRecord;
use veilgram_core::{PollId, Timestamp};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_poll))
        .routes(routes!(vote))
}

#[derive(Serialize, ToSchema)]
pub struct PollOptionView {
    text: String,
    votes: i64,
}

#[derive(Serialize, ToSchema)]
pub struct PollView {
    #[schema(value_type = String, format = Uuid)]
    id: PollId,
    options: Vec<PollOptionView>,
    total_votes: i64,
    closes_at: String,
    closed: bool,
    /// The caller's own choice, or null. Nobody else's vote is ever shown.
    my_vote: Option<i64>,
}

impl From<PollRecord> for PollView {
    fn from(poll: PollRecord) -> Self {
        Self {
            id: poll.id,
            options: poll
                .options
                .into_iter()
                .map(|(text, votes)| PollOptionView { text, votes })
                .collect(),
            total_votes: poll.total_votes,
            closes_at: poll.closes_at.to_rfc3339(),
            closed: poll.closes_at <= Timestamp::now(),
            my_vote: poll.my_vote,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoteRequest {
    /// 0-based index of the chosen option.
    option_index: i64,
}

/// A poll's results (public for polls on public posts).
#[utoipa::path(get, path = "/api/v1/polls/{id}", tag = "polls", security((), ("bearer" = [])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = PollView), (status = 404, body = ErrorBody)))]
async fn get_poll(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PollView>, ApiError> {
    let poll = state
        .polls
        .get(path_uuid(&id, "id")?, caller.map(|c| c.user_id))
        .await?;
    Ok(Json(poll.into()))
}

/// Casts the caller's one vote: 409 on a second vote, 410 once the poll has closed.
#[utoipa::path(post, path = "/api/v1/polls/{id}/votes", tag = "polls", security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid)), request_body = VoteRequest,
    responses((status = 200, body = PollView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 410, body = ErrorBody)))]
async fn vote(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<VoteRequest>,
) -> Result<Json<PollView>, ApiError> {
    let poll = state
        .polls
        .vote(path_uuid(&id, "id")?, caller.user_id, request.option_index)
        .await?;
    // The only notice the cache gets of whom a vote was by: its event names no voter.
    state.accounts_changed(&[caller.user_id]).await;
    Ok(Json(poll.into()))
}
