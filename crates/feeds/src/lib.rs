//! Feeds: home (fan-out on write into per-user timelines, merged at read time with the accounts
//! too followed to fan out), popular (engagement with time decay) and hashtag feeds.
//!
//! # Layout
//! - [`FeedService`]: reads a page of a feed: ids from the cache, rebuilt from the relational
//!   store when missing, then hydrated into posts in a constant number of queries.
//! - [`FeedFanout`]: the event-log consumer that keeps the caches right.
//! - [`FeedCursor`]: the position in a feed, signed and time-limited when handed to clients.
//! - `hydrate`: ids to posts through the post cache and cache counters (see there).
//! - `decoded`: decodings of cached posts and relations, remembered by their bytes.
//!
//! # Invariants
//! - Timelines hold ids and scores (each member names both), never what a reader may see;
//!   that is decided on hydration from cached facts (the post's existence and moderation
//!   state, active authors, the reader's follows and blocks) that the handler making a change
//!   drops right after the store commits it and its event drops again, so a deleted, hidden,
//!   blocked or followers-only post stops showing on the next read, whatever the timeline
//!   still holds (see `hydrate`).
//! - A timeline is read only once complete (rebuilt from the store, marked, then kept up by
//!   fan-out); one fan-out started for a reader who had none is completed on its first read,
//!   and expires if never read.
//! - Feeds are ordered by `(score, post id)`, and a cursor names both: pages stay stable while
//!   new posts arrive above them.

pub mod cursor;
mod decoded;
mod fanout;
mod hydrate;

pub use cursor::{CursorError, FeedCursor};
pub use fanout::{FanoutStats, FeedFanout};

use std::sync::Arc;
use veilgram_core::cache::{Bytes, Cache, CacheError, CacheKey, Scored, MAX_SCORE};
use veilgram_core::ports::{FeedEntry, FeedStore, PostRecord, ViewerRelations};
use veilgram_core::{PostId, StoreError, Timestamp, UserId};

/// The member that marks a timeline as complete (rebuilt from the store, then kept up by
/// fan-out). Its score is above every post's, so it is always first and never trimmed. A set
/// without it was started by fan-out alone and is rebuilt on its first read.
const COMPLETE_MARK: &str = "~complete";
/// A complete timeline lives this long from its rebuild (then the next read rebuilds it), so
/// the timelines of people who stopped reading go away.
const TIMELINE_TTL: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);
/// A timeline fan-out starts for a reader who has none expires unless read within a day.
const UNREAD_TIMELINE_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// Entries read past a page: they tell whether the set ends there, and make up for what a read
/// steps over (the complete mark; entries sharing the cursor's score, read again and skipped by
/// id). Posts hydration drops are made up for by further rounds, not by these.
const READ_AHEAD: usize = 4;
/// Pages are filled from at most this many reads of the cache.
const MAX_ROUNDS: usize = 4;
/// How long a reader's list of followed accounts above the fan-out limit is kept.
const ABOVE_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// The popular feed ranks the posts of this many days.
pub const POPULAR_WINDOW_DAYS: i64 = 7;
/// Posts kept in the popular ranking.
pub const POPULAR_KEEP: usize = 1000;

#[derive(Clone, Debug)]
pub struct FeedSettings {
    /// Entries kept per home timeline (and per hashtag and author timeline).
    pub timeline_length: usize,
    /// Authors with more followers than this are not fanned out; readers merge them in.
    pub fan_out_limit: i64,
    /// Followers fan-out reads from the store, and writes to the cache, at a time.
    pub fan_out_page: i64,
    /// How often cached counters an event changed are set from the store again.
    pub reconcile_interval: std::time::Duration,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            timeline_length: 800,
            fan_out_limit: 10_000,
            fan_out_page: 1000,
            reconcile_interval: std::time::Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("the feed cache is unavailable: {0}")]
    CacheUnavailable(#[from] CacheError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The three feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed<'a> {
    Home(UserId),
    Popular,
    Hashtag(&'a str),
}

impl Feed<'_> {
    /// The name cursors are bound to.
    fn name(&self) -> String {
        match self {
            Self::Home(_) => "home".to_owned(),
            Self::Popular => "popular".to_owned(),
            Self::Hashtag(tag) => format!("tag:{tag}"),
        }
    }
}

