//! The application layer: the one place that builds every service (for `serve` in any role,
//! the test harness, and through them the benchmark), and the workflows that span services,
//! callable alike by an HTTP handler and by an event consumer: moderating content (by a
//! moderator or by the system), deleting and deactivating an account, and the cache drops that
//! follow a change. Handlers only parse, call and render.

use std::sync::Arc;
use std::time::Duration;
use veilgram_auth::proof::{ProofOfWork, ProofSettings};
use veilgram_auth::AuthService;
use veilgram_classify::TextClassifier;
use veilgram_comments::{CommentError, CommentsService};
use veilgram_core::cache::Cache;
use veilgram_core::jobs::JobQueue;
use veilgram_core::ports::{
    Actor, CommentStore, FeedStore, GraphStore, MediaStore, MentionDirectory, ModerationAction,
    ModerationStore, NotificationStore, PollStore, PostStore, ProfileStore, PushDeviceStore,
    ServerSecrets,
};
use veilgram_core::{PostId, ReportId, UserId};
use veilgram_feeds::{FeedService, FeedSettings};
use veilgram_media::{MediaService, MediaSettings, MediaStorage, MediaWorker, StorageConfig};
use veilgram_moderation::{ModerationError, ModerationService};
use veilgram_notifications::{NotificationsService, PushDevices};
use veilgram_polls::PollsService;
use veilgram_posts::{PostError, PostsService};
use veilgram_sql::SqlStore;
use veilgram_users::{UserError, UsersService};

/// What the services are built with, besides the store, the cache and auth.
#[derive(Clone, Debug)]
pub struct AppSettings {
    pub profile_cache_ttl: Duration,
    pub feeds: FeedSettings,
    /// The key feed and list cursors are signed with; `None` reads the server secret.
    pub cursor_key: Option<Vec<u8>>,
    pub storage: StorageConfig,
    pub media: MediaSettings,
    /// Accept Web Push endpoints on loopback and private networks (development only).
    pub allow_local_push: bool,
    pub proof_of_work: ProofSettings,
    /// The text classifier: the keyword check every write runs, and the models.
    pub classifier: Arc<TextClassifier>,
}

/// Every service of one process.
pub struct App {
    pub store: Arc<SqlStore>,
    pub auth: Arc<AuthService>,
    /// Sign-up's (and troubled logins') proof of work.
    pub proofs: Arc<ProofOfWork>,
    pub users: Arc<UsersService>,
    pub posts: Arc<PostsService>,
    pub comments: Arc<CommentsService>,
    pub polls: Arc<PollsService>,
    pub feeds: Arc<FeedService>,
    pub media: Arc<MediaService>,
    pub moderation: Arc<ModerationService>,
    pub notifications: Arc<NotificationsService>,
    pub push_devices: Arc<PushDevices>,
    pub classifier: Arc<TextClassifier>,
}

