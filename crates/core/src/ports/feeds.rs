//! Feeds: timelines, the popular ranking and what feed pages read from the store.

use super::*;

// ---------------------------------------------------------------------------------------------

/// A post's place in a feed: its id and when it was created (the feed is ordered by both).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeedEntry {
    pub created_at: Timestamp,
    pub post_id: PostId,
}

/// What a post has gathered, for ranking the popular feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Engagement {
    pub created_at: Timestamp,
    pub public: bool,
    pub likes: i64,
    pub comments: i64,
    /// Distinct accounts that commented.
    pub commenters: i64,
}

/// An author as shown on a post.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorByline {
    pub nickname: String,
    pub avatar_media_id: Option<String>,
}

/// What a viewer's relations to a page of posts are (see `FeedStore::viewer_facts`).
#[derive(Clone, Debug, Default)]
pub struct ViewerFacts {
    /// The moderation state and reason of each of the posts that still exists.
    pub moderation: IdMap<PostId, (String, Option<String>)>,
    /// Active authors only: a post by anyone else is not shown.
    pub bylines: IdMap<UserId, AuthorByline>,
    pub liked: IdSet<PostId>,
    pub following: IdSet<UserId>,
    /// Authors the viewer blocked or was blocked by.
    pub blocked: IdSet<UserId>,
    /// The viewer's option in each poll they voted in.
    pub votes: IdMap<PollId, i64>,
}

/// A viewer's own relations, as the feed service caches them to decide visibility without a
/// store query per page (see `FeedStore::viewer_relations`). Each list says whether it is
/// complete; what it cannot answer is asked of the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewerRelations {
    /// Accounts the viewer follows, sorted.
    pub following: Vec<UserId>,
    /// False when the viewer follows more accounts than were read.
    pub following_complete: bool,
    /// Accounts the viewer blocked or was blocked by, sorted.
    pub blocked: Vec<UserId>,
    pub blocked_complete: bool,
    /// Posts the viewer liked among those created at or after `since`, sorted.
    pub liked: Vec<PostId>,
    /// The viewer's option in each poll they voted in, among polls on posts created at or after
    /// `since`, sorted by poll.
    pub votes: Vec<(PollId, i64)>,
    /// Likes and votes on posts created at or after this are all listed; older ones are not.
    pub since: Timestamp,
}

/// What the feed service reads from the relational store: the truth it rebuilds caches from.
#[async_trait]
pub trait FeedStore: Send + Sync {
    /// Followers of `author` (for fan-out), in pages ordered by follower id.
    async fn follower_ids(
        &self,
        author: UserId,
        after: Option<UserId>,
        limit: i64,
    ) -> Result<Vec<UserId>, StoreError>;

    async fn followers_count(&self, user_id: UserId) -> Result<i64, StoreError>;

    /// Those of `candidates` who follow `author` (the live audience of a new post among the
    /// users one process serves), in no particular order.
    async fn followers_among(
        &self,
        author: UserId,
        candidates: &[UserId],
    ) -> Result<Vec<UserId>, StoreError>;

    /// The newest posts of the viewer and of the accounts the viewer follows, that the viewer
    /// may see.
    async fn home_entries(&self, viewer: UserId, limit: i64) -> Result<Vec<FeedEntry>, StoreError>;

    /// Accounts the viewer follows that have more than `threshold` followers.
    async fn followed_above(
        &self,
        viewer: UserId,
        threshold: i64,
    ) -> Result<Vec<UserId>, StoreError>;

    /// An author's newest posts, whoever may see them (readers are checked on hydration).
    async fn author_entries(
        &self,
        author: UserId,
        limit: i64,
    ) -> Result<Vec<FeedEntry>, StoreError>;

    /// The newest posts carrying `tag`, older than `before` if given.
    async fn hashtag_entries(
        &self,
        tag: &str,
        before: Option<FeedEntry>,
        limit: i64,
    ) -> Result<Vec<FeedEntry>, StoreError>;

    /// Hashtags starting with (`anywhere`: holding) `fragment` (already normalised) and how
    /// many public, visible posts since `since` carry each: `fragment` itself first, then by
    /// that count, then by tag; `limit` of them after the first `skip`.
    async fn hashtag_uses(
        &self,
        fragment: &str,
        anywhere: bool,
        since: Timestamp,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<(String, i64)>, StoreError>;

    /// The posts among `ids` that exist, whoever may see them, with their polls, in any order,
    /// as someone who neither liked them nor voted sees them: what the post cache holds. One
    /// query for the posts and one for their polls, whatever the number of ids.
    async fn post_records(&self, ids: &[PostId]) -> Result<Vec<PostRecord>, StoreError>;

    /// What showing `posts` by `authors` to `viewer` takes beyond the posts' content, in one
    /// round trip: which of the posts still exist and their moderation state, the bylines of
    /// the active authors and, for a signed-in viewer, which of the posts they liked, which authors they follow or are blocked with (either way), and
    /// their votes in `polls`.
    async fn viewer_facts(
        &self,
        viewer: Option<UserId>,
        posts: &[PostId],
        authors: &[UserId],
        polls: &[PollId],
    ) -> Result<ViewerFacts, StoreError>;

    /// The bylines of the active accounts among `authors` (the others are left out).
    async fn bylines(&self, authors: &[UserId]) -> Result<IdMap<UserId, AuthorByline>, StoreError>;

    /// `viewer`'s follows and blocks (up to `limit` each), and likes and votes on posts
    /// created at or after `since` (up to `limit` each: past it, `since` moves up so that
    /// what is listed stays complete), in one round trip.
    async fn viewer_relations(
        &self,
        viewer: UserId,
        since: Timestamp,
        limit: i64,
    ) -> Result<ViewerRelations, StoreError>;

    async fn engagement(&self, post_id: PostId) -> Result<Option<Engagement>, StoreError>;
}
