//! The polls service: one vote per user, results with counts, `my_vote`.
//!
//! Polls are created with their post (the posts service validates them). Votes are private: the
//! store keeps who voted only to refuse a second vote and to answer `my_vote` to the voter, and
//! neither an endpoint nor an event (`poll.voted` names only the poll) ever lists it.

use std::sync::Arc;
use veilgram_core::error::Conflict;
use veilgram_core::events::{DomainEvent, EventEnvelope, EventFor};
use veilgram_core::ports::{PollRecord, PollStore};
use veilgram_core::{PollId, PostId, StoreError, Timestamp, UserId};

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("poll not found")]
    NotFound,
    #[error("you already voted in this poll")]
    AlreadyVoted,
    #[error("this poll is closed")]
    Closed,
    #[error("option_index is not one of the poll's options")]
    InvalidOption,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for PollError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            StoreError::Conflict(Conflict::Vote) => Self::AlreadyVoted,
            StoreError::Conflict(Conflict::PollClosed) => Self::Closed,
            StoreError::Conflict(Conflict::PollOption) => Self::InvalidOption,
            other => Self::Store(other),
        }
    }
}

pub struct PollsService {
    store: Arc<dyn PollStore>,
}

/// Polls announced closed per store transaction.
const ANNOUNCE_BATCH: i64 = 100;

impl PollsService {
    pub fn new(store: Arc<dyn PollStore>) -> Self {
        Self { store }
    }

    pub async fn get(
        &self,
        poll_id: PollId,
        viewer: Option<UserId>,
    ) -> Result<PollRecord, PollError> {
        self.store
            .poll(poll_id, viewer)
            .await?
            .ok_or(PollError::NotFound)
    }

    /// Casts the caller's one vote and returns the results after it.
    pub async fn vote(
        &self,
        poll_id: PollId,
        voter: UserId,
        option_index: i64,
    ) -> Result<PollRecord, PollError> {
        let now = Timestamp::now();
        let event: EventFor<PostId> = Arc::new(move |post_id: PostId| {
            EventEnvelope::new(None, now, DomainEvent::PollVoted { poll_id, post_id })
        });
        self.store
            .vote(poll_id, voter, option_index, now, event)
            .await?;
        self.get(poll_id, Some(voter)).await
    }

    /// Writes `poll.closed` once for every poll whose closing time passed by `now`; answers how
    /// many.
    pub async fn announce_closed(&self, now: Timestamp) -> Result<usize, PollError> {
        let event: EventFor<(PollId, PostId, UserId)> =
            Arc::new(|(poll_id, post_id, author_id)| {
                EventEnvelope::new(
                    None,
                    Timestamp::now(),
                    DomainEvent::PollClosed {
                        poll_id,
                        post_id,
                        author_id,
                    },
                )
            });
        let mut announced = 0;
        loop {
            let batch = self
                .store
                .announce_closed(now, ANNOUNCE_BATCH, Arc::clone(&event))
                .await?;
            announced += batch;
            if (batch as i64) < ANNOUNCE_BATCH {
                return Ok(announced);
            }
        }
    }
}
