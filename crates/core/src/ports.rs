//! Ports: the traits a storage engine implements. Services hold them as `Arc<dyn Port>` and never
//! know which engine is behind them; the binary picks the adapter from configuration.
//!
//! Hidden contract shared by every method: an operation that returns `Err` has written nothing
//! (each is one transaction in the relational adapter).

use crate::events::{EventEnvelope, EventFor, LoggedEvent};
use crate::{
    AliasBlockId, CommentId, EventId, IdMap, IdSet, MediaId, NotificationId, PollId, PostId,
    PushDeviceId, ReportId, SessionFamilyId, StoreError, Timestamp, UserId,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A SHA-256 digest of a secret (recovery key, refresh token, access token). Secrets themselves
/// are never stored.
pub type SecretHash = [u8; 32];

/// A new account, written together with its first session.
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub user_id: UserId,
    pub nickname: String,
    /// The nickname after NFKC and case folding: the uniqueness key.
    pub nickname_key: String,
    pub recovery_key_hash: SecretHash,
    pub created_at: Timestamp,
}

/// One refresh token and the access token minted beside it.
#[derive(Clone, Debug)]
pub struct NewRefreshToken {
    pub family_id: SessionFamilyId,
    pub user_id: UserId,
    pub token_hash: SecretHash,
    pub expires_at: Timestamp,
    pub access_token_hash: SecretHash,
    pub access_expires_at: Timestamp,
    pub created_at: Timestamp,
}

/// A new session family (a login), with its first refresh token.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub family_id: SessionFamilyId,
    /// The family's absolute end: no refresh extends a session past it.
    pub family_expires_at: Timestamp,
    pub first_token: NewRefreshToken,
}

/// A stored refresh token as the auth service needs to judge it.
#[derive(Clone, Debug)]
pub struct RefreshTokenRecord {
    pub family_id: SessionFamilyId,
    pub user_id: UserId,
    pub expires_at: Timestamp,
    pub spent_at: Option<Timestamp>,
    pub family_expires_at: Timestamp,
    pub family_revoked_at: Option<Timestamp>,
}

/// An entry of the access-token revocation list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// One access token, by its hash; the entry is useless (and purged) after `expires_at`.
    Token {
        token_hash: SecretHash,
        expires_at: Timestamp,
    },
    /// Every access token of a user issued at or before `revoked_at` (account deletion).
    Subject {
        user_id: UserId,
        revoked_at: Timestamp,
    },
}

/// A revocation with its position in the list, so that a process can ask for what is new.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevocationEntry {
    pub sequence: i64,
    pub revocation: Revocation,
}

/// What the auth service needs from the relational store.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// Creates the user and its first session in one transaction.
    /// `Conflict(Conflict::Nickname)` when the nickname key is taken.
    async fn create_account(
        &self,
        account: &NewAccount,
        session: &NewSession,
    ) -> Result<(), StoreError>;

    /// The recovery-key hash of a user, or `None` if there is no such user.
    async fn recovery_key_hash(&self, user_id: UserId) -> Result<Option<SecretHash>, StoreError>;

    /// Starts a session for an existing user and clears any deactivation (login reactivates).
    async fn start_session(&self, session: &NewSession) -> Result<(), StoreError>;

    async fn find_refresh_token(
        &self,
        token_hash: &SecretHash,
    ) -> Result<Option<RefreshTokenRecord>, StoreError>;

    /// Spends `old_hash` and stores `replacement` in one transaction. Returns `false` (and writes
    /// nothing) if the old token was already spent or its family revoked: a lost race.
    async fn rotate_refresh_token(
        &self,
        old_hash: &SecretHash,
        replacement: &NewRefreshToken,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Revokes a session family and every unexpired access token minted in it. Returns the
    /// revocations written.
    async fn revoke_family(
        &self,
        family_id: SessionFamilyId,
        now: Timestamp,
    ) -> Result<Vec<Revocation>, StoreError>;

    /// Logout: revokes the presented access token and the session family that minted it.
    async fn revoke_session_of_access_token(
        &self,
        access_token_hash: &SecretHash,
        access_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<Revocation>, StoreError>;

    /// Replaces the recovery-key hash and revokes every other session family of the user (the
    /// one that minted `keep_access_token_hash` survives). Returns the revocations written.
    async fn replace_recovery_key(
        &self,
        user_id: UserId,
        new_hash: &SecretHash,
        keep_access_token_hash: &SecretHash,
        now: Timestamp,
    ) -> Result<Vec<Revocation>, StoreError>;

    /// Revocations with a sequence above `after`, oldest first, at most `limit`.
    async fn revocations_since(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RevocationEntry>, StoreError>;

    /// Deletes revocations and sessions that can no longer matter. Returns rows removed.
    async fn purge_expired(
        &self,
        now: Timestamp,
        subject_horizon: Timestamp,
    ) -> Result<u64, StoreError>;
}

/// A user's profile as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    pub id: UserId,
    pub nickname: String,
    pub status_message: String,
    /// The storage key of the avatar's thumbnail (what `/media/{key}` serves), if any.
    pub avatar_media_id: Option<String>,
    pub created_at: Timestamp,
    pub deactivated_at: Option<Timestamp>,
    pub followers_count: i64,
    pub following_count: i64,
    pub posts_count: i64,
}

/// A change to a profile; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ProfileChange {
    pub nickname: Option<(String, String)>,
    pub status_message: Option<String>,
    /// An upload of the user's (a ready image, not on a post) to show as their avatar; the
    /// previous avatar's upload is discarded. `NotFound` if it is not such an upload.
    pub avatar: Option<MediaId>,
}

