//! Media: uploads, stored objects and the outcome of processing jobs.

use super::*;

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
