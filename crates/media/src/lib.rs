//! Media: uploads (images processed at once, videos by a job), their variants in object
//! storage, and the collector that deletes what nobody needs.
//!
//! # Layout
//! - [`sniff`]: the format of an upload, from its bytes alone.
//! - [`image`]: decoding under limits, orientation, re-encoded variants, blurhash.
//! - [`video`]: ffmpeg transcoding under limits.
//! - [`metadata`]: the check that no stored image carries metadata.
//! - [`storage`]: the object storage port (local file system, S3).
//! - [`MediaService`]: upload, read, serve and collect; [`MediaWorker`]: runs video jobs.
//!
//! # Invariants
//! - Nothing of the uploader's file is stored as it came: images are re-encoded before storing,
//!   and a video's original is kept (under a key never served) only until its job ends.
//! - A file is stored before the row that names it, and its row is deleted before the file:
//!   a crash leaves at most an unnamed file, never a row naming nothing. An upload refused
//!   after its files were stored deletes them.

pub mod image;
pub mod metadata;
pub mod nsfw;
pub mod sniff;
pub mod storage;
pub mod video;
mod worker;

pub use storage::{MediaStorage, StorageConfig};
pub use worker::{JobStats, MediaWorker, VIDEO_QUEUE};

use crate::image::{decode_cost, process_image, DecodeCost, ImageLimits, ProcessedImage};
use crate::sniff::{Format, Kind};
use crate::video::VideoSettings;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use veilgram_core::error::Conflict;
use veilgram_core::jobs::NewJob;
use veilgram_core::ports::{Created, IdempotencyKey, MediaRecord, MediaStore, StoredObject};
use veilgram_core::{MediaId, StoreError, Timestamp, UserId};

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("only JPEG, PNG, WebP, GIF, MP4, MOV and WebM files are accepted")]
    Unsupported,
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the upload would exceed your storage quota of {quota} bytes")]
    QuotaExceeded { quota: u64 },
    #[error("{0}")]
    Refused(String),
    #[error("the file cannot be decoded: {0}")]
    Undecodable(String),
    #[error("the description is not valid: {0}")]
    InvalidAlt(String),
    #[error("media not found")]
    NotFound,
    #[error("this Idempotency-Key was used with another file")]
    IdempotencyKeyReused,
    #[error("processing failed: {0}")]
    Processing(String),
    #[error("object storage is unavailable: {0}")]
    Storage(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("file system: {0}")]
    Io(#[source] std::io::Error),
}

/// The longest description of an upload (Mastodon's limit).
pub const MAX_ALT_CHARS: usize = 1500;

#[derive(Clone, Debug)]
pub struct MediaSettings {
    pub max_image_bytes: u64,
    pub max_video_bytes: u64,
    /// Bytes each user may keep stored.
    pub quota_bytes: u64,
    pub image: ImageLimits,
    pub video: VideoSettings,
    /// Where uploads are received and jobs work (inside the data directory).
    pub work_dir: PathBuf,
    /// How many images are decoded at once (each may take up to `image.max_alloc`).
    pub image_workers: usize,
    /// The memory all images being decoded at once may take, by their headers' claims (see
    /// [`image::decode_cost`]): a decode waits until its share is free, and an image that
    /// alone would exceed it is refused (422) without being decoded.
    pub decode_budget_bytes: u64,
    /// Images of more pixels than this are decoded by a job, in whichever process runs jobs
    /// (a `veilgram worker`), not in the one that received them; `None` decodes every image
    /// on upload.
    pub offload_pixels: Option<u64>,
}

impl MediaSettings {
    pub fn new(work_dir: PathBuf) -> Self {
        Self {
            max_image_bytes: 16 * 1024 * 1024,
            max_video_bytes: 100 * 1024 * 1024,
            quota_bytes: 1024 * 1024 * 1024,
            image: ImageLimits::default(),
            video: VideoSettings::default(),
            work_dir,
            image_workers: 1,
            decode_budget_bytes: 256 * 1024 * 1024,
            offload_pixels: None,
        }
    }

    /// The largest upload of any kind: a receiver stops reading beyond it.
    pub fn max_upload_bytes(&self) -> u64 {
        self.max_image_bytes.max(self.max_video_bytes)
    }
}

/// A file received from a client, in the work directory: its size and digest were taken while
/// it streamed in.
#[derive(Debug)]
pub struct Received {
    pub file: tempfile::NamedTempFile,
    pub size: u64,
    pub sha256: [u8; 32],
    /// The first bytes, for sniffing.
    pub head: Vec<u8>,
}

