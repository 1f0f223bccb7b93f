//! Hydration: a page of post ids becomes the posts a viewer may see, in a constant number of
//! round trips whatever the page size, and on a warm cache without the relational store: the
//! posts from the post cache (one batched read), then their counts and their authors' bylines
//! (one batched read each, at once); the viewer's relations come with the page's first cache
//! read (`FeedService::page`). What is missing is loaded from the store in one query per kind
//! and cached.
//!
//! # What is cached, and who keeps it right
//! - `{p:<id>}:post`: a post's content and moderation state as nobody in particular sees it
//!   (text, visibility, hashtags, poll options, media), for a day. A deleted post has none.
//! - `{p:<id>}:likes`, `{p:<id>}:comments`, `{p:<id>}:votes:<option>`: counters, for an hour.
//!   Adjusted by the event consumer only while they exist (a missing one is loaded from the
//!   store by its next reader), and set from the store again by reconciliation for every post
//!   an event touched (see [`FeedService::reconcile_counters`]): a redelivered event, a crash
//!   between the store's commit and the adjustment, or a lost cache all end in the truth.
//! - `{u:<id>}:byline`: an author's nickname and avatar, or that the account is not active.
//! - `{u:<id>}:viewer`: the viewer's [`ViewerRelations`]: whom they follow and block (either
//!   way), and their likes and votes on the posts of the last week.
//!
//! Everything that decides visibility (a post's existence and moderation state, active
//! authors, follows, blocks) is dropped twice when it changes: by the API handler that made
//! the change, right after the store committed it (so the person who acted sees it on their
//! next read, on any process sharing the cache), and by the event consumer (the guarantee,
//! retried until it holds; it also covers a reader that cached the old state in between).
//! Bylines and relations also expire after ten minutes, which bounds the one case neither
//! covers: a vote (its event names no voter) whose handler could not reach the cache. What a
//! cached relation cannot answer (a post older than its likes window, more follows or blocks
//! than it lists) is asked of the store for the page, as before the cache existed.

use crate::{FeedError, FeedService};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use veilgram_core::cache::{Bytes, CacheKey, Scored};
use veilgram_core::ports::{
    AuthorByline, MediaRecord, PollRecord, PostRecord, ViewerFacts, ViewerRelations, Visibility,
};
use veilgram_core::{IdMap, PollId, PostId, Timestamp, UserId};

/// How long a post stays in the post cache unless an event drops it first.
const POST_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a post's counters stay in the cache.
const COUNTER_TTL: Duration = Duration::from_secs(3600);
/// Posts whose counters an event changed, waiting for reconciliation (the oldest are dropped
/// beyond this many; their counters expire within `COUNTER_TTL` anyway).
const TOUCHED_KEEP: usize = 100_000;
/// Posts reconciled per store query.
const RECONCILE_BATCH: usize = 500;
/// How long a viewer's relations and an author's byline stay cached unless a change drops them.
const FACTS_TTL: Duration = Duration::from_secs(600);
/// A viewer's cached likes and votes cover the posts of this long.
const LIKES_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// Entries per list of a viewer's cached relations (follows, blocks, likes, votes).
const RELATIONS_LIMIT: i64 = 2000;

// Everything hydration reads is near (see `CacheKey::near`): read on every page, changed
// seldom, and each change dropped by whoever made it.

pub(crate) fn post_key(post_id: PostId) -> CacheKey {
    CacheKey::of_post(post_id, "post").near()
}

pub(crate) fn byline_key(user_id: UserId) -> CacheKey {
    CacheKey::of_user(user_id, "byline").near()
}

pub(crate) fn viewer_key(user_id: UserId) -> CacheKey {
    CacheKey::of_user(user_id, "viewer").near()
}

/// What the cache holds about an account as a viewer and as an author (`forget_accounts`).
pub(crate) fn account_keys(user_id: UserId) -> [CacheKey; 2] {
    [viewer_key(user_id), byline_key(user_id)]
}

fn touched_key() -> CacheKey {
    CacheKey::named("counters:touched.2")
}

/// The counts of a post that events change one at a time.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Count {
    Likes,
    Comments,
}

impl Count {
    pub(crate) fn key(self, post_id: PostId) -> CacheKey {
        match self {
            Self::Likes => CacheKey::of_post(post_id, "likes").near(),
            Self::Comments => CacheKey::of_post(post_id, "comments").near(),
        }
    }
}