/// What a workflow can fail with: the failing service's own error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Moderation(#[from] ModerationError),
    #[error(transparent)]
    Post(#[from] PostError),
    #[error(transparent)]
    Comment(#[from] CommentError),
    #[error(transparent)]
    User(#[from] UserError),
}

impl App {
    pub async fn build(
        store: Arc<SqlStore>,
        cache: Arc<dyn Cache>,
        auth: Arc<AuthService>,
        settings: AppSettings,
    ) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let directory = Arc::clone(&store) as Arc<dyn MentionDirectory>;
        let cursor_key = match settings.cursor_key {
            Some(key) => key,
            None => store
                .server_secret("feed-cursor-key")
                .await
                .context("cannot read the feed cursor key")?,
        };
        let proof_key = store
            .server_secret("proof-of-work-key")
            .await
            .context("cannot read the proof-of-work key")?;
        let proofs = ProofOfWork::new(proof_key, Arc::clone(&cache), settings.proof_of_work);
        let media = MediaService::new(
            Arc::clone(&store) as Arc<dyn MediaStore>,
            MediaStorage::open(&settings.storage).context("cannot open the media storage")?,
            settings.media,
        )
        .context("cannot prepare the media work directory")?;
        Ok(Self {
            proofs: Arc::new(proofs),
            users: Arc::new(UsersService::new(
                Arc::clone(&store) as Arc<dyn ProfileStore>,
                Arc::clone(&store) as Arc<dyn GraphStore>,
                settings.profile_cache_ttl,
            )),
            posts: Arc::new(PostsService::new(
                Arc::clone(&store) as Arc<dyn PostStore>,
                Arc::clone(&directory),
            )),
            comments: Arc::new(CommentsService::new(
                Arc::clone(&store) as Arc<dyn CommentStore>,
                directory,
            )),
            polls: Arc::new(PollsService::new(Arc::clone(&store) as Arc<dyn PollStore>)),
            feeds: Arc::new(FeedService::new(
                cache,
                Arc::clone(&store) as Arc<dyn FeedStore>,
                settings.feeds,
                cursor_key,
            )),
            media: Arc::new(media),
            moderation: Arc::new(ModerationService::new(
                Arc::clone(&store) as Arc<dyn ModerationStore>
            )),
            notifications: Arc::new(NotificationsService::new(
                Arc::clone(&store) as Arc<dyn NotificationStore>
            )),
            push_devices: Arc::new(PushDevices::new(
                Arc::clone(&store) as Arc<dyn PushDeviceStore>,
                settings.allow_local_push,
            )),
            classifier: settings.classifier,
            auth,
            store,
        })
    }

    /// A worker for the media jobs, leasing each for `lease`.
    pub fn media_worker(&self, lease: Duration) -> MediaWorker {
        MediaWorker::new(
            Arc::clone(&self.media),
            Arc::clone(&self.store) as Arc<dyn MediaStore>,
            Arc::clone(&self.store) as Arc<dyn JobQueue>,
            lease,
        )
    }

    /// Decides on reported content as `by` (a moderator, or the system): deletes it through
    /// its own service when the decision deletes it (so a moderator's delete is an author's),
    /// closes every open report about it, signs a suspended author out everywhere, and drops
    /// what caches held about it.
    pub async fn moderate(
        &self,
        by: Actor,
        report_id: ReportId,
        action: ModerationAction,
    ) -> Result<(), AppError> {
        let target = self.moderation.target(by, report_id).await?;
        if ModerationService::effective(&target, action) == ModerationAction::Delete {
            match (target.comment_id, target.author_id) {
                (Some(comment), _) => self.comments.remove(comment, target.post_id, by).await?,
                (None, Some(author)) => self.posts.remove(target.post_id, author, by).await?,
                (None, None) => return Err(ModerationError::NotFound.into()),
            }
        }
        let revocations = self.moderation.decide(by, &target, action).await?;
        self.auth.apply_revocations(&revocations).await;
        self.post_changed(target.post_id).await;
        if let (ModerationAction::SuspendAuthor, Some(author)) = (action, target.author_id) {
            self.accounts_changed(&[author]).await;
        }
        Ok(())
    }

    /// Erases an account: its content is deleted or masked, its tokens die at once in this
    /// process (and through the revocation list in every other), caches forget it.
    pub async fn delete_account(&self, user: UserId) -> Result<(), AppError> {
        let revocation = self.users.delete(user).await?;
        self.auth.apply_revocations(&[revocation]).await;
        self.accounts_changed(&[user]).await;
        Ok(())
    }

    /// Hides an account until its next login and ends its sessions.
    pub async fn deactivate_account(&self, user: UserId) -> Result<(), AppError> {
        let revocations = self.users.deactivate(user).await?;
        self.auth.apply_revocations(&revocations).await;
        self.accounts_changed(&[user]).await;
        Ok(())
    }

    /// After a change to these accounts' relations, likes, votes or profiles committed: the
    /// feed cache forgets what it held about them, so their next read (on any process sharing
    /// the cache) sees the change. A cache out of reach is logged, not answered: the change
    /// stands, and the event consumer drops the same entries once it can (the profile cache of
    /// this process is dropped either way).
    pub async fn accounts_changed(&self, users: &[UserId]) {
        for user in users {
            self.users.forget_cached(*user);
        }
        if let Err(error) = self.feeds.forget_accounts(users).await {
            tracing::warn!(%error, "feed cache not told of an account change; its events will");
        }
    }

    /// After a post was edited, deleted or moderated: as `accounts_changed`, for the post.
    pub async fn post_changed(&self, post_id: PostId) {
        if let Err(error) = self.feeds.forget_post(post_id).await {
            tracing::warn!(%error, "feed cache not told of a post change; its events will");
        }
    }
}