/// One session as shown in a data export (no secrets, no hashes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSummary {
    pub family_id: SessionFamilyId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// One entry of the profile change feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserChange {
    pub sequence: i64,
    pub user_id: UserId,
}

/// What the users service needs from the relational store.
#[async_trait]
pub trait ProfileStore: Send + Sync {
    async fn user(&self, user_id: UserId) -> Result<Option<UserRecord>, StoreError>;

    /// Applies a change and returns the profile after it. `NotFound` for an unknown user,
    /// `Conflict(Conflict::Nickname)` when the new nickname key is taken.
    async fn update_profile(
        &self,
        user_id: UserId,
        change: &ProfileChange,
    ) -> Result<UserRecord, StoreError>;

    /// Hides the account and ends every session it has. Returns the revocations written.
    async fn deactivate(
        &self,
        user_id: UserId,
        now: Timestamp,
    ) -> Result<Vec<Revocation>, StoreError>;

    /// Erases the account (its nickname becomes free) and revokes every access token issued to it
    /// up to `now`, in one transaction. `NotFound` for an unknown user. Posts, likes, follows and
    /// blocks go with it; counters of other users and posts are adjusted; `event`
    /// (`user.deleted`) is appended to the outbox.
    async fn delete_account(
        &self,
        user_id: UserId,
        now: Timestamp,
        event: &EventEnvelope,
    ) -> Result<Revocation, StoreError>;

    async fn sessions(&self, user_id: UserId) -> Result<Vec<SessionSummary>, StoreError>;

    /// Profiles changed (by any process) with a sequence above `after`, oldest first. Every
    /// write above, and a login that reactivates an account, appends to this feed.
    async fn user_changes_since(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<UserChange>, StoreError>;

    /// Forgets feed entries older than `before`. Returns rows removed.
    async fn purge_user_changes(&self, before: Timestamp) -> Result<u64, StoreError>;
}

/// Whether a dependency answers; used by `/readyz`.
#[async_trait]
pub trait HealthCheck: Send + Sync {
    fn name(&self) -> &'static str;
    async fn check(&self) -> Result<(), StoreError>;
}

// ---------------------------------------------------------------------------------------------
// Posts

/// Who may see a post.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Public,
    /// The author's followers and the author.
    Followers,
}

impl Visibility {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Followers => "followers",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "public" => Some(Self::Public),
            "followers" => Some(Self::Followers),
            _ => None,
        }
    }
}

/// A client's `Idempotency-Key`, scoped to the user and the operation.
#[derive(Clone, Debug)]
pub struct IdempotencyKey {
    pub user_id: UserId,
    pub scope: &'static str,
    pub key: String,
    /// SHA-256 of the request body: the same key with another body is refused.
    pub request_hash: SecretHash,
    /// Keys older than this are forgotten.
    pub not_before: Timestamp,
}

/// What an idempotent create answers. `Earlier` is how a replay names the first result, when
/// that is less than a new one carries (an id to read it by).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created<T, Earlier = T> {
    New(T),
    /// The same key and body were seen before: this is the first result.
    Replayed(Earlier),
}

impl<T, Earlier> Created<T, Earlier> {
    pub const fn is_replayed(&self) -> bool {
        matches!(self, Self::Replayed(_))
    }
}

impl<T> Created<T> {
    pub fn into_value(self) -> T {
        match self {
            Self::New(value) | Self::Replayed(value) => value,
        }
    }
}

/// A poll created with its post (already validated: 2–4 options, a closing time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPoll {
    pub id: PollId,
    pub options: Vec<String>,
    pub closes_at: Timestamp,
}

