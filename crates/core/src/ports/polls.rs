//! Polls: options, votes and closing.

use super::*;

#[async_trait]
pub trait PollStore: Send + Sync {
    /// The poll if the viewer may see its post.
    async fn poll(
        &self,
        poll_id: PollId,
        viewer: Option<UserId>,
    ) -> Result<Option<PollRecord>, StoreError>;

    /// Records one vote; `event` builds the domain event from the poll's post. `NotFound` for a
    /// poll the voter may not see, `Conflict(Conflict::Vote)` for a second vote, `Conflict(Conflict::PollClosed)`
    /// after closing, `Conflict(Conflict::PollOption)` for an index out of range.
    async fn vote(
        &self,
        poll_id: PollId,
        voter: UserId,
        option_index: i64,
        now: Timestamp,
        event: EventFor<PostId>,
    ) -> Result<(), StoreError>;

    /// Announces up to `limit` polls whose closing time has passed and were not announced yet:
    /// marks them and appends `event((poll, post, author))` for each, in one transaction.
    /// Answers how many.
    async fn announce_closed(
        &self,
        now: Timestamp,
        limit: i64,
        event: EventFor<(PollId, PostId, UserId)>,
    ) -> Result<usize, StoreError>;
}
