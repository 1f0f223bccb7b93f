//! `UsersService`: the profile operations of API.md on top of the `ProfileStore` port.

use crate::cache::ProfileCache;
use crate::nickname::{Nickname, NicknameError};
use crate::profanity::ProfanityFilter;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use veilgram_core::error::Conflict;
use veilgram_core::events::{DomainEvent, EventEnvelope};
use veilgram_core::ports::{
    Changed, GraphCursor, GraphEntry, GraphList, GraphStore, ProfileChange, ProfileStore,
    Revocation, SessionSummary, UserRecord,
};
use veilgram_core::sequence::SequenceCursor;
use veilgram_core::{MediaId, StoreError, Timestamp, UserId};

pub const MAX_STATUS_MESSAGE_CHARS: usize = 150;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0}")]
    InvalidNickname(#[from] NicknameError),
    #[error("that nickname is taken")]
    NicknameTaken,
    #[error("status message must be at most 150 characters without control characters")]
    InvalidStatusMessage,
    #[error("media not found")]
    MediaNotFound,
    #[error("user not found")]
    NotFound,
    #[error("you cannot do that to yourself")]
    SelfTarget,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for UserError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            StoreError::Conflict(Conflict::Nickname) => Self::NicknameTaken,
            other => Self::Store(other),
        }
    }
}

/// A requested profile change, as received (not yet validated).
#[derive(Clone, Debug, Default)]
pub struct ProfileUpdate {
    pub nickname: Option<String>,
    pub status_message: Option<String>,
    pub avatar_media_id: Option<String>,
}

/// Everything the service holds about a user, for `GET /users/me/export`.
#[derive(Clone, Debug)]
pub struct Export {
    pub profile: UserRecord,
    pub sessions: Vec<SessionSummary>,
}

pub struct UsersService {
    store: Arc<dyn ProfileStore>,
    graph: Arc<dyn GraphStore>,
    filter: ProfanityFilter,
    cache: ProfileCache,
    change_feed: Mutex<SequenceCursor>,
}

const CHANGE_FEED_BATCH: i64 = 1000;
/// Feed entries older than this are purged; a process that was paused for longer than this
/// could miss evictions, so the cache TTL must not exceed it.
const CHANGE_FEED_RETENTION: Duration = Duration::from_secs(600);

impl UsersService {
    /// `profile_cache_ttl` bounds how stale a profile changed by another process may be served.
    pub fn new(
        store: Arc<dyn ProfileStore>,
        graph: Arc<dyn GraphStore>,
        profile_cache_ttl: Duration,
    ) -> Self {
        Self {
            store,
            graph,
            filter: ProfanityFilter::bundled(),
            cache: ProfileCache::new(profile_cache_ttl.min(CHANGE_FEED_RETENTION)),
            change_feed: Mutex::new(SequenceCursor::default()),
        }
    }

    /// One step of cache maintenance: evicts every profile changed (by any process) since the
    /// last step. Returns how many feed entries were read.
    pub async fn sync_profile_cache(&self) -> Result<usize, UserError> {
        let mut read = 0;
        loop {
            let after = self
                .change_feed
                .lock()
                .map_or(0, |cursor| cursor.read_after());
            let changes = self
                .store
                .user_changes_since(after, CHANGE_FEED_BATCH)
                .await?;
            for change in &changes {
                self.cache.forget(&change.user_id);
            }
            read += changes.len();
            let advanced = self.change_feed.lock().is_ok_and(|mut cursor| {
                cursor.advance(changes.iter().map(|change| change.sequence))
            });
            if changes.len() < CHANGE_FEED_BATCH as usize || !advanced {
                return Ok(read);
            }
        }
    }