/// A poll's results as a viewer sees them. Never says who voted for what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollRecord {
    pub id: PollId,
    pub post_id: PostId,
    pub options: Vec<(String, i64)>,
    pub total_votes: i64,
    pub closes_at: Timestamp,
    pub my_vote: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct NewPost {
    pub id: PostId,
    pub poll: Option<NewPoll>,
    /// Uploads of the author's to attach (`NotFound` if one is not theirs, already attached,
    /// or gone).
    pub media: Vec<MediaId>,
    pub author_id: UserId,
    pub text: String,
    pub visibility: Visibility,
    pub anonymous_thread: bool,
    pub hashtags: Vec<String>,
    pub mentions: Vec<UserId>,
    pub created_at: Timestamp,
}

/// A new text for a post, with what was parsed from it.
#[derive(Clone, Debug)]
pub struct PostEdit {
    pub post_id: PostId,
    pub author_id: UserId,
    pub text: String,
    pub hashtags: Vec<String>,
    pub mentions: Vec<UserId>,
    pub edited_at: Timestamp,
}

/// What a report may give as its reason.
pub const REPORT_REASONS: &[&str] = &["spam", "abuse", "nsfw", "other"];
pub const MAX_REPORT_NOTE_CHARS: usize = 500;

#[derive(Clone, Debug)]
pub struct NewReport {
    pub id: ReportId,
    pub reporter_id: UserId,
    pub reason: String,
    pub note: Option<String>,
    pub created_at: Timestamp,
}

/// Why a report's input was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportInputError {
    /// Not one of [`REPORT_REASONS`].
    Reason,
    /// Longer than [`MAX_REPORT_NOTE_CHARS`].
    Note,
}

impl NewReport {
    /// A report of anything (post or comment), its input checked; a blank note is no note.
    pub fn new(
        reporter_id: UserId,
        reason: &str,
        note: Option<&str>,
    ) -> Result<Self, ReportInputError> {
        if !REPORT_REASONS.contains(&reason) {
            return Err(ReportInputError::Reason);
        }
        let note = note.map(str::trim).filter(|note| !note.is_empty());
        if note.is_some_and(|note| note.chars().count() > MAX_REPORT_NOTE_CHARS) {
            return Err(ReportInputError::Note);
        }
        Ok(Self {
            id: ReportId::generate(),
            reporter_id,
            reason: reason.to_owned(),
            note: note.map(str::to_owned),
            created_at: Timestamp::now(),
        })
    }
}

/// A post as a viewer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostRecord {
    pub id: PostId,
    pub poll: Option<PollRecord>,
    /// Attached uploads, in the order the author gave.
    pub media: Vec<MediaRecord>,
    pub author_id: UserId,
    pub author_nickname: String,
    pub author_avatar_media_id: Option<String>,
    pub text: String,
    pub visibility: Visibility,
    pub anonymous_thread: bool,
    pub hashtags: Vec<String>,
    pub like_count: i64,
    pub comment_count: i64,
    pub liked_by_me: bool,
    pub created_at: Timestamp,
    pub edited_at: Option<Timestamp>,
    pub moderation_state: String,
}

/// Whether a write changed anything (idempotent operations answer the same either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Changed {
    Yes,
    AlreadySo,
}

/// Resolves `@mentions`: shared by posts and comments.
#[async_trait]
pub trait MentionDirectory: Send + Sync {
    /// Active users whose nickname key is one of `keys`.
    async fn users_by_nickname_keys(&self, keys: &[String]) -> Result<Vec<UserId>, StoreError>;
}

/// What the posts service needs from the relational store. Every write also appends its domain
/// event to the outbox, in the same transaction. A post a viewer may not see is `NotFound`,
/// exactly like one that does not exist.
#[async_trait]
pub trait PostStore: Send + Sync {
    /// Creates the post (and its hashtags and mentions) and answers it as its author sees it,
    /// unless the idempotency key was seen: then the first post is answered (`NotFound` if it is
    /// gone). `Conflict(Conflict::IdempotencyKey)` for the same key with another body.
    async fn create_post(
        &self,
        post: &NewPost,
        idempotency: Option<&IdempotencyKey>,
        event: &EventEnvelope,
    ) -> Result<Created<PostRecord>, StoreError>;

    /// The post if `viewer` (or an anonymous caller) may see it.
    async fn post(
        &self,
        post_id: PostId,
        viewer: Option<UserId>,
    ) -> Result<Option<PostRecord>, StoreError>;