/// Receives a file chunk by chunk into the work directory, refusing it past `limit` bytes.
pub struct Receiver {
    file: tempfile::NamedTempFile,
    size: u64,
    limit: u64,
    digest: Sha256,
    head: Vec<u8>,
}

impl Receiver {
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), MediaError> {
        use std::io::Write;
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(MediaError::TooLarge { limit: self.limit });
        }
        if self.head.len() < sniff::SNIFF_LEN {
            let wanted = (sniff::SNIFF_LEN - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..wanted]);
        }
        self.digest.update(chunk);
        self.file.write_all(chunk).map_err(MediaError::Io)
    }

    pub fn finish(self) -> Received {
        Received {
            file: self.file,
            size: self.size,
            sha256: self.digest.finalize().into(),
            head: self.head,
        }
    }
}

pub struct MediaService {
    store: Arc<dyn MediaStore>,
    storage: MediaStorage,
    settings: MediaSettings,
    decoding: Semaphore,
    /// `decode_budget_bytes` in KiB: what decodes under way hold.
    decode_budget: Semaphore,
    /// Signalled when this process enqueued a job, so that its worker starts at once.
    enqueued: Arc<tokio::sync::Notify>,
}

/// Bytes in whole KiB, rounded up (the decoding budget's unit), within a semaphore's range.
fn kibibytes(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX >> 3)
}

/// Each stored file's SHA-256, hex: its strong `ETag`.
fn etag_of(bytes: &[u8]) -> String {
    veilgram_core::hex(&Sha256::digest(bytes))
}

fn extension_of(content_type: &str) -> &'static str {
    match content_type {
        "image/png" => "png",
        "image/gif" => "gif",
        "video/mp4" => "mp4",
        _ => "jpg",
    }
}

impl MediaService {
    pub fn new(
        store: Arc<dyn MediaStore>,
        storage: MediaStorage,
        settings: MediaSettings,
    ) -> Result<Self, MediaError> {
        std::fs::create_dir_all(&settings.work_dir).map_err(MediaError::Io)?;
        let decoding = Semaphore::new(settings.image_workers.max(1));
        let decode_budget = Semaphore::new(kibibytes(settings.decode_budget_bytes) as usize);
        Ok(Self {
            store,
            storage,
            settings,
            decoding,
            decode_budget,
            enqueued: Arc::default(),
        })
    }

    pub fn settings(&self) -> &MediaSettings {
        &self.settings
    }

    pub fn storage(&self) -> &MediaStorage {
        &self.storage
    }

    /// Decodes an image and renders its variants within the process's decoding budget: its
    /// header's claim is costed first, an image that alone exceeds the budget is refused, and
    /// otherwise it waits for its share of the budget and a decoding slot.
    pub(crate) async fn decode_image(
        &self,
        path: &Path,
        format: Format,
    ) -> Result<ProcessedImage, MediaError> {
        let cost = self.cost_of(path, format, false).await?;
        self.decode_costed(path, format, cost).await
    }

    /// What decoding the image at `path` will cost, from its header, refused if it alone
    /// exceeds the budget (or, with `refuse_archives`, if an archive is appended to it).
    async fn cost_of(
        &self,
        path: &Path,
        format: Format,
        refuse_archives: bool,
    ) -> Result<DecodeCost, MediaError> {
        let (path, limits) = (path.to_owned(), self.settings.image.clone());
        let cost = tokio::task::spawn_blocking(move || {
            if refuse_archives && sniff::has_zip_trailer(&tail_of(&path).map_err(MediaError::Io)?) {
                return Err(MediaError::Refused(
                    "an image with an archive appended is refused".into(),
                ));
            }
            decode_cost(&path, format, &limits)
        })
        .await
        .map_err(|error| MediaError::Processing(error.to_string()))??;
        self.within_budget(cost)?;
        Ok(cost)
    }