    /// Tails the change feed every `interval`, and purges old feed entries hourly, until the
    /// returned task is aborted.
    pub fn spawn_cache_maintenance(
        self: &Arc<Self>,
        interval: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let service = Arc::clone(self);
        tokio::spawn(async move {
            let mut sync = tokio::time::interval(interval);
            sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut purge = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tokio::select! {
                    _ = sync.tick() => {
                        if let Err(error) = service.sync_profile_cache().await {
                            tracing::warn!(error = %error, "profile cache sync failed");
                        }
                    }
                    _ = purge.tick() => {
                        let horizon = Timestamp::now().minus(CHANGE_FEED_RETENTION);
                        if let Err(error) = service.store.purge_user_changes(horizon).await {
                            tracing::warn!(error = %error, "profile change feed purge failed");
                        }
                    }
                }
            }
        })
    }

    async fn load(&self, user_id: UserId) -> Result<Option<UserRecord>, UserError> {
        if let Some(cached) = self.cache.get(&user_id) {
            return Ok(Some(cached));
        }
        let loaded = self.store.user(user_id).await?;
        if let Some(record) = &loaded {
            self.cache.put(record.clone());
        }
        Ok(loaded)
    }

    /// Drops a cached profile after a change this service did not make (e.g. a login that
    /// reactivated the account).
    pub fn forget_cached(&self, user_id: UserId) {
        self.cache.forget(&user_id);
    }

    pub fn parse_nickname(&self, raw: &str) -> Result<Nickname, UserError> {
        Ok(Nickname::parse(raw, &self.filter)?)
    }

    /// A random placeholder nickname that passes every rule.
    pub fn random_nickname(&self) -> Nickname {
        Nickname::random(&self.filter)
    }

    /// The caller's own profile (deactivated or not: a token proves the account is theirs).
    pub async fn me(&self, user_id: UserId) -> Result<UserRecord, UserError> {
        self.load(user_id).await?.ok_or(UserError::NotFound)
    }

    /// Someone's public profile. Deactivated accounts, and accounts that blocked the viewer or
    /// that the viewer blocked, are hidden as if they did not exist.
    pub async fn public_profile(
        &self,
        user_id: UserId,
        viewer: Option<UserId>,
    ) -> Result<UserRecord, UserError> {
        let user = match self.load(user_id).await? {
            Some(user) if user.deactivated_at.is_none() => user,
            _ => return Err(UserError::NotFound),
        };
        if let Some(viewer) = viewer.filter(|viewer| *viewer != user_id) {
            if self.graph.blocked_either_way(viewer, user_id).await? {
                return Err(UserError::NotFound);
            }
        }
        Ok(user)
    }

    /// The accounts among `ids` that `viewer` may see (as [`public_profile`](Self::public_profile)
    /// decides), in the order of `ids`: what any list of accounts from elsewhere (search) is
    /// checked through.
    pub async fn visible_users(
        &self,
        ids: &[UserId],
        viewer: Option<UserId>,
    ) -> Result<Vec<UserRecord>, UserError> {
        let mut visible = Vec::with_capacity(ids.len());
        for id in ids {
            match self.public_profile(*id, viewer).await {
                Ok(user) => visible.push(user),
                Err(UserError::NotFound) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(visible)
    }

    /// Whether `viewer` follows `user_id` (false without a viewer).
    pub async fn follows(
        &self,
        viewer: Option<UserId>,
        user_id: UserId,
    ) -> Result<bool, UserError> {
        match viewer {
            Some(viewer) if viewer != user_id => Ok(self.graph.follows(viewer, user_id).await?),
            _ => Ok(false),
        }
    }

    fn graph_event(actor: UserId, event: DomainEvent) -> EventEnvelope {
        EventEnvelope::new(Some(actor), Timestamp::now(), event)
    }

    fn forget_pair(&self, first: UserId, second: UserId) {
        self.cache.forget(&first);
        self.cache.forget(&second);
    }

    pub async fn follow(&self, follower: UserId, followee: UserId) -> Result<Changed, UserError> {
        if follower == followee {
            return Err(UserError::SelfTarget);
        }
        let event = Self::graph_event(
            follower,
            DomainEvent::UserFollowed {
                follower_id: follower,
                followee_id: followee,
            },
        );
        let changed = self
            .graph
            .follow(follower, followee, event.occurred_at, &event)
            .await?;
        self.forget_pair(follower, followee);
        Ok(changed)
    }

    pub async fn unfollow(&self, follower: UserId, followee: UserId) -> Result<Changed, UserError> {
        if follower == followee {
            return Err(UserError::SelfTarget);
        }
        let event = Self::graph_event(
            follower,
            DomainEvent::UserUnfollowed {
                follower_id: follower,
                followee_id: followee,
            },
        );
        let changed = self.graph.unfollow(follower, followee, &event).await?;
        self.forget_pair(follower, followee);
        Ok(changed)
    }

    pub async fn block(&self, blocker: UserId, blocked: UserId) -> Result<Changed, UserError> {
        if blocker == blocked {
            return Err(UserError::SelfTarget);
        }
        let event = Self::graph_event(
            blocker,
            DomainEvent::UserBlocked {
                blocker_id: blocker,
                blocked_id: blocked,
            },
        );
        let changed = self
            .graph
            .block(blocker, blocked, event.occurred_at, &event)
            .await?;
        self.forget_pair(blocker, blocked);
        Ok(changed)
    }

    pub async fn unblock(&self, blocker: UserId, blocked: UserId) -> Result<Changed, UserError> {
        if blocker == blocked {
            return Err(UserError::SelfTarget);
        }
        let event = Self::graph_event(
            blocker,
            DomainEvent::UserUnblocked {
                blocker_id: blocker,
                blocked_id: blocked,
            },
        );
        Ok(self.graph.unblock(blocker, blocked, &event).await?)
    }

    /// Followers or followees of a user the viewer may see, newest first.
    pub async fn graph_list(
        &self,
        user_id: UserId,
        which: GraphList,
        viewer: Option<UserId>,
        after: Option<GraphCursor>,
        limit: i64,
    ) -> Result<Vec<GraphEntry>, UserError> {
        if which == GraphList::Blocked && viewer != Some(user_id) {
            return Err(UserError::NotFound);
        }
        self.public_profile(user_id, viewer).await?;
        Ok(self
            .graph
            .list(user_id, which, viewer, after, limit)
            .await?)
    }

    pub async fn update(
        &self,
        user_id: UserId,
        update: ProfileUpdate,
    ) -> Result<UserRecord, UserError> {
        // Everything is validated before anything is written.
        let nickname = update
            .nickname
            .as_deref()
            .map(|raw| self.parse_nickname(raw))
            .transpose()?;
        let status_message = update
            .status_message
            .map(validate_status_message)
            .transpose()?;
        let avatar = update
            .avatar_media_id
            .map(|raw| raw.parse::<MediaId>().map_err(|_| UserError::MediaNotFound))
            .transpose()?;
        let change = ProfileChange {
            nickname: nickname.map(Nickname::into_parts),
            status_message,
            avatar,
        };
        let updated = match self.store.update_profile(user_id, &change).await {
            // The caller exists (they are signed in): what was not found is the upload.
            Err(StoreError::NotFound) if avatar.is_some() => return Err(UserError::MediaNotFound),
            other => other?,
        };
        self.cache.put(updated.clone());
        Ok(updated)
    }

    /// Hides the account until its next login and ends its sessions.
    pub async fn deactivate(&self, user_id: UserId) -> Result<Vec<Revocation>, UserError> {
        let revocations = self.store.deactivate(user_id, Timestamp::now()).await?;
        self.cache.forget(&user_id);
        Ok(revocations)
    }

    /// Erases the account and frees its nickname.
    pub async fn delete(&self, user_id: UserId) -> Result<Revocation, UserError> {
        let now = Timestamp::now();
        let event = EventEnvelope::new(Some(user_id), now, DomainEvent::UserDeleted { user_id });
        let revocation = self.store.delete_account(user_id, now, &event).await?;
        self.cache.forget(&user_id);
        // The deletion changed other people's counters; evict them here at once rather than at
        // the next feed sync.
        if let Err(error) = self.sync_profile_cache().await {
            tracing::warn!(error = %error, "profile cache sync after deletion failed");
        }
        Ok(revocation)
    }

    pub async fn export(&self, user_id: UserId) -> Result<Export, UserError> {
        // An export reads the store, never the cache.
        let profile = self.store.user(user_id).await?.ok_or(UserError::NotFound)?;
        let sessions = self.store.sessions(user_id).await?;
        Ok(Export { profile, sessions })
    }
}

fn validate_status_message(text: String) -> Result<String, UserError> {
    let trimmed = text.trim();
    if trimmed.chars().count() > MAX_STATUS_MESSAGE_CHARS
        || trimmed.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(UserError::InvalidStatusMessage);
    }
    Ok(trimmed.to_owned())
}