    /// A user's posts that `viewer` may see, newest first, before `before` (exclusive).
    async fn posts_by_author(
        &self,
        author_id: UserId,
        viewer: Option<UserId>,
        before: Option<PostId>,
        limit: i64,
    ) -> Result<Vec<PostRecord>, StoreError>;

    /// Replaces the text (and so hashtags and mentions) of the author's own post.
    async fn edit_post(&self, edit: &PostEdit, event: &EventEnvelope) -> Result<(), StoreError>;

    async fn delete_post(&self, post_id: PostId, event: &EventEnvelope) -> Result<(), StoreError>;

    /// Adds (`liked`) or removes the user's like of a post they may see. `event` builds the
    /// domain event from the post's author, which the visibility check learns anyway.
    async fn set_post_like(
        &self,
        post_id: PostId,
        user_id: UserId,
        liked: bool,
        now: Timestamp,
        event: EventFor<UserId>,
    ) -> Result<Changed, StoreError>;

    /// Files a report (once per reporter and target; a repeat changes nothing).
    async fn report_post(
        &self,
        post_id: PostId,
        report: &NewReport,
        event: &EventEnvelope,
    ) -> Result<Changed, StoreError>;
}

// ---------------------------------------------------------------------------------------------
// Comments

/// Who wrote a comment, as the API may show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommentAuthor {
    Account {
        id: UserId,
        nickname: String,
        avatar_media_id: Option<String>,
    },
    /// In an anonymous thread: `OP` or `#n`. The account behind it is never shown.
    Alias(String),
    /// The comment was deleted (it stays because it has replies) or its author is gone.
    Gone,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentRecord {
    pub id: CommentId,
    pub post_id: PostId,
    pub parent_id: Option<CommentId>,
    pub depth: i64,
    pub author: CommentAuthor,
    /// Empty when deleted.
    pub text: String,
    pub deleted: bool,
    pub like_count: i64,
    pub reply_count: i64,
    pub liked_by_me: bool,
    pub created_at: Timestamp,
}

/// Where a new comment goes, as the store resolved it.
#[derive(Clone, Debug)]
pub struct NewComment {
    pub id: CommentId,
    pub post_id: PostId,
    /// The comment replied to, as requested; the store re-attaches a reply that would be too
    /// deep to the deepest allowed level.
    pub reply_to: Option<CommentId>,
    pub author_id: UserId,
    pub text: String,
    pub mentions: Vec<UserId>,
    pub created_at: Timestamp,
    /// HMAC of (thread, author) under the server's thread key, for anonymous threads.
    pub alias_key: SecretHash,
}

/// What creating a comment resolved: used to build its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommentPlacement {
    pub post_author_id: UserId,
    pub parent_id: Option<CommentId>,
    pub parent_author_id: Option<UserId>,
}

/// Who a comment belongs to, for permission checks and events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommentOwnership {
    /// `None` once the author's account is gone.
    pub author: Option<UserId>,
    /// In an anonymous thread, the author's alias number there (0 for the post's author).
    pub alias_number: Option<i64>,
    pub post_id: PostId,
    pub post_author: UserId,
}

/// Replies deeper than this attach to their parent's level instead (0 is top level).
pub const MAX_COMMENT_DEPTH: i64 = 2;

/// Server-wide secrets (keys for thread aliases, feed cursors, client-address hashing), kept in
/// the relational store so that every process shares them.
#[async_trait]
pub trait ServerSecrets: Send + Sync {
    /// The secret named `name` (32 random bytes), created on first use; every process gets the
    /// first writer's value.
    async fn server_secret(&self, name: &str) -> Result<Vec<u8>, StoreError>;

    /// The value named `name`, stored as `fresh` by whichever process asks first (a key pair
    /// made in advance, say); every process gets that first value.
    async fn server_value(&self, name: &str, fresh: Vec<u8>) -> Result<Vec<u8>, StoreError>;

    /// Destroys a secret (a key that must not outlive its period).
    async fn forget_server_secret(&self, name: &str) -> Result<(), StoreError>;