/// A page of a feed and where the next one starts.
#[derive(Debug)]
pub struct FeedPage {
    pub posts: Vec<PostRecord>,
    pub next: Option<FeedCursor>,
}

pub struct FeedService {
    cache: Arc<dyn Cache>,
    store: Arc<dyn FeedStore>,
    settings: FeedSettings,
    /// Signs cursors; a server secret shared by every process.
    cursor_key: Vec<u8>,
    posts: decoded::Decoded<PostId, hydrate::CachedPost>,
    relations: decoded::Decoded<UserId, ViewerRelations>,
}

/// What each of `FeedService`'s remembered decodings may hold of encoded values.
const DECODED_BYTES: usize = 16 << 20;

// Sorted sets' names end in the version of their layout (2: kept highest first on Redis, see
// the cache crate's `stored`; 3: a timeline's members name their score, see `timeline_member`),
// so that no build reads a set another layout wrote: it expires unread.

/// A reader's home timeline.
pub fn home_key(user_id: UserId) -> CacheKey {
    CacheKey::of_user(user_id, "home.3")
}

pub(crate) fn above_key(user_id: UserId) -> CacheKey {
    CacheKey::of_user(user_id, "above").near()
}

pub(crate) fn author_key(user_id: UserId) -> CacheKey {
    CacheKey::of_user(user_id, "posts.3")
}

pub(crate) fn hashtag_key(tag: &str) -> CacheKey {
    CacheKey::named(&format!("tag.3:{tag}"))
}

pub(crate) fn popular_key() -> CacheKey {
    CacheKey::named("popular.2")
}

/// A timeline's member for `entry`: `<post id>@<score>`, scored by its creation time (which
/// never changes, so a post has one member). Reading a timeline needs no scores then
/// (`Cache::sorted_members_desc`); among equal scores members still sort by post id.
pub(crate) fn timeline_member(entry: &FeedEntry) -> Scored {
    let score = entry.created_at.as_millis();
    Scored::new(score, format!("{}@{score}", entry.post_id))
}

/// The `(score, post id)` a timeline's member names; `None` for the complete mark.
fn timeline_entry(member: &str) -> Option<(i64, PostId)> {
    let (post_id, score) = member.split_once('@')?;
    Some((score.parse().ok()?, post_id.parse().ok()?))
}

impl FeedService {
    pub fn new(
        cache: Arc<dyn Cache>,
        store: Arc<dyn FeedStore>,
        settings: FeedSettings,
        cursor_key: Vec<u8>,
    ) -> Self {
        Self {
            cache,
            store,
            settings,
            cursor_key,
            posts: decoded::Decoded::new(DECODED_BYTES),
            relations: decoded::Decoded::new(DECODED_BYTES),
        }
    }

    /// The cursor a client gets for the next page of `feed`.
    pub fn encode_cursor(&self, feed: Feed<'_>, cursor: FeedCursor) -> String {
        cursor.encode(&self.cursor_key, &feed.name(), Timestamp::now())
    }

    /// A cursor a client sent for `feed`; refused if altered, from another feed, or expired.
    pub fn decode_cursor(&self, feed: Feed<'_>, cursor: &str) -> Result<FeedCursor, CursorError> {
        FeedCursor::decode(&self.cursor_key, &feed.name(), cursor, Timestamp::now())
    }

    /// A signed cursor for a position in another list the API pages (`user-posts`, ...).
    pub fn seal_position(&self, list: &str, position: &str) -> String {
        cursor::seal(&self.cursor_key, list, position, Timestamp::now())
    }

    /// The position inside a cursor [`seal_position`](Self::seal_position) made for `list`.
    pub fn unseal_position(&self, list: &str, cursor: &str) -> Result<String, CursorError> {
        cursor::unseal(&self.cursor_key, list, cursor, Timestamp::now())
    }

