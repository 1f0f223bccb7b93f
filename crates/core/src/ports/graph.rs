//! The social graph: follows, blocks and their lists.

use super::*;

/// One entry of a followers/following list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphEntry {
    pub user: UserRecord,
    pub since: Timestamp,
}

/// Where a followers/following page starts: after this (time, user) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GraphCursor {
    pub since: Timestamp,
    pub user_id: UserId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphList {
    Followers,
    Following,
    /// Whom the user blocked (a list only its owner sees).
    Blocked,
}

#[async_trait]
pub trait GraphStore: Send + Sync {
    /// Whether either user blocked the other.
    async fn blocked_either_way(&self, first: UserId, second: UserId) -> Result<bool, StoreError>;

    /// Whether `follower` follows `followee`.
    async fn follows(&self, follower: UserId, followee: UserId) -> Result<bool, StoreError>;

    async fn follow(
        &self,
        follower: UserId,
        followee: UserId,
        now: Timestamp,
        event: &EventEnvelope,
    ) -> Result<Changed, StoreError>;

    async fn unfollow(
        &self,
        follower: UserId,
        followee: UserId,
        event: &EventEnvelope,
    ) -> Result<Changed, StoreError>;

    /// Blocks and removes follows in both directions, counts adjusted.
    async fn block(
        &self,
        blocker: UserId,
        blocked: UserId,
        now: Timestamp,
        event: &EventEnvelope,
    ) -> Result<Changed, StoreError>;

    async fn unblock(
        &self,
        blocker: UserId,
        blocked: UserId,
        event: &EventEnvelope,
    ) -> Result<Changed, StoreError>;

    /// Followers or followees of `user_id`, newest first, without users the viewer blocked or
    /// was blocked by, and without deactivated accounts.
    async fn list(
        &self,
        user_id: UserId,
        which: GraphList,
        viewer: Option<UserId>,
        after: Option<GraphCursor>,
        limit: i64,
    ) -> Result<Vec<GraphEntry>, StoreError>;
}