    /// Replaces the value named `name` with `new` if it is still `expected` (compare and swap);
    /// answers whether it did.
    async fn replace_server_value(
        &self,
        name: &str,
        expected: &[u8],
        new: Vec<u8>,
    ) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait CommentStore: ServerSecrets {
    /// Creates a comment on a post the author may see. `NotFound` for an invisible post,
    /// `Conflict(Conflict::Parent)` for a parent on another post or that does not exist. The event is
    /// built from the placement by `event` and written in the same transaction.
    /// Answers the comment as its author sees it. With an idempotency key already used with the
    /// same body, nothing is written and the earlier comment is answered
    /// (`Conflict(Conflict::IdempotencyMismatch)` for another body).
    async fn create_comment(
        &self,
        comment: &NewComment,
        idempotency: Option<&IdempotencyKey>,
        event: EventFor<CommentPlacement>,
    ) -> Result<Created<CommentRecord>, StoreError>;

    /// A comment on a post the viewer may see, unless its author and the viewer blocked each
    /// other.
    async fn comment(
        &self,
        comment_id: CommentId,
        viewer: Option<UserId>,
    ) -> Result<Option<CommentRecord>, StoreError>;

    /// Replies to `parent` (or top-level comments when `None`) of a post the viewer may see,
    /// oldest first, after `after`.
    async fn comments(
        &self,
        post_id: PostId,
        parent: Option<CommentId>,
        viewer: Option<UserId>,
        after: Option<CommentId>,
        limit: i64,
    ) -> Result<Vec<CommentRecord>, StoreError>;

    /// Deletes (or, when it has replies, masks) a comment. `Forbidden`-worthy checks are the
    /// service's; this only writes.
    async fn delete_comment(
        &self,
        comment_id: CommentId,
        event: &EventEnvelope,
    ) -> Result<(), StoreError>;

    /// Adds (`liked`) or removes the user's like of a comment they may see. `event` builds the
    /// domain event from the comment's post, which the visibility check learns anyway.
    async fn set_comment_like(
        &self,
        comment_id: CommentId,
        user_id: UserId,
        liked: bool,
        now: Timestamp,
        event: EventFor<PostId>,
    ) -> Result<Changed, StoreError>;

    async fn report_comment(
        &self,
        report: &NewReport,
        comment_id: CommentId,
        event: &EventEnvelope,
    ) -> Result<Changed, StoreError>;

    /// The first `per_parent` replies (oldest first) to each of `parents`, in one query, ordered
    /// by parent then age.
    async fn first_replies(
        &self,
        post_id: PostId,
        parents: &[CommentId],
        viewer: Option<UserId>,
        per_parent: i64,
    ) -> Result<Vec<CommentRecord>, StoreError>;

    /// Whether the viewer may see the post (comments of invisible posts are 404).
    async fn post_visible(
        &self,
        post_id: PostId,
        viewer: Option<UserId>,
    ) -> Result<bool, StoreError>;

    /// Who owns a (not deleted) comment, if the viewer may see it.
    async fn comment_ownership(
        &self,
        comment_id: CommentId,
        viewer: UserId,
    ) -> Result<Option<CommentOwnership>, StoreError>;

    /// Hides an alias's comments in one thread from the blocker. `AlreadySo` if it was.
    async fn block_alias(&self, block: &AliasBlock) -> Result<Changed, StoreError>;

    /// Lifts one of the blocker's alias blocks. `AlreadySo` if there is no such block of theirs.
    async fn unblock_alias(
        &self,
        blocker: UserId,
        block: AliasBlockId,
    ) -> Result<Changed, StoreError>;

    /// The blocker's alias blocks, newest first, before `before`.
    async fn alias_blocks(
        &self,
        blocker: UserId,
        before: Option<AliasBlockId>,
        limit: i64,
    ) -> Result<Vec<AliasBlock>, StoreError>;
}

/// Who does something that is not one's own business: a moderator, or the system itself (an
/// automatic moderation consumer, a periodic task).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    User(UserId),
    System,
}

impl Actor {
    /// The account, when a person acted (an event's `actor`).
    pub const fn user(self) -> Option<UserId> {
        match self {
            Self::User(user) => Some(user),
            Self::System => None,
        }
    }

    /// How a record names it: the account id, or `system`.
    pub fn recorded(self) -> String {
        self.user()
            .map_or_else(|| "system".to_owned(), |user| user.to_string())
    }
}

/// Leases: one holder at a time for a named piece of work (a consumer group, a periodic task),
/// taken over by another holder once the first stops renewing.
#[async_trait]
pub trait Leases: Send + Sync {
    /// Takes or renews `name` for `holder` until `now + ttl`, unless another holder's lease on it
    /// is still running; answers whether `holder` holds it now.
    async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Gives `name` up if `holder` holds it (on shutdown), so another takes over at once.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
}

/// How alias number `number` of an anonymous thread is shown: 0 is the post's author.
pub fn alias_label(number: i64) -> String {
    if number == 0 {
        "OP".to_owned()
    } else {
        format!("#{number}")
    }
}

/// "Alias #n in this thread", blocked by one account: it names no account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AliasBlock {
    pub id: AliasBlockId,
    pub blocker_id: UserId,
    pub post_id: PostId,
    pub alias_number: i64,
    pub created_at: Timestamp,
}

