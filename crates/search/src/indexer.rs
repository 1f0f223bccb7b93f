//! The indexer: the consumer group `search`, keeping the index in step with the log.
//!
//! It indexes state, not events: for every event about a post or an account it reads that post
//! or account as it is now (through [`SearchSource`]) and puts or removes it. A redelivered or
//! reordered event therefore never brings an old version back, and a deleted or hidden post or
//! a deactivated account never returns. Blocks need nothing here: whoever answers a search
//! drops what the caller may not see. The index is committed once per batch of events (a
//! commit costs about 10 ms; a put about 60 µs), before the group's offset moves past the
//! batch, so nothing acknowledged is lost in a crash.

use async_trait::async_trait;
use std::sync::Arc;
use veilgram_core::events::{DomainEvent, LoggedEvent};
use veilgram_core::ports::{
    EventHandler, EventLog, IndexRebuild, ModerationAction, SearchIndex, SearchSource,
};
use veilgram_core::{PostId, UserId};

/// The consumer group's name.
pub const GROUP: &str = "search";
/// Posts or accounts read per page when rebuilding.
const REBUILD_PAGE: i64 = 1_000;

pub struct Indexer {
    index: Arc<dyn SearchIndex>,
    source: Arc<dyn SearchSource>,
}

impl Indexer {
    pub fn new(index: Arc<dyn SearchIndex>, source: Arc<dyn SearchSource>) -> Self {
        Self { index, source }
    }

    /// Puts the post as it is now, or removes it if it must not be found.
    async fn refresh_post(&self, post_id: PostId) -> anyhow::Result<()> {
        match self.source.post_document(post_id).await? {
            Some(post) => self.index.put_post(post).await?,
            None => self.index.remove_post(post_id).await?,
        }
        Ok(())
    }

    /// Puts the account as it is now, or removes it if it must not be found.
    async fn refresh_user(&self, user_id: UserId) -> anyhow::Result<()> {
        match self.source.user_document(user_id).await? {
            Some(user) => self.index.put_user(user).await?,
            None => self.index.remove_user(user_id).await?,
        }
        Ok(())
    }
}

/// What a rebuild put: posts and accounts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rebuilt {
    pub posts: usize,
    pub users: usize,
}

/// Fills a replacement of `index` with every post and account of `source`, then switches to it
/// (`veilgram reindex`). The index serves as before until the switch; what the indexer writes
/// meanwhile goes to the old one and is written again by [`catch_up`] after it.
pub async fn rebuild(
    index: &dyn SearchIndex,
    source: &dyn SearchSource,
) -> anyhow::Result<Rebuilt> {
    let mut rebuild: Box<dyn IndexRebuild> = index.rebuild().await?;
    let mut rebuilt = Rebuilt::default();
    let mut after = None;
    loop {
        let posts = source.post_documents(after, REBUILD_PAGE).await?;
        let Some(last) = posts.last().map(|post| post.id) else {
            break;
        };
        after = Some(last);
        rebuilt.posts += posts.len();
        rebuild.put_posts(posts).await?;
    }
    let mut after = None;
    loop {
        let users = source.user_documents(after, REBUILD_PAGE).await?;
        let Some(last) = users.last().map(|user| user.id) else {
            break;
        };
        after = Some(last);
        rebuilt.users += users.len();
        rebuild.put_users(users).await?;
    }
    rebuild.switch().await?;
    Ok(rebuilt)
}

/// Where the group stands in every partition of `log`.
pub async fn positions(log: &dyn EventLog) -> anyhow::Result<Vec<i64>> {
    let mut positions = Vec::new();
    for partition in 0..log.partitions() {
        positions.push(log.committed_offset(GROUP, partition).await?);
    }
    Ok(positions)
}

/// Handles again every event the group went past since `since` (its [`positions`] before a
/// rebuild), so what the running indexer wrote to the old index during the rebuild is in the
/// new one too. Returns the events handled.
pub async fn catch_up(
    indexer: &Indexer,
    log: &dyn EventLog,
    since: &[i64],
) -> anyhow::Result<usize> {
    let until = positions(log).await?;
    let mut handled = 0;
    for (partition, (&from, &to)) in (0_u32..).zip(since.iter().zip(&until)) {
        let mut after = from;
        while after < to {
            let events = log.read_after(partition, after, REBUILD_PAGE).await?;
            let Some(last) = events.last().map(|event| event.offset) else {
                break;
            };
            for event in events.iter().filter(|event| event.offset <= to) {
                indexer.handle(event).await?;
                handled += 1;
            }
            after = last;
        }
    }
    indexer.flush().await?;
    Ok(handled)
}

#[async_trait]
impl EventHandler for Indexer {
    fn name(&self) -> &'static str {
        GROUP
    }

    async fn handle(&self, event: &LoggedEvent) -> anyhow::Result<()> {
        match &event.envelope.event {
            DomainEvent::PostCreated { post_id, .. }
            | DomainEvent::PostEdited { post_id, .. }
            | DomainEvent::PostLiked { post_id, .. }
            | DomainEvent::PostUnliked { post_id, .. } => self.refresh_post(*post_id).await?,
            DomainEvent::PostDeleted { post_id, .. } => self.index.remove_post(*post_id).await?,
            DomainEvent::UserDeleted { user_id } => self.index.remove_author(*user_id).await?,
            DomainEvent::UserUpdated { user_id } => self.refresh_user(*user_id).await?,
            // Followers order accounts for `popular`.
            DomainEvent::UserFollowed { followee_id, .. }
            | DomainEvent::UserUnfollowed { followee_id, .. } => {
                self.refresh_user(*followee_id).await?;
            }
            DomainEvent::ContentModerated {
                post_id,
                comment_id: None,
                author_id,
                action,
            } => match (action, author_id) {
                (ModerationAction::SuspendAuthor, Some(author)) => {
                    self.index.remove_author(*author).await?;
                }
                _ => self.refresh_post(*post_id).await?,
            },
            _ => {}
        }
        Ok(())
    }

    fn batches(&self) -> bool {
        true
    }

    async fn flush(&self) -> anyhow::Result<()> {
        Ok(self.index.commit().await?)
    }
}