    pub fn settings(&self) -> &FeedSettings {
        &self.settings
    }

    /// Hashtags completing what someone typed (`#` or not, any width or case): the tag it
    /// spells first, then the tags it begins by how many public posts used them in the last
    /// 30 days.
    pub async fn hashtag_suggestions(
        &self,
        typed: &str,
        limit: i64,
    ) -> Result<Vec<(String, i64)>, FeedError> {
        self.hashtags_used(typed, false, 0, limit).await
    }

    /// Hashtags holding what someone searched for anywhere (`스타` finds `인스타그램`), ranked
    /// as [`hashtag_suggestions`](Self::hashtag_suggestions) ranks, `limit` after the first
    /// `skip`.
    pub async fn hashtag_search(
        &self,
        query: &str,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<(String, i64)>, FeedError> {
        self.hashtags_used(query, true, skip, limit).await
    }

    async fn hashtags_used(
        &self,
        typed: &str,
        anywhere: bool,
        skip: i64,
        limit: i64,
    ) -> Result<Vec<(String, i64)>, FeedError> {
        let typed = typed.trim().trim_start_matches('#');
        let Some(fragment) = veilgram_core::text::hashtags(&format!("#{typed}"))
            .into_iter()
            .next()
        else {
            return Ok(Vec::new());
        };
        let since = Timestamp::now().minus(std::time::Duration::from_secs(30 * 24 * 3600));
        Ok(self
            .store
            .hashtag_uses(&fragment, anywhere, since, skip, limit)
            .await?)
    }

    /// The posts among `ids` that `viewer` may see, in the order of `ids`: what any list of
    /// posts from elsewhere (search) is checked through, exactly as the feeds are.
    pub async fn visible_posts(
        &self,
        ids: &[PostId],
        viewer: Option<UserId>,
    ) -> Result<Vec<PostRecord>, FeedError> {
        let (_, relations) = self.reader(Feed::Popular, viewer).await?;
        self.hydrate(ids, viewer, relations.as_deref()).await
    }

    /// A page of `feed` as `viewer` may see it, after `cursor`.
    pub async fn page(
        &self,
        feed: Feed<'_>,
        viewer: Option<UserId>,
        cursor: Option<FeedCursor>,
        limit: usize,
    ) -> Result<FeedPage, FeedError> {
        let (above, relations) = self.reader(feed, viewer).await?;
        let mut posts = Vec::with_capacity(limit);
        let mut position = cursor;
        for _ in 0..MAX_ROUNDS {
            // Only as many as the page still needs are hydrated; rounds after the first make
            // up for posts the reader may not see.
            let needed = limit - posts.len();
            let (entries, exhausted) = self.entries(feed, &above, position, needed).await?;
            let ids: Vec<PostId> = entries.iter().map(|entry| entry.1).collect();
            let mut visible = self.hydrate(&ids, viewer, relations.as_deref()).await?;
            if let Feed::Hashtag(tag) = feed {
                // An edit may have taken the tag away since the post entered the tag's feed.
                visible.retain(|post| post.hashtags.iter().any(|own| own == tag));
            }
            // Both in feed order: the visible posts are a subsequence of the entries.
            let mut visible = visible.into_iter().peekable();
            for (score, post_id) in &entries {
                position = Some(FeedCursor::new(*score, *post_id));
                if let Some(post) = visible.next_if(|post| post.id == *post_id) {
                    posts.push(post);
                }
            }
            if exhausted {
                return Ok(FeedPage { posts, next: None });
            }
            if posts.len() == limit {
                return Ok(FeedPage {
                    posts,
                    next: position,
                });
            }
        }
        // Mostly invisible entries: hand back what was found and where to go on.
        Ok(FeedPage {
            posts,
            next: position,
        })
    }

    /// Up to `want` `(score, id)` entries after `cursor`, highest first, and whether the feed
    /// has nothing beyond them.
    async fn entries(
        &self,
        feed: Feed<'_>,
        above: &[UserId],
        cursor: Option<FeedCursor>,
        want: usize,
    ) -> Result<(Vec<(i64, PostId)>, bool), FeedError> {
        match feed {
            Feed::Home(user_id) => {
                let own = self.timeline(home_key(user_id), Rebuild::Home(user_id), cursor, want);
                let (mut entries, mut exhausted) = own.await?;
                // Accounts too followed to fan out are merged in from their own timelines.
                for author in above.iter().copied() {
                    let theirs =
                        self.timeline(author_key(author), Rebuild::Author(author), cursor, want);
                    let (more, done) = theirs.await?;
                    entries.extend(more);
                    exhausted &= done;
                }
                entries.sort_unstable_by(|a, b| b.cmp(a));
                entries.dedup();
                if entries.len() > want {
                    entries.truncate(want);
                    exhausted = false;
                }
                Ok((entries, exhausted))
            }
            Feed::Popular => self.read_ranking(&popular_key(), cursor, want).await,
            Feed::Hashtag(tag) => {
                let key = hashtag_key(tag);
                let (entries, exhausted) = self
                    .timeline(key.clone(), Rebuild::Hashtag(tag), cursor, want)
                    .await?;
                let full = self.cache.sorted_len(&key).await? > self.settings.timeline_length;
                if entries.len() == want || !exhausted || !full {
                    return Ok((entries, exhausted));
                }
                // Past the cached head of a long hashtag: the store answers.
                let before = entries
                    .last()
                    .copied()
                    .map(|(score, post_id)| FeedCursor::new(score, post_id))
                    .or(cursor);
                let older = self
                    .store
                    .hashtag_entries(tag, before.map(FeedCursor::entry), want as i64)
                    .await?;
                let exhausted = older.len() < want;
                let mut entries = entries;
                entries.extend(
                    older
                        .iter()
                        .map(|entry| (entry.created_at.as_millis(), entry.post_id)),
                );
                entries.truncate(want);
                Ok((entries, exhausted))
            }
        }
    }

    /// What reading `feed` takes to know about `viewer`, in one read of the cache: for a home
    /// feed the followed accounts above the fan-out limit, and the viewer's relations.
    async fn reader(
        &self,
        feed: Feed<'_>,
        viewer: Option<UserId>,
    ) -> Result<(Vec<UserId>, Option<Arc<ViewerRelations>>), FeedError> {
        let home = match feed {
            Feed::Home(user_id) => Some(user_id),
            Feed::Popular | Feed::Hashtag(_) => None,
        };
        let keys: Vec<CacheKey> = viewer
            .map(hydrate::viewer_key)
            .into_iter()
            .chain(home.map(above_key))
            .collect();
        if keys.is_empty() {
            return Ok((Vec::new(), None));
        }
        let mut cached = self.cache.get_many(&keys).await?.into_iter();
        let relations = match viewer {
            Some(viewer) => Some(self.relations(viewer, cached.next().flatten()).await?),
            None => None,
        };
        let above = match home {
            Some(user_id) => {
                self.followed_above_limit(user_id, cached.next().flatten())
                    .await?
            }
            None => Vec::new(),
        };
        Ok((above, relations))
    }

    /// The accounts `user_id` follows that are above the fan-out limit (`cached`: as read from
    /// the cache), cached for a minute (dropped at once when the user follows, unfollows or
    /// blocks someone).
    async fn followed_above_limit(
        &self,
        user_id: UserId,
        cached: Option<Bytes>,
    ) -> Result<Vec<UserId>, FeedError> {
        let key = above_key(user_id);
        if let Some(cached) = cached {
            let listed = String::from_utf8_lossy(&cached)
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<Vec<UserId>, _>>();
            if let Ok(listed) = listed {
                return Ok(listed);
            }
        }
        let above = self
            .store
            .followed_above(user_id, self.settings.fan_out_limit)
            .await?;
        let listed: Vec<String> = above.iter().map(UserId::to_string).collect();
        self.cache
            .set(&key, listed.join(" ").as_bytes(), Some(ABOVE_TTL))
            .await?;
        Ok(above)
    }

    /// Whether the timeline at `key` holds the complete mark (which scores above every post).
    pub(crate) async fn is_complete(&self, key: &CacheKey) -> Result<bool, CacheError> {
        let top = self.cache.sorted_members_desc(key, None, 1).await?;
        Ok(top.first().is_some_and(|top| top == COMPLETE_MARK))
    }

    /// Fan-out: offers `entry` to the timelines at `keys` (see `Cache::sorted_add_each`).
    pub(crate) async fn offer(
        &self,
        keys: &[CacheKey],
        entry: &FeedEntry,
    ) -> Result<(), CacheError> {
        let keep = self.settings.timeline_length + 1;
        self.cache
            .sorted_add_each(keys, &timeline_member(entry), keep, UNREAD_TIMELINE_TTL)
            .await
    }

    /// Reads a capped timeline, rebuilding it from the store first if it is missing.
    async fn timeline(
        &self,
        key: CacheKey,
        rebuild: Rebuild<'_>,
        cursor: Option<FeedCursor>,
        want: usize,
    ) -> Result<(Vec<(i64, PostId)>, bool), FeedError> {
        // A first page reads the complete mark with the posts below it.
        if cursor.is_none() {
            let (entries, exhausted, marked) = self.read_timeline(&key, None, want).await?;
            if marked {
                return Ok((entries, exhausted));
            }
        } else if self.is_complete(&key).await? {
            let (entries, exhausted, _) = self.read_timeline(&key, cursor, want).await?;
            return Ok((entries, exhausted));
        }
        let length = self.settings.timeline_length as i64;
        let entries = match rebuild {
            Rebuild::Home(user_id) => self.store.home_entries(user_id, length).await?,
            Rebuild::Author(author) => self.store.author_entries(author, length).await?,
            Rebuild::Hashtag(tag) => self.store.hashtag_entries(tag, None, length).await?,
        };
        let mut members: Vec<Scored> = entries.iter().map(timeline_member).collect();
        members.push(Scored::new(MAX_SCORE, COMPLETE_MARK));
        self.cache
            .sorted_add(&key, &members, self.settings.timeline_length + 1)
            .await?;
        self.cache.expire(&key, TIMELINE_TTL).await?;
        let (entries, exhausted, _) = self.read_timeline(&key, cursor, want).await?;
        Ok((entries, exhausted))
    }

    /// Entries of the timeline at `key` strictly after `cursor` in `(score, id)` order, highest
    /// first; whether it has nothing beyond them; whether the complete mark led what was read.
    async fn read_timeline(
        &self,
        key: &CacheKey,
        cursor: Option<FeedCursor>,
        want: usize,
    ) -> Result<(Vec<(i64, PostId)>, bool, bool), FeedError> {
        let (below, read) = read_window(cursor, want);
        let members = self.cache.sorted_members_desc(key, below, read).await?;
        let marked = members.first().is_some_and(|top| top == COMPLETE_MARK);
        let entries = members.iter().filter_map(|member| timeline_entry(member));
        let (entries, exhausted) = entries_after(entries, members.len(), read, cursor, want);
        Ok((entries, exhausted, marked))
    }

    /// Entries of a ranking (members are post ids, scores ranks) strictly after `cursor` in
    /// `(score, id)` order, highest first, and whether it has nothing beyond them.
    async fn read_ranking(
        &self,
        key: &CacheKey,
        cursor: Option<FeedCursor>,
        want: usize,
    ) -> Result<(Vec<(i64, PostId)>, bool), FeedError> {
        let (below, read) = read_window(cursor, want);
        let members = self.cache.sorted_range_desc(key, below, read).await?;
        let answered = members.len();
        let entries = members
            .into_iter()
            .filter_map(|Scored { score, member }| Some((score, member.parse().ok()?)));
        Ok(entries_after(entries, answered, read, cursor, want))
    }
}

/// What to read of a sorted set for `want` entries after `cursor`: members with scores below
/// the first bound, and how many. Entries sharing the cursor's score are read again and
/// stepped over by id (`entries_after`).
fn read_window(cursor: Option<FeedCursor>, want: usize) -> (Option<i64>, usize) {
    let below = cursor.map(|cursor| cursor.score.saturating_add(1));
    (below, want + READ_AHEAD)
}

/// Up to `want` of the `(score, id)` entries read from a set (which answered `answered` members
/// of the `read` asked for) strictly after `cursor`, and whether the set has nothing beyond them.
fn entries_after(
    entries: impl Iterator<Item = (i64, PostId)>,
    answered: usize,
    read: usize,
    cursor: Option<FeedCursor>,
    want: usize,
) -> (Vec<(i64, PostId)>, bool) {
    let mut entries: Vec<(i64, PostId)> = entries
        .filter(|entry| cursor.is_none_or(|cursor| *entry < (cursor.score, cursor.post_id)))
        .collect();
    let exhausted = answered < read && entries.len() <= want;
    entries.truncate(want);
    (entries, exhausted)
}

/// Where a missing timeline is rebuilt from.
#[derive(Clone, Copy)]
enum Rebuild<'a> {
    Home(UserId),
    Author(UserId),
    Hashtag(&'a str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_member_names_its_post_and_score() {
        let entry = FeedEntry {
            created_at: Timestamp::from_millis(1_732_470_000_123),
            post_id: PostId::generate(),
        };
        let member = timeline_member(&entry);
        assert_eq!(member.score, 1_732_470_000_123);
        assert_eq!(
            timeline_entry(&member.member),
            Some((member.score, entry.post_id))
        );
        assert_eq!(timeline_entry(COMPLETE_MARK), None);
        assert_eq!(timeline_entry(&entry.post_id.to_string()), None, "layout 2");
    }