// ---------------------------------------------------------------------------------------------
// Polls

#[async_trait]
pub trait PollStore: Send + Sync {
    /// The poll if the viewer may see its post.
    async fn poll(
        &self,
        poll_id: PollId,
        viewer: Option<UserId>,
    ) -> Result<Option<PollRecord>, StoreError>;

    /// Records one vote; `event` builds the domain event from the poll's post. `NotFound` for a
    /// poll the voter may not see, `Conflict(Conflict::Vote)` for a second vote, `Conflict(Conflict::PollClosed)`
    /// after closing, `Conflict(Conflict::PollOption)` for an index out of range.
    async fn vote(
        &self,
        poll_id: PollId,
        voter: UserId,
        option_index: i64,
        now: Timestamp,
        event: EventFor<PostId>,
    ) -> Result<(), StoreError>;

    /// Announces up to `limit` polls whose closing time has passed and were not announced yet:
    /// marks them and appends `event((poll, post, author))` for each, in one transaction.
    /// Answers how many.
    async fn announce_closed(
        &self,
        now: Timestamp,
        limit: i64,
        event: EventFor<(PollId, PostId, UserId)>,
    ) -> Result<usize, StoreError>;
}

// ---------------------------------------------------------------------------------------------
// The social graph

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

// ---------------------------------------------------------------------------------------------
// Events: outbox, log, consumers

/// The outbox side of the relay: events written by services' transactions, not yet published.
#[async_trait]
pub trait OutboxSource: Send + Sync {
    /// The oldest unpublished events, at most `limit`.
    async fn pending_events(&self, limit: i64) -> Result<Vec<EventEnvelope>, StoreError>;

    async fn remove_from_outbox(&self, ids: &[EventId]) -> Result<(), StoreError>;
}

/// Appends events to the durable log. Publishing the same event id twice must not duplicate it
/// (the embedded log ignores a known id; a broker adapter relies on idempotent consumers).
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, events: &[EventEnvelope]) -> Result<(), StoreError>;
}

/// The reading side of the log, with per-consumer committed offsets.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// How many partitions the log has. An event goes to
    /// [`partition_of`](crate::events::partition_of)`(its partition key, partitions)`, so one
    /// aggregate's events keep their order; offsets are per partition per consumer group, as a
    /// broker's are. The embedded log has one.
    fn partitions(&self) -> u32;

    /// Events of `partition` with an offset above `after`, in order, at most `limit`.
    async fn read_after(
        &self,
        partition: u32,
        after: i64,
        limit: i64,
    ) -> Result<Vec<LoggedEvent>, StoreError>;

    /// Where `group` stands in `partition` (0 before it has read anything).
    async fn committed_offset(&self, group: &str, partition: u32) -> Result<i64, StoreError>;

    /// Moves `group` forward in `partition` to `offset`; never backwards.
    async fn commit_offset(
        &self,
        group: &str,
        partition: u32,
        offset: i64,
    ) -> Result<(), StoreError>;
}

// ---------------------------------------------------------------------------------------------
// Feeds
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
    /// The moderation state of each of the posts that still exists.
    pub moderation: IdMap<PostId, String>,
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

// Media

/// An upload, as its owner and the viewers of its post see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRecord {
    pub id: MediaId,
    pub owner_id: UserId,
    /// `image` or `video`.
    pub kind: String,
    /// `processing`, `ready` or `failed`.
    pub status: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub duration_ms: Option<i64>,
    pub blurhash: Option<String>,
    /// Storage keys of the display rendition (the transcoded file for a video) and the
    /// thumbnail, once ready.
    pub key: Option<String>,
    pub thumbnail_key: Option<String>,
    /// A video's first frame at display size.
    pub poster_key: Option<String>,
    /// Bytes stored for it, counted against the owner's quota.
    pub bytes: i64,
    /// Its description for people who cannot see it (alternative text), set by the owner.
    #[serde(default)]
    pub alt: Option<String>,
}

/// One stored file of an upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredObject {
    /// Random, made by the server: never derived from anything the client sent.
    pub key: String,
    pub media_id: MediaId,
    /// `display`, `thumbnail`, `video`, `poster`, or `original` (a video waiting for its
    /// job: never served).
    pub variant: String,
    pub content_type: String,
    pub size: i64,
    /// Strong validator: the SHA-256 of the bytes, hex.
    pub etag: String,
}

/// What a finished processing job (a video, or an image too large to decode on upload) found.
#[derive(Clone, Debug)]
pub enum ProcessingOutcome {
    Ready {
        width: i64,
        height: i64,
        /// Videos only.
        duration_ms: Option<i64>,
        blurhash: Option<String>,
        objects: Vec<StoredObject>,
    },
    Failed,
}

