//! The search index: posts by their text and hashtags, and accounts by their nickname and status
//! message, Korean and English, found by any fragment. The index only proposes: whoever answers
//! a caller decides what the caller may see the same way as everywhere else (a proposed post or
//! account the caller may not see is dropped).

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

/// An account as the index keeps it. No sign-up time: the order of accounts must not tell it.
#[derive(Clone, Debug, PartialEq)]
pub struct UserDocument {
    pub id: UserId,
    pub nickname: String,
    pub status_message: String,
    pub followers_count: i64,
}

/// How hits are ordered: best match, newest, or most liked (accounts: most followed) first,
/// ties newest first. Accounts have no `Recent` order.
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
    pub id: uuid::Uuid,
}

/// A post or account the index proposes, and its position.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit<Id> {
    pub id: Id,
    pub position: SearchPosition,
}

/// A search for posts or accounts.
#[derive(Clone, Debug)]
pub struct Search<'a> {
    pub query: &'a str,
    pub sort: SearchSort,
    /// Only public posts (for anonymous callers); others may see followers-only ones too.
    /// Accounts are all public.
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
    /// Adds the account, or replaces what the index holds of it.
    async fn put_user(&self, user: UserDocument) -> Result<(), SearchError>;
    /// Takes the account out (its posts stay).
    async fn remove_user(&self, user_id: UserId) -> Result<(), SearchError>;
    /// Takes the account and every post of it out.
    async fn remove_author(&self, author_id: UserId) -> Result<(), SearchError>;
    /// Makes what was put and removed so far searchable.
    async fn commit(&self) -> Result<(), SearchError>;
    /// Posts matching the search, in its order, after its position, at most its limit.
    async fn search_posts(&self, search: &Search<'_>) -> Result<Vec<Hit<PostId>>, SearchError>;
    /// Accounts matching the search (`Recent` orders as `Relevance`).
    async fn search_users(&self, search: &Search<'_>) -> Result<Vec<Hit<UserId>>, SearchError>;
    /// Starts a replacement of the whole index (`veilgram reindex`).
    async fn rebuild(&self) -> Result<Box<dyn IndexRebuild>, SearchError>;
}

/// A replacement for everything an index holds, filled while the index goes on serving and
/// writing as before; [`switch`](Self::switch) makes it the index in one step.
#[async_trait]
pub trait IndexRebuild: Send {
    async fn put_posts(&mut self, posts: Vec<PostDocument>) -> Result<(), SearchError>;
    async fn put_users(&mut self, users: Vec<UserDocument>) -> Result<(), SearchError>;
    /// Searches see what was put, and nothing else, from now on.
    async fn switch(self: Box<Self>) -> Result<(), SearchError>;
}

/// What the index is filled from: the relational store's current state, as search may
/// propose it (no hidden posts, no posts or profiles of suspended or deactivated accounts).
#[async_trait]
pub trait SearchSource: Send + Sync {
    /// The post as the index should hold it, or `None` when it must not be there.
    async fn post_document(&self, post_id: PostId) -> Result<Option<PostDocument>, StoreError>;
    /// The account as the index should hold it, or `None` when it must not be there.
    async fn user_document(&self, user_id: UserId) -> Result<Option<UserDocument>, StoreError>;
    /// Posts with an id above `after`, by id, at most `limit` (a rebuild's pages).
    async fn post_documents(
        &self,
        after: Option<PostId>,
        limit: i64,
    ) -> Result<Vec<PostDocument>, StoreError>;
    /// Accounts with an id above `after`, by id, at most `limit`.
    async fn user_documents(
        &self,
        after: Option<UserId>,
        limit: i64,
    ) -> Result<Vec<UserDocument>, StoreError>;
}