fn votes_key(post_id: PostId, option: usize) -> CacheKey {
    CacheKey::of_post(post_id, &format!("votes:{option}")).near()
}

/// A post as the post cache holds it: nothing about any viewer, no counts.
#[derive(Serialize, Deserialize)]
pub(crate) struct CachedPost {
    author_id: UserId,
    text: String,
    visibility: String,
    anonymous_thread: bool,
    hashtags: Vec<String>,
    created_at: i64,
    edited_at: Option<i64>,
    poll: Option<CachedPoll>,
    media: Vec<MediaRecord>,
    moderation_state: String,
    /// Why it is warned or hidden (absent in entries cached before there was one).
    #[serde(default)]
    moderation_reason: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct CachedPoll {
    id: PollId,
    options: Vec<String>,
    closes_at: i64,
}

impl CachedPost {
    fn of(post: &PostRecord) -> Self {
        Self {
            author_id: post.author_id,
            text: post.text.clone(),
            visibility: post.visibility.as_str().to_owned(),
            anonymous_thread: post.anonymous_thread,
            hashtags: post.hashtags.clone(),
            created_at: post.created_at.as_millis(),
            edited_at: post.edited_at.map(Timestamp::as_millis),
            media: post.media.clone(),
            moderation_state: post.moderation_state.clone(),
            moderation_reason: post.moderation_reason.clone(),
            poll: post.poll.as_ref().map(|poll| CachedPoll {
                id: poll.id,
                options: poll.options.iter().map(|(text, _)| text.clone()).collect(),
                closes_at: poll.closes_at.as_millis(),
            }),
        }
    }

    /// The counter keys of this post, in the order `counts_of` answers them.
    fn counter_keys(&self, post_id: PostId) -> Vec<CacheKey> {
        let options = self.poll.as_ref().map_or(0, |poll| poll.options.len());
        let mut keys = vec![Count::Likes.key(post_id), Count::Comments.key(post_id)];
        keys.extend((0..options).map(|option| votes_key(post_id, option)));
        keys
    }
}

/// A post's counts in `counter_keys` order, from the store.
fn counts_of(post: &PostRecord) -> Vec<i64> {
    let mut counts = vec![post.like_count, post.comment_count];
    if let Some(poll) = &post.poll {
        counts.extend(poll.options.iter().map(|(_, votes)| *votes));
    }
    counts
}

/// Whether `viewer` may see `post`: the store's visibility rule, applied to cached posts and
/// the viewer's relations read from the store.
fn may_see(
    post_id: PostId,
    post: &CachedPost,
    viewer: Option<UserId>,
    facts: &ViewerFacts,
) -> bool {
    let own = viewer == Some(post.author_id);
    let Some(moderation) = facts.moderation.get(&post_id) else {
        return false; // deleted
    };
    facts.bylines.contains_key(&post.author_id)
        && !facts.blocked.contains(&post.author_id)
        && (moderation.0 != "hidden" || own)
        && (post.visibility == Visibility::Public.as_str()
            || own
            || facts.following.contains(&post.author_id))
}

impl FeedService {
    /// The posts among `ids` that `viewer` (whose cached `relations` are given) may see, in
    /// the order of `ids`.
    pub(crate) async fn hydrate(
        &self,
        ids: &[PostId],
        viewer: Option<UserId>,
        relations: Option<&ViewerRelations>,
    ) -> Result<Vec<PostRecord>, FeedError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<CacheKey> = ids.iter().copied().map(post_key).collect();
        let mut posts: IdMap<PostId, Arc<CachedPost>> =
            IdMap::with_capacity_and_hasher(ids.len(), Default::default());
        for (post_id, cached) in ids.iter().zip(self.cache.get_many(&keys).await?) {
            // Something unreadable (an older layout) counts as missing and is replaced.
            if let Some(post) = cached.and_then(|bytes| self.posts.decode(post_id, &bytes)) {
                posts.insert(*post_id, post);
            }
        }
        let missing: Vec<PostId> = ids
            .iter()
            .copied()
            .filter(|post_id| !posts.contains_key(post_id))
            .collect();
        // Counts read from the store with the missing posts need no cache read.
        let mut counts: IdMap<PostId, Vec<i64>> = IdMap::default();
        if !missing.is_empty() {
            for (post_id, post, post_counts) in self.load_posts(&missing).await? {
                counts.insert(post_id, post_counts);
                posts.insert(post_id, Arc::new(post));
            }
        }