/// What the media service keeps in the relational store. An upload nobody attached is
/// discarded a day after it was made; one whose post or owner was deleted at once.
#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Bytes stored for `owner`'s uploads.
    async fn storage_used(&self, owner: UserId) -> Result<i64, StoreError>;

    /// Records an upload and its stored files, and enqueues its job if any, in one
    /// transaction; unless the idempotency key was seen: then the first upload is answered.
    async fn create_media(
        &self,
        media: MediaRecord,
        objects: Vec<StoredObject>,
        job: Option<crate::jobs::NewJob>,
        idempotency: Option<IdempotencyKey>,
        now: Timestamp,
    ) -> Result<Created<MediaRecord>, StoreError>;

    async fn media(&self, id: MediaId) -> Result<Option<MediaRecord>, StoreError>;

    /// Sets the description of an upload `owner` has not attached yet; false if there is none.
    async fn describe_media(
        &self,
        id: MediaId,
        owner: UserId,
        alt: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// A stored file that may be served (not an original), by key.
    async fn object(&self, key: &str) -> Result<Option<StoredObject>, StoreError>;

    /// Every stored file of an upload, originals included.
    async fn objects_of(&self, id: MediaId) -> Result<Vec<StoredObject>, StoreError>;

    /// Ends an upload's processing (only from `processing`: a second finish changes nothing and
    /// answers `false`); the original's record is dropped, its file is the caller's to delete.
    /// Appends `media.processed` when the upload belongs to a post.
    async fn finish_processing(
        &self,
        id: MediaId,
        outcome: ProcessingOutcome,
        event: EventFor<PostId>,
    ) -> Result<bool, StoreError>;

    /// Uploads due to be discarded at `now`, with the keys of their stored files.
    async fn discardable(
        &self,
        now: Timestamp,
        limit: i64,
    ) -> Result<Vec<(MediaId, Vec<String>)>, StoreError>;

    /// Forgets uploads whose files were deleted.
    async fn forget_media(&self, ids: &[MediaId]) -> Result<(), StoreError>;
}

// Notifications

/// What a notification is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotificationKind {
    Like,
    Comment,
    Reply,
    Follow,
    Mention,
    PollClosed,
    Moderation,
}

impl NotificationKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Like => "like",
            Self::Comment => "comment",
            Self::Reply => "reply",
            Self::Follow => "follow",
            Self::Mention => "mention",
            Self::PollClosed => "poll_closed",
            Self::Moderation => "moderation",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Like,
            Self::Comment,
            Self::Reply,
            Self::Follow,
            Self::Mention,
            Self::PollClosed,
            Self::Moderation,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }

    /// Kinds a burst would flood with: an unread one about the same thing takes the next actor
    /// ("12 people liked your post") instead of a new notification.
    pub const fn groups(self) -> bool {
        matches!(self, Self::Like | Self::Comment | Self::Follow)
    }
}

/// A notification to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNotification {
    pub user_id: UserId,
    pub kind: NotificationKind,
    /// Who caused it (none for a poll that closed): notifications never go to the actor, nor
    /// between people who blocked one another. `hide_actor` keeps it from being shown
    /// (anonymous threads).
    pub actor_id: Option<UserId>,
    pub hide_actor: bool,
    pub post_id: Option<PostId>,
    pub comment_id: Option<CommentId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationRecord {
    pub id: NotificationId,
    pub user_id: UserId,
    pub kind: NotificationKind,
    /// The latest actor, unless hidden (anonymous threads) or deleted.
    pub actor_id: Option<UserId>,
    /// How many actors this notification stands for (grouped kinds).
    pub actors: i64,
    pub post_id: Option<PostId>,
    pub comment_id: Option<CommentId>,
    pub created_at: Timestamp,
    pub read: bool,
}

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Makes the notifications an event causes, once per event id (a redelivered event
    /// changes nothing and answers nothing); skips those to the actor and those between people
    /// blocked either way; groups unread ones of grouping kinds. Answers what it made or
    /// bumped.
    async fn notify(
        &self,
        event_id: EventId,
        notifications: &[NewNotification],
        now: Timestamp,
    ) -> Result<Vec<NotificationRecord>, StoreError>;

    /// Whether comments under the post are anonymous (their authors never shown).
    async fn thread_is_anonymous(&self, post_id: PostId) -> Result<bool, StoreError>;

    /// Everyone who voted in the poll (to tell them it closed; never shown to anyone).
    async fn poll_voters(&self, poll_id: PollId) -> Result<Vec<UserId>, StoreError>;

    /// Newest first, before `before`; hides those whose actor is now blocked either way.
    async fn notifications(
        &self,
        user_id: UserId,
        before: Option<NotificationId>,
        limit: i64,
    ) -> Result<Vec<NotificationRecord>, StoreError>;

    async fn unread_count(&self, user_id: UserId) -> Result<i64, StoreError>;

    /// Marks read every notification up to `up_to` (all if `None`).
    async fn mark_read(
        &self,
        user_id: UserId,
        up_to: Option<NotificationId>,
        now: Timestamp,
    ) -> Result<(), StoreError>;
}

