//! The search index: posts by their text and hashtags, Korean and English, found by any
//! fragment. The index only proposes: whoever answers a caller decides what the caller may see
//! the same way as everywhere else (a proposed post the caller may not see is dropped).

use super::*;

/// A post as the index keeps it: what it is found by and sorted by.
#[derive(Clone, Debug, PartialEq)]
pub struct PostDocument {
    pub id: PostId,
    pub author_id: UserId,
    pub text: String,
    pub hashtags: Vec<String>,
    pub public: bool,
    pub created_at: Timestamp,
    pub like_count: i64,
}

/// How hits are ordered: best match, newest, or most liked first (ties newest first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchSort {
    Relevance,
    Recent,
    Popular,
}

impl SearchSort {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "relevance" => Some(Self::Relevance),
            "recent" => Some(Self::Recent),
            "popular" => Some(Self::Popular),
            _ => None,
        }
    }
}

/// Where a page of hits ended: the last hit's sort key and id (`search_after`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchPosition {
    pub key: f64,
    pub post_id: PostId,
}

/// A post the index proposes, and its position.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PostHit {
    pub post_id: PostId,
    pub position: SearchPosition,
}

/// A search for posts.
#[derive(Clone, Debug)]
pub struct PostSearch<'a> {
    pub query: &'a str,
    pub sort: SearchSort,
    /// Only public posts (for anonymous callers); others may see followers-only ones too.
    pub public_only: bool,
    pub after: Option<SearchPosition>,
    pub limit: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the search index is unavailable: {0}")]
    Unavailable(String),
    #[error("the search index failed: {0}")]
    Index(String),
}

#[async_trait]
pub trait SearchIndex: Send + Sync {
    /// Adds the post, or replaces what the index holds of it.
    async fn put_post(&self, post: PostDocument) -> Result<(), SearchError>;
    /// Takes the post out (nothing happens if it is not there).
    async fn remove_post(&self, post_id: PostId) -> Result<(), SearchError>;
    /// Takes every post of the author out.
    async fn remove_author(&self, author_id: UserId) -> Result<(), SearchError>;
    /// Makes what was put and removed so far searchable.
    async fn commit(&self) -> Result<(), SearchError>;
    /// Posts matching the search, in its order, after its position, at most its limit.
    async fn search_posts(&self, search: &PostSearch<'_>) -> Result<Vec<PostHit>, SearchError>;
}