    /// Pages of two walk a set where several posts share a millisecond (and the complete mark
    /// tops it) and see every post once, in order, and the end.
    #[test]
    fn pages_step_over_posts_sharing_the_cursors_score() {
        let mut ids: Vec<PostId> = (0..9).map(|_| PostId::generate()).collect();
        ids.sort_unstable();
        let scores = [5, 5, 5, 6, 7, 7, 7, 7, 9];
        let mut set: Vec<Scored> = ids
            .iter()
            .zip(scores)
            .map(|(id, score)| {
                timeline_member(&FeedEntry {
                    created_at: Timestamp::from_millis(score),
                    post_id: *id,
                })
            })
            .chain([Scored::new(MAX_SCORE, COMPLETE_MARK)])
            .collect();
        set.sort_unstable_by(|a, b| b.cmp(a));
        // What a cache answers: highest first, scores below `below`, at most `limit`; members
        // only, as timelines are read.
        let range = |below: Option<i64>, limit: usize| -> Vec<String> {
            set.iter()
                .filter(|scored| below.is_none_or(|below| scored.score < below))
                .take(limit)
                .map(|scored| scored.member.clone())
                .collect()
        };
        let (mut walked, mut cursor, mut pages) = (Vec::new(), None, 0);
        loop {
            let (below, read) = read_window(cursor, 2);
            let members = range(below, read);
            let read_entries = members.iter().filter_map(|member| timeline_entry(member));
            let (entries, exhausted) = entries_after(read_entries, members.len(), read, cursor, 2);
            pages += 1;
            assert!(
                entries.len() == 2 || exhausted,
                "a short page before the end"
            );
            if let Some(&(score, post_id)) = entries.last() {
                cursor = Some(FeedCursor::new(score, post_id));
            }
            walked.extend(entries.into_iter().map(|(_, id)| id));
            if exhausted {
                break;
            }
            assert!(pages < 10, "the walk does not end");
        }
        let mut expected: Vec<(i64, PostId)> = scores.into_iter().zip(ids).collect();
        expected.sort_unstable_by(|a, b| b.cmp(a));
        let expected: Vec<PostId> = expected.into_iter().map(|(_, id)| id).collect();
        assert_eq!(walked, expected);
    }
}