        let mut authors: Vec<UserId> = posts.values().map(|post| post.author_id).collect();
        authors.sort_unstable();
        authors.dedup();
        let shown: Vec<PostId> = ids
            .iter()
            .copied()
            .filter(|id| posts.contains_key(id))
            .collect();
        let polls: Vec<PollId> = posts
            .values()
            .filter_map(|post| post.poll.as_ref().map(|poll| poll.id))
            .collect();
        let uncounted: Vec<PostId> = shown
            .iter()
            .copied()
            .filter(|id| !counts.contains_key(id))
            .collect();
        let (facts, cached_counts) = tokio::join!(
            self.viewer_facts(viewer, relations, &shown, &authors, &polls, &posts),
            self.cached_counts(&uncounted, &posts)
        );
        let facts = facts?;
        let (cached_counts, stale) = cached_counts?;
        counts.extend(cached_counts);
        if !stale.is_empty() {
            for (post_id, _, post_counts) in self.load_posts(&stale).await? {
                counts.insert(post_id, post_counts);
            }
        }

        let mut visible = Vec::with_capacity(shown.len());
        for post_id in shown {
            let (Some(post), Some(post_counts)) = (posts.remove(&post_id), counts.get(&post_id))
            else {
                continue; // deleted while this page was read
            };
            if !may_see(post_id, &post, viewer, &facts) {
                continue;
            }
            visible.push(assemble(post_id, &post, post_counts, &facts));
        }
        Ok(visible)
    }

    /// What showing `shown` by `authors` to `viewer` takes beyond the posts' content (see
    /// `FeedStore::viewer_facts`), from the cache, loading what it lacks; from the store alone
    /// when the viewer's cached relations cannot answer for this page.
    async fn viewer_facts(
        &self,
        viewer: Option<UserId>,
        relations: Option<&ViewerRelations>,
        shown: &[PostId],
        authors: &[UserId],
        polls: &[PollId],
        posts: &IdMap<PostId, Arc<CachedPost>>,
    ) -> Result<ViewerFacts, FeedError> {
        if let (Some(viewer), Some(relations)) = (viewer, relations) {
            if !answers_for(relations, viewer, shown, posts) {
                return Ok(self
                    .store
                    .viewer_facts(Some(viewer), shown, authors, polls)
                    .await?);
            }
        }
        let keys: Vec<CacheKey> = authors.iter().copied().map(byline_key).collect();
        let cached = self.cache.get_many(&keys).await?;
        let mut bylines = IdMap::with_capacity_and_hasher(authors.len(), Default::default());
        let mut unknown = Vec::new();
        for (author, bytes) in authors.iter().zip(cached) {
            // `null`: the account is not active.
            match bytes
                .and_then(|bytes| serde_json::from_slice::<Option<AuthorByline>>(&bytes).ok())
            {
                Some(Some(byline)) => {
                    bylines.insert(*author, byline);
                }
                Some(None) => {}
                None => unknown.push(*author),
            }
        }
        bylines.extend(self.load_bylines(&unknown).await?);
        let mut facts = ViewerFacts {
            bylines,
            ..ViewerFacts::default()
        };
        for post_id in shown {
            if let Some(post) = posts.get(post_id) {
                facts.moderation.insert(
                    *post_id,
                    (
                        post.moderation_state.clone(),
                        post.moderation_reason.clone(),
                    ),
                );
            }
        }
        if let Some(relations) = relations {
            let listed = |list: &[UserId], id: &UserId| list.binary_search(id).is_ok();
            facts.following = authors
                .iter()
                .filter(|author| listed(&relations.following, author))
                .copied()
                .collect();
            facts.blocked = authors
                .iter()
                .filter(|author| listed(&relations.blocked, author))
                .copied()
                .collect();
            facts.liked = shown
                .iter()
                .filter(|post| relations.liked.binary_search(post).is_ok())
                .copied()
                .collect();
            facts.votes = relations
                .votes
                .iter()
                .filter(|(poll, _)| polls.contains(poll))
                .copied()
                .collect();
        }
        Ok(facts)
    }