    /// [`decode_image`](Self::decode_image) once its cost is known.
    async fn decode_costed(
        &self,
        path: &Path,
        format: Format,
        cost: DecodeCost,
    ) -> Result<ProcessedImage, MediaError> {
        let limits = self.settings.image.clone();
        let shutting_down = |_| MediaError::Processing("shutting down".into());
        let _share = self
            .decode_budget
            .acquire_many(kibibytes(cost.bytes).max(1))
            .await
            .map_err(shutting_down)?;
        let _slot = self.decoding.acquire().await.map_err(shutting_down)?;
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || process_image(&path, format, &limits))
            .await
            .map_err(|error| MediaError::Processing(error.to_string()))?
    }

    /// Refuses an image that alone would take more than the whole decoding budget.
    fn within_budget(&self, cost: DecodeCost) -> Result<(), MediaError> {
        if cost.bytes > self.settings.decode_budget_bytes {
            return Err(MediaError::Refused(format!(
                "decoding this image would take {} MiB, more than this server allows ({} MiB)",
                cost.bytes >> 20,
                self.settings.decode_budget_bytes >> 20
            )));
        }
        Ok(())
    }

    pub(crate) fn enqueued(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.enqueued)
    }

    /// A receiver for one upload.
    pub fn receiver(&self) -> Result<Receiver, MediaError> {
        Ok(Receiver {
            file: tempfile::NamedTempFile::new_in(&self.settings.work_dir)
                .map_err(MediaError::Io)?,
            size: 0,
            limit: self.settings.max_upload_bytes(),
            digest: Sha256::new(),
            head: Vec::new(),
        })
    }

    /// Stores an upload of `owner`'s: an image is processed now and is `ready` (unless it is
    /// large enough to be offloaded to a worker, see `offload_pixels`); a video is
    /// `processing` until its job ends. With an idempotency key, a retry with the same bytes
    /// answers the first upload (`true` when replayed).
    pub async fn upload(
        &self,
        owner: UserId,
        received: Received,
        idempotency_key: Option<String>,
    ) -> Result<(MediaRecord, bool), MediaError> {
        let format = Format::sniff(&received.head).ok_or(MediaError::Unsupported)?;
        let limit = match format.kind() {
            Kind::Image => self.settings.max_image_bytes,
            Kind::Video => self.settings.max_video_bytes,
        };
        if received.size > limit {
            return Err(MediaError::TooLarge { limit });
        }
        let now = Timestamp::now();
        let key = idempotency_key.map(|key| IdempotencyKey {
            user_id: owner,
            scope: "media",
            key,
            request_hash: received.sha256,
            not_before: now.minus(Duration::from_secs(24 * 3600)),
        });
        let id = MediaId::random();
        let (media, objects, job) = match format.kind() {
            Kind::Image => {
                let path = received.file.path();
                let cost = self.cost_of(path, format, true).await?;
                // Large images are decoded by a job, in whichever process runs jobs.
                if self
                    .settings
                    .offload_pixels
                    .is_some_and(|most| cost.pixels > most)
                {
                    self.store_original(id, owner, format, &received).await?
                } else {
                    self.store_image(id, owner, format, path, cost).await?
                }
            }
            Kind::Video => self.store_original(id, owner, format, &received).await?,
        };
        let used = self.store.storage_used(owner).await?;
        if (used + media.bytes) as u64 > self.settings.quota_bytes {
            self.delete_objects(&objects).await;
            return Err(MediaError::QuotaExceeded {
                quota: self.settings.quota_bytes,
            });
        }
        let mut created = self
            .store
            .create_media(
                media.clone(),
                objects.clone(),
                job.clone(),
                key.clone(),
                now,
            )
            .await;
        if let Err(StoreError::Conflict(Conflict::IdempotencyKey)) = created {
            // A concurrent request with the same key won: this one answers what it made.
            created = self
                .store
                .create_media(media, objects.clone(), job, key, now)
                .await;
        }
        match created {
            Ok(Created::New(media)) => {
                if media.status == "processing" {
                    self.enqueued.notify_one();
                }
                Ok((media, false))
            }
            Ok(Created::Replayed(earlier)) => {
                self.delete_objects(&objects).await;
                Ok((earlier, true))
            }
            Err(error) => {
                self.delete_objects(&objects).await;
                Err(match error {
                    StoreError::Conflict(Conflict::IdempotencyMismatch) => {
                        MediaError::IdempotencyKeyReused
                    }
                    other => other.into(),
                })
            }
        }
    }

    async fn store_image(
        &self,
        id: MediaId,
        owner: UserId,
        format: Format,
        path: &Path,
        cost: DecodeCost,
    ) -> Result<(MediaRecord, Vec<StoredObject>, Option<NewJob>), MediaError> {
        let processed = self.decode_costed(path, format, cost).await?;
        let mut objects = Vec::with_capacity(processed.variants.len());
        for variant in processed.variants {
            if let Some(found) = metadata::leftover_metadata(&variant.bytes) {
                self.delete_objects(&objects).await;
                return Err(MediaError::Processing(format!("an encoder left {found}")));
            }
            let object = StoredObject {
                key: storage::new_key("m", extension_of(variant.content_type)),
                media_id: id,
                variant: variant.name.to_owned(),
                content_type: variant.content_type.to_owned(),
                size: variant.bytes.len() as i64,
                etag: etag_of(&variant.bytes),
            };
            if let Err(error) = self.storage.put(&object.key, variant.bytes).await {
                self.delete_objects(&objects).await;
                return Err(error);
            }
            objects.push(object);
        }
        let media = MediaRecord {
            id,
            owner_id: owner,
            kind: Kind::Image.as_str().to_owned(),
            status: "ready".to_owned(),
            width: Some(i64::from(processed.width)),
            height: Some(i64::from(processed.height)),
            duration_ms: None,
            blurhash: Some(processed.blurhash),
            key: None,
            thumbnail_key: None,
            poster_key: None,
            bytes: objects.iter().map(|object| object.size).sum(),
            alt: None,
        };
        Ok((media, objects, None))
    }

    /// A video's original goes to storage (where any worker process can read it) under a key
    /// that is never served, with a job to transcode it.
    async fn store_original(
        &self,
        id: MediaId,
        owner: UserId,
        format: Format,
        received: &Received,
    ) -> Result<(MediaRecord, Vec<StoredObject>, Option<NewJob>), MediaError> {
        let original = StoredObject {
            key: storage::new_key("o", "bin"),
            media_id: id,
            variant: "original".to_owned(),
            content_type: "application/octet-stream".to_owned(),
            size: received.size as i64,
            etag: veilgram_core::hex(&received.sha256),
        };
        self.storage
            .put_file(&original.key, received.file.path())
            .await?;
        let job = worker::processing_job(id, &original.key, format);
        let media = MediaRecord {
            id,
            owner_id: owner,
            kind: format.kind().as_str().to_owned(),
            status: "processing".to_owned(),
            width: None,
            height: None,
            duration_ms: None,
            blurhash: None,
            key: None,
            thumbnail_key: None,
            poster_key: None,
            bytes: original.size,
            alt: None,
        };
        Ok((media, vec![original], Some(job)))
    }

    /// Deletes stored files, logging (not failing) what could not be deleted: the collector
    /// never sees files without rows, so this is the one chance, and a failure is only waste.
    async fn delete_objects(&self, objects: &[StoredObject]) {
        for object in objects {
            if let Err(error) = self.storage.delete(&object.key).await {
                tracing::warn!(%error, "a stored file of a refused upload was left behind");
            }
        }
    }

    /// An upload, to its owner only (anyone else: not found).
    pub async fn get(&self, id: MediaId, viewer: UserId) -> Result<MediaRecord, MediaError> {
        match self.store.media(id).await? {
            Some(media) if media.owner_id == viewer => Ok(media),
            _ => Err(MediaError::NotFound),
        }
    }

    /// Sets (or, with an empty text, clears) the description of an upload before it is
    /// attached: at most [`MAX_ALT_CHARS`] characters, no control characters.
    pub async fn describe(
        &self,
        id: MediaId,
        owner: UserId,
        alt: &str,
    ) -> Result<MediaRecord, MediaError> {
        let alt = alt.trim();
        if alt.chars().count() > MAX_ALT_CHARS {
            return Err(MediaError::InvalidAlt(format!(
                "at most {MAX_ALT_CHARS} characters"
            )));
        }
        if alt.chars().any(|c| c.is_control() && c != '\n') {
            return Err(MediaError::InvalidAlt(
                "control characters are not allowed".to_owned(),
            ));
        }
        let alt = (!alt.is_empty()).then_some(alt);
        if !self.store.describe_media(id, owner, alt).await? {
            return Err(MediaError::NotFound);
        }
        self.get(id, owner).await
    }

    /// A stored file that may be served.
    pub async fn object(&self, key: &str) -> Result<StoredObject, MediaError> {
        self.store.object(key).await?.ok_or(MediaError::NotFound)
    }

    /// Deletes the files and then the rows of every upload due for discarding (unattached for
    /// a day, or whose post or owner was deleted); answers how many went.
    pub async fn collect(&self, now: Timestamp) -> Result<usize, MediaError> {
        let mut collected = 0;
        loop {
            let due = self.store.discardable(now, 100).await?;
            if due.is_empty() {
                return Ok(collected);
            }
            for (_, keys) in &due {
                for key in keys {
                    self.storage.delete(key).await?;
                }
            }
            let ids: Vec<MediaId> = due.iter().map(|(id, _)| *id).collect();
            self.store.forget_media(&ids).await?;
            collected += ids.len();
        }
    }
}

/// The last bytes of a file (where an appended archive's directory would be).
fn tail_of(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let length = file.metadata()?.len();
    let start = length.saturating_sub(65_536 + 22);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    Ok(tail)
}