// Push devices

/// Where a push goes: a provider's device token, or a Web Push subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushTarget {
    Fcm {
        token: String,
    },
    Apns {
        token: String,
    },
    WebPush {
        endpoint: String,
        /// The subscription's P-256 public key and authentication secret, base64url.
        p256dh: String,
        auth: String,
    },
}

impl PushTarget {
    pub const fn platform(&self) -> &'static str {
        match self {
            Self::Fcm { .. } => "fcm",
            Self::Apns { .. } => "apns",
            Self::WebPush { .. } => "webpush",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushDevice {
    pub id: PushDeviceId,
    pub user_id: UserId,
    pub target: PushTarget,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait PushDeviceStore: Send + Sync {
    /// Registers a device; one registered before (the same token or endpoint) now belongs to
    /// this user, keeping its id. Answers the stored device.
    async fn register_device(&self, device: &PushDevice) -> Result<PushDevice, StoreError>;

    /// `NotFound` unless the device is the user's.
    async fn remove_device(&self, user_id: UserId, id: PushDeviceId) -> Result<(), StoreError>;

    async fn devices_of(&self, user_id: UserId) -> Result<Vec<PushDevice>, StoreError>;

    async fn device(&self, id: PushDeviceId) -> Result<Option<PushDevice>, StoreError>;

    /// Forgets a device its push service no longer knows (404/410 answers).
    async fn forget_device(&self, id: PushDeviceId) -> Result<(), StoreError>;
}

/// What a moderator may do about reported content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModerationAction {
    /// Nothing wrong: the reports are closed.
    Dismiss,
    /// A post stays for its author but nobody else sees it (a comment is deleted instead).
    Hide,
    /// The content is deleted as its author could delete it.
    Delete,
    /// The author's account is hidden, signed out everywhere and cannot sign in again.
    SuspendAuthor,
}

impl ModerationAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Dismiss => "dismiss",
            Self::Hide => "hide",
            Self::Delete => "delete",
            Self::SuspendAuthor => "suspend_author",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Dismiss, Self::Hide, Self::Delete, Self::SuspendAuthor]
            .into_iter()
            .find(|action| action.as_str() == text)
    }
}

/// The post or comment a report is about, and who wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportTarget {
    pub post_id: PostId,
    pub comment_id: Option<CommentId>,
    /// None for a comment whose account is gone.
    pub author_id: Option<UserId>,
}

/// The open reports about one post or comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportGroup {
    /// The oldest open report's id: what a moderator resolves the group by.
    pub report_id: ReportId,
    pub target: ReportTarget,
    /// The reported text, for the moderator to judge.
    pub text: String,
    pub reports: i64,
    /// How many reports gave each reason.
    pub reasons: Vec<(String, i64)>,
    pub first_reported_at: Timestamp,
}

#[async_trait]
pub trait ModerationStore: Send + Sync {
    /// `member` or `moderator`; None for an account that does not exist.
    async fn role(&self, user_id: UserId) -> Result<Option<String>, StoreError>;

    /// Sets the account's role; false if there is no such account.
    async fn set_role(&self, user_id: UserId, role: &str) -> Result<bool, StoreError>;

    /// Groups of open reports about content that still exists, oldest first, after the group
    /// whose report id is `after`.
    async fn open_reports(
        &self,
        after: Option<ReportId>,
        limit: i64,
    ) -> Result<Vec<ReportGroup>, StoreError>;

    /// What an open report is about; None if no open report has this id.
    async fn report_target(&self, report_id: ReportId) -> Result<Option<ReportTarget>, StoreError>;

    /// In one transaction: applies `Hide` (a post) or `SuspendAuthor`, closes every open report
    /// about the target with the action, and appends `event`. (`Delete` happened before,
    /// through the content's own service.) Returns the revocations a suspension wrote.
    async fn resolve(
        &self,
        target: &ReportTarget,
        action: ModerationAction,
        by: Actor,
        now: Timestamp,
        event: &EventEnvelope,
    ) -> Result<Vec<Revocation>, StoreError>;
}