    /// Bylines from the store for `authors`, cached (inactive accounts as `null`).
    async fn load_bylines(
        &self,
        authors: &[UserId],
    ) -> Result<IdMap<UserId, AuthorByline>, FeedError> {
        if authors.is_empty() {
            return Ok(IdMap::default());
        }
        let bylines = self.store.bylines(authors).await?;
        let entries: Vec<(CacheKey, Vec<u8>)> = authors
            .iter()
            .map(|author| {
                let encoded = serde_json::to_vec(&bylines.get(author)).unwrap_or_default();
                (byline_key(*author), encoded)
            })
            .collect();
        self.cache.set_many(&entries, Some(FACTS_TTL)).await?;
        Ok(bylines)
    }

    /// A viewer's relations: `cached` (as read from the cache) if readable, else from the
    /// store, cached.
    pub(crate) async fn relations(
        &self,
        viewer: UserId,
        cached: Option<Bytes>,
    ) -> Result<Arc<ViewerRelations>, FeedError> {
        if let Some(relations) = cached.and_then(|bytes| self.relations.decode(&viewer, &bytes)) {
            return Ok(relations);
        }
        let since = Timestamp::now().minus(LIKES_WINDOW);
        let relations = self
            .store
            .viewer_relations(viewer, since, RELATIONS_LIMIT)
            .await?;
        let encoded = serde_json::to_vec(&relations).unwrap_or_default();
        self.cache
            .set(&viewer_key(viewer), &encoded, Some(FACTS_TTL))
            .await?;
        Ok(Arc::new(relations))
    }

    /// Drops what the cache holds about these accounts as viewers and as authors (relations
    /// and bylines): called by whoever changed them, once the store committed the change.
    pub async fn forget_accounts(&self, users: &[UserId]) -> Result<(), FeedError> {
        let keys: Vec<CacheKey> = users.iter().copied().flat_map(account_keys).collect();
        self.cache.delete(&keys).await?;
        Ok(())
    }

    /// Counts from the cache for `ids`, and the ids with a counter missing.
    async fn cached_counts(
        &self,
        ids: &[PostId],
        posts: &IdMap<PostId, Arc<CachedPost>>,
    ) -> Result<(IdMap<PostId, Vec<i64>>, Vec<PostId>), FeedError> {
        let per_post: Vec<Vec<CacheKey>> = ids
            .iter()
            .map(|id| {
                posts
                    .get(id)
                    .map_or_else(Vec::new, |post| post.counter_keys(*id))
            })
            .collect();
        let keys: Vec<CacheKey> = per_post.iter().flatten().cloned().collect();
        let mut values = self.cache.counters(&keys).await?.into_iter();
        let mut counts = IdMap::with_capacity_and_hasher(ids.len(), Default::default());
        let mut stale = Vec::new();
        for (post_id, keys) in ids.iter().zip(&per_post) {
            let read: Option<Vec<i64>> = values.by_ref().take(keys.len()).collect();
            match read {
                Some(read) => {
                    counts.insert(*post_id, read);
                }
                None => stale.push(*post_id),
            }
        }
        Ok((counts, stale))
    }

    /// Reads posts from the store and caches them and their counts: `(id, post, counts)`.
    async fn load_posts(
        &self,
        ids: &[PostId],
    ) -> Result<Vec<(PostId, CachedPost, Vec<i64>)>, FeedError> {
        let records = self.store.post_records(ids).await?;
        let mut bodies = Vec::with_capacity(records.len());
        let mut counters = Vec::new();
        let mut loaded = Vec::with_capacity(records.len());
        for record in &records {
            let post = CachedPost::of(record);
            let post_counts = counts_of(record);
            let encoded = serde_json::to_vec(&post).unwrap_or_default();
            bodies.push((post_key(record.id), encoded));
            counters.extend(
                post.counter_keys(record.id)
                    .into_iter()
                    .zip(post_counts.clone()),
            );
            loaded.push((record.id, post, post_counts));
        }
        self.cache.set_many(&bodies, Some(POST_TTL)).await?;
        self.cache
            .set_counters(&counters, Some(COUNTER_TTL))
            .await?;
        Ok(loaded)
    }

    /// Reads posts and their counts from the store into the cache again.
    pub(crate) async fn refresh(&self, ids: &[PostId]) -> Result<(), FeedError> {
        self.load_posts(ids).await.map(|_| ())
    }

