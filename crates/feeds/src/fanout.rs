//! The feeds' event-log consumer: fan-out on write, hashtag and author timelines, the popular
//! ranking, and the timeline changes follows and blocks cause. Every handler is idempotent
//! (adding a member twice, dropping a timeline twice, re-ranking a post), because the log
//! delivers at least once.

use crate::hydrate::{account_keys, Count};
use crate::{
    above_key, author_key, hashtag_key, home_key, popular_key, timeline_member, FeedService,
    POPULAR_KEEP, POPULAR_WINDOW_DAYS,
};
use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use veilgram_core::cache::{CacheKey, Scored};
use veilgram_core::events::{DomainEvent, LoggedEvent};
use veilgram_core::ports::{Engagement, FeedEntry, ModerationAction, Visibility};
use veilgram_core::{PostId, Timestamp, UserId};
use veilgram_events::EventHandler;

/// Pages of followers being written to the cache at once while fanning out.
const PAGES_IN_FLIGHT: usize = 3;
/// Posts of a newly followed account copied into the follower's timeline.
const ON_FOLLOW: i64 = 50;

/// The popular rank: the order of magnitude of engagement (likes, comments, and commenters,
/// which count most) plus a bonus that grows with creation time, so newer posts need less to
/// rank as high (one decade of engagement is worth 12.5 hours). Scaled to an integer score.
pub fn popular_rank(engagement: &Engagement) -> i64 {
    let points = engagement.likes + 2 * engagement.comments + 3 * engagement.commenters;
    let magnitude = (points.max(1) as f64).log10();
    let age_bonus = engagement.created_at.as_millis() as f64 / 1000.0 / 45_000.0;
    ((magnitude + age_bonus) * 1_000_000.0) as i64
}

pub struct FeedFanout {
    feeds: Arc<FeedService>,
    stats: Arc<FanoutStats>,
}

/// What fan-out has done in this process, for `/metrics` (and the benchmark).
#[derive(Debug, Default)]
pub struct FanoutStats {
    /// Posts fanned out to followers.
    pub posts: AtomicU64,
    /// Follower timelines offered a post (those not in the cache are skipped).
    pub timelines: AtomicU64,
    /// How long the latest fan-out took, in microseconds.
    pub last_micros: AtomicU64,
}

impl FanoutStats {
    pub fn render(&self) -> String {
        veilgram_core::render_metrics(&[
            (
                "veilgram_feed_fanout_posts_total",
                "counter",
                "Posts fanned out to their authors' followers.",
                self.posts.load(Ordering::Relaxed),
            ),
            (
                "veilgram_feed_fanout_timelines_total",
                "counter",
                "Follower timelines offered a post by fan-out.",
                self.timelines.load(Ordering::Relaxed),
            ),
            (
                "veilgram_feed_fanout_last_microseconds",
                "gauge",
                "How long the latest fan-out took.",
                self.last_micros.load(Ordering::Relaxed),
            ),
        ])
    }
}

impl FeedFanout {
    pub fn new(feeds: Arc<FeedService>) -> Self {
        Self {
            feeds,
            stats: Arc::default(),
        }
    }

    pub fn stats(&self) -> Arc<FanoutStats> {
        Arc::clone(&self.stats)
    }

    async fn post_created(
        &self,
        entry: FeedEntry,
        author: UserId,
        public: bool,
        hashtags: &[String],
    ) -> anyhow::Result<()> {
        let feeds = &self.feeds;
        feeds
            .offer(&[author_key(author), home_key(author)], &entry)
            .await?;
        if public {
            let tags: Vec<CacheKey> = hashtags.iter().map(|tag| hashtag_key(tag)).collect();
            feeds.offer(&tags, &entry).await?;
            self.rerank(entry.post_id).await?;
        }
        if feeds.store.followers_count(author).await? > feeds.settings.fan_out_limit {
            return Ok(()); // merged in by readers
        }
        let started = Instant::now();
        // Pages of followers are read from the store one after another, each written to the
        // cache by a task of its own as soon as it is read, up to `PAGES_IN_FLIGHT` at once:
        // the cache is never left waiting on the store, nor on the building of a page's keys.
        let mut writes = tokio::task::JoinSet::new();
        let page = feeds.settings.fan_out_page.max(1);
        let mut after = None;
        loop {
            let followers = feeds.store.follower_ids(author, after, page).await?;
            let last = (followers.len() as i64) < page;
            after = followers.last().copied();
            if !followers.is_empty() {
                let feeds = Arc::clone(feeds);
                writes.spawn(async move {
                    let timelines: Vec<CacheKey> = followers.into_iter().map(home_key).collect();
                    feeds.offer(&timelines, &entry).await?;
                    anyhow::Ok(timelines.len() as u64)
                });
            }
            while writes.len() >= PAGES_IN_FLIGHT || last {
                let Some(written) = writes.join_next().await else {
                    break;
                };
                self.stats.timelines.fetch_add(written??, Ordering::Relaxed);
            }
            if last {
                break;
            }
        }
        let took = started.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
        self.stats.last_micros.store(took, Ordering::Relaxed);
        self.stats.posts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Ranks a post in the popular feed, or takes it out when it is no longer public or too old.
    async fn rerank(&self, post_id: PostId) -> anyhow::Result<()> {
        let feeds = &self.feeds;
        let window = std::time::Duration::from_secs(POPULAR_WINDOW_DAYS as u64 * 24 * 3600);
        match feeds.store.engagement(post_id).await? {
            Some(engagement)
                if engagement.public && engagement.created_at > Timestamp::now().minus(window) =>
            {
                let member = Scored::new(popular_rank(&engagement), post_id.to_string());
                feeds
                    .cache
                    .sorted_add(&popular_key(), &[member], POPULAR_KEEP)
                    .await?;
            }
            _ => {
                feeds
                    .cache
                    .sorted_remove(&popular_key(), &[post_id.to_string()])
                    .await?;
            }
        }
        Ok(())
    }

    /// Drops timelines (and the followed accounts above the fan-out limit) and the cached
    /// relations and bylines of `users`; the next read rebuilds them from the store.
    async fn forget(&self, users: &[UserId]) -> anyhow::Result<()> {
        let keys: Vec<CacheKey> = users
            .iter()
            .flat_map(|user| {
                [home_key(*user), above_key(*user)]
                    .into_iter()
                    .chain(account_keys(*user))
            })
            .collect();
        self.feeds.cache.delete(&keys).await?;
        Ok(())
    }
}

#[async_trait]
impl EventHandler for FeedFanout {
    fn name(&self) -> &'static str {
        "feeds"
    }