    /// Event consumer: a post's count changed by `delta` (kept only if cached), and the post
    /// is queued for reconciliation.
    pub(crate) async fn count(
        &self,
        post_id: PostId,
        count: Count,
        delta: i64,
    ) -> Result<(), FeedError> {
        self.cache
            .adjust_existing(&count.key(post_id), delta)
            .await?;
        self.touch(&[post_id]).await
    }

    /// Queues posts for counter reconciliation.
    pub(crate) async fn touch(&self, ids: &[PostId]) -> Result<(), FeedError> {
        let now = Timestamp::now().as_millis();
        let members: Vec<Scored> = ids
            .iter()
            .map(|id| Scored::new(now, id.to_string()))
            .collect();
        self.cache
            .sorted_add(&touched_key(), &members, TOUCHED_KEEP)
            .await?;
        Ok(())
    }

    /// A post changed or went away; its next reader loads it again. Called by whoever changed
    /// it, once the store committed the change, and by the event consumer.
    pub async fn forget_post(&self, post_id: PostId) -> Result<(), FeedError> {
        self.cache.delete(&[post_key(post_id)]).await?;
        Ok(())
    }

    /// Sets the counters of every post an event touched since the last run from the store,
    /// and answers how many posts that was. Each batch is taken off the queue before the store
    /// is read, so an event that lands meanwhile queues its post again for the next run.
    pub async fn reconcile_counters(&self) -> Result<usize, FeedError> {
        let mut reconciled = 0;
        loop {
            let queued = self
                .cache
                .sorted_range_desc(&touched_key(), None, RECONCILE_BATCH)
                .await?;
            let members: Vec<String> = queued.into_iter().map(|queued| queued.member).collect();
            self.cache.sorted_remove(&touched_key(), &members).await?;
            let ids: Vec<PostId> = members
                .iter()
                .filter_map(|member| member.parse().ok())
                .collect();
            if !ids.is_empty() {
                self.refresh(&ids).await?;
            }
            reconciled += ids.len();
            if members.len() < RECONCILE_BATCH {
                return Ok(reconciled);
            }
        }
    }
}

/// Whether `relations` (cached) say all `viewer` needs to see `shown`: every list complete
/// where the page needs it, and every post recent enough for the likes and votes listed.
fn answers_for(
    relations: &ViewerRelations,
    viewer: UserId,
    shown: &[PostId],
    posts: &IdMap<PostId, Arc<CachedPost>>,
) -> bool {
    let since = relations.since.as_millis();
    relations.blocked_complete
        && shown.iter().filter_map(|id| posts.get(id)).all(|post| {
            post.created_at >= since
                && (relations.following_complete
                    || post.author_id == viewer
                    || post.visibility == Visibility::Public.as_str())
        })
}

/// A post as `facts`' viewer sees it.
fn assemble(post_id: PostId, post: &CachedPost, counts: &[i64], facts: &ViewerFacts) -> PostRecord {
    let byline = facts.bylines.get(&post.author_id);
    let moderation = facts.moderation.get(&post_id).cloned().unwrap_or_default();
    let poll = post.poll.as_ref().map(|poll| {
        let tallies = counts.get(2..).unwrap_or_default();
        PollRecord {
            id: poll.id,
            post_id,
            total_votes: tallies.iter().sum(),
            options: poll
                .options
                .iter()
                .cloned()
                .zip(tallies.iter().copied())
                .collect(),
            closes_at: Timestamp::from_millis(poll.closes_at),
            my_vote: facts.votes.get(&poll.id).copied(),
        }
    });
    PostRecord {
        id: post_id,
        poll,
        media: post.media.clone(),
        author_id: post.author_id,
        author_nickname: byline
            .map(|byline| byline.nickname.clone())
            .unwrap_or_default(),
        author_avatar_media_id: byline.and_then(|byline| byline.avatar_media_id.clone()),
        text: post.text.clone(),
        visibility: Visibility::parse(&post.visibility).unwrap_or(Visibility::Followers),
        anonymous_thread: post.anonymous_thread,
        hashtags: post.hashtags.clone(),
        like_count: counts.first().copied().unwrap_or_default(),
        comment_count: counts.get(1).copied().unwrap_or_default(),
        liked_by_me: facts.liked.contains(&post_id),
        created_at: Timestamp::from_millis(post.created_at),
        edited_at: post.edited_at.map(Timestamp::from_millis),
        moderation_state: moderation.0,
        moderation_reason: moderation.1,
    }
}