    async fn handle(&self, event: &LoggedEvent) -> anyhow::Result<()> {
        let envelope = &event.envelope;
        match &envelope.event {
            DomainEvent::PostCreated {
                post_id,
                author_id,
                visibility,
                hashtags,
                ..
            } => {
                let entry = FeedEntry {
                    created_at: envelope.occurred_at,
                    post_id: *post_id,
                };
                self.post_created(
                    entry,
                    *author_id,
                    *visibility == Visibility::Public,
                    hashtags,
                )
                .await
            }
            DomainEvent::PostEdited {
                post_id, hashtags, ..
            } => {
                // New hashtags: the post joins those feeds (readers check the rest).
                if let Some(engagement) = self.feeds.store.engagement(*post_id).await? {
                    if engagement.public {
                        let entry = FeedEntry {
                            created_at: engagement.created_at,
                            post_id: *post_id,
                        };
                        let tags: Vec<CacheKey> =
                            hashtags.iter().map(|tag| hashtag_key(tag)).collect();
                        self.feeds.offer(&tags, &entry).await?;
                    }
                }
                self.feeds.forget_post(*post_id).await?;
                Ok(())
            }
            DomainEvent::PostDeleted { post_id, author_id } => {
                // The author's timeline names the post with its score, which the event does not
                // carry: it is rebuilt on its next read instead (a deletion is rare).
                self.feeds.cache.delete(&[author_key(*author_id)]).await?;
                self.feeds
                    .cache
                    .sorted_remove(&popular_key(), &[post_id.to_string()])
                    .await?;
                self.feeds.forget_post(*post_id).await?;
                Ok(())
            }
            DomainEvent::PostLiked {
                post_id, user_id, ..
            } => {
                self.feeds.forget_accounts(&[*user_id]).await?;
                self.feeds.count(*post_id, Count::Likes, 1).await?;
                self.rerank(*post_id).await
            }
            DomainEvent::PostUnliked {
                post_id, user_id, ..
            } => {
                self.feeds.forget_accounts(&[*user_id]).await?;
                self.feeds.count(*post_id, Count::Likes, -1).await?;
                self.rerank(*post_id).await
            }
            DomainEvent::CommentCreated { post_id, .. } => {
                self.feeds.count(*post_id, Count::Comments, 1).await?;
                self.rerank(*post_id).await
            }
            DomainEvent::CommentDeleted { post_id, .. } => {
                self.feeds.count(*post_id, Count::Comments, -1).await?;
                self.rerank(*post_id).await
            }
            DomainEvent::ContentModerated {
                post_id,
                author_id: Some(author_id),
                action,
                ..
            } if *action == ModerationAction::SuspendAuthor => {
                self.feeds.forget_accounts(&[*author_id]).await?;
                Ok(self.feeds.forget_post(*post_id).await?)
            }
            DomainEvent::MediaProcessed { post_id, .. }
            | DomainEvent::ContentModerated { post_id, .. } => {
                Ok(self.feeds.forget_post(*post_id).await?)
            }
            // The event names no option (votes are private): the tallies are read again.
            DomainEvent::PollVoted { post_id, .. } => Ok(self.feeds.refresh(&[*post_id]).await?),
            DomainEvent::UserFollowed {
                follower_id,
                followee_id,
            } => {
                let feeds = &self.feeds;
                let mut forgotten = vec![above_key(*follower_id)];
                forgotten.extend(account_keys(*follower_id));
                feeds.cache.delete(&forgotten).await?;
                if feeds.store.followers_count(*followee_id).await? > feeds.settings.fan_out_limit {
                    return Ok(()); // merged in by readers
                }
                // A timeline that is not complete gets these posts when it is rebuilt.
                let timeline = home_key(*follower_id);
                if !feeds.is_complete(&timeline).await? {
                    return Ok(());
                }
                let entries = feeds.store.author_entries(*followee_id, ON_FOLLOW).await?;
                let members: Vec<Scored> = entries.iter().map(timeline_member).collect();
                let keep = feeds.settings.timeline_length + 1;
                feeds.cache.sorted_add(&timeline, &members, keep).await?;
                Ok(())
            }
            DomainEvent::UserUnfollowed { follower_id, .. } => self.forget(&[*follower_id]).await,
            DomainEvent::UserBlocked {
                blocker_id,
                blocked_id,
            } => self.forget(&[*blocker_id, *blocked_id]).await,
            DomainEvent::UserUnblocked {
                blocker_id,
                blocked_id,
            } => Ok(self
                .feeds
                .forget_accounts(&[*blocker_id, *blocked_id])
                .await?),
            DomainEvent::UserDeleted { user_id } => {
                self.forget(&[*user_id]).await?;
                self.feeds.cache.delete(&[author_key(*user_id)]).await?;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
