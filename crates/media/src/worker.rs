//! Processing jobs: a worker (in `veilgram serve`, or alone in `veilgram worker`) leases one
//! from the job queue, transcodes the original video (or decodes an image too large to decode
//! where it was received), stores the variants, and ends the upload's processing. Input that
//! cannot be read fails the upload at once; storage or database trouble retries the job with
//! backoff, and after its last attempt the upload fails.

use crate::sniff::Format;
use crate::storage::new_key;
use crate::{etag_of, metadata, MediaError, MediaService};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use veilgram_core::events::{DomainEvent, EventEnvelope, EventFor};
use veilgram_core::jobs::{backoff, Job, JobCounts, JobQueue, NewJob, Retry};
use veilgram_core::ports::{MediaStore, ProcessingOutcome, StoredObject};
use veilgram_core::{JobId, MediaId, PostId, Timestamp};

pub const VIDEO_QUEUE: &str = "media.video";
pub const IMAGE_QUEUE: &str = "media.image";
/// Attempts of a processing job before it is dead-lettered.
const ATTEMPTS: i64 = 3;

#[derive(Serialize, Deserialize)]
struct ProcessingJob {
    media_id: MediaId,
    original: String,
    format: String,
}

/// The job that processes an upload's stored original: on the video queue or the image queue.
pub(crate) fn processing_job(media_id: MediaId, original: &str, format: Format) -> NewJob {
    let payload = ProcessingJob {
        media_id,
        original: original.to_owned(),
        format: format.name().to_owned(),
    };
    NewJob {
        id: JobId::generate(),
        queue: match format.kind() {
            crate::sniff::Kind::Image => IMAGE_QUEUE,
            crate::sniff::Kind::Video => VIDEO_QUEUE,
        },
        payload: serde_json::to_string(&payload).unwrap_or_default(),
        max_attempts: ATTEMPTS,
    }
}

pub struct MediaWorker {
    media: Arc<MediaService>,
    store: Arc<dyn MediaStore>,
    jobs: Arc<dyn JobQueue>,
    /// The first retry's delay (doubling after).
    backoff: Duration,
    /// Signalled when this process enqueued a job.
    wake: Arc<Notify>,
    stats: Arc<JobStats>,
}

/// The job queue as last seen by this worker, and what it runs and ran, for `/metrics`.
#[derive(Debug, Default)]
pub struct JobStats {
    queued: AtomicI64,
    dead: AtomicI64,
    running: AtomicI64,
    ran: AtomicI64,
    retried: AtomicI64,
}

impl JobStats {
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# HELP veilgram_jobs Jobs waiting in the queue by state (as last seen by this process), \
             and jobs this process is running.\n\
             # TYPE veilgram_jobs gauge\n",
        );
        for (state, value) in [
            ("queued", &self.queued),
            ("dead", &self.dead),
            ("running", &self.running),
        ] {
            let _ = writeln!(
                out,
                "veilgram_jobs{{state=\"{state}\"}} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let count = |value: &AtomicI64| u64::try_from(value.load(Ordering::Relaxed)).unwrap_or(0);
        out.push_str(&veilgram_core::render_metrics(&[
            (
                "veilgram_jobs_run_total",
                "counter",
                "Jobs this process ran.",
                count(&self.ran),
            ),
            (
                "veilgram_jobs_retried_total",
                "counter",
                "Job attempts that failed and were retried or dead-lettered.",
                count(&self.retried),
            ),
        ]));
        out
    }

    fn record(&self, counts: &JobCounts) {
        self.queued.store(counts.queued, Ordering::Relaxed);
        self.dead.store(counts.dead, Ordering::Relaxed);
    }
}

impl MediaWorker {
    pub fn new(
        media: Arc<MediaService>,
        store: Arc<dyn MediaStore>,
        jobs: Arc<dyn JobQueue>,
        backoff: Duration,
    ) -> Self {
        let wake = media.enqueued();
        Self {
            media,
            store,
            jobs,
            backoff,
            wake,
            stats: Arc::default(),
        }
    }

    pub fn stats(&self) -> Arc<JobStats> {
        Arc::clone(&self.stats)
    }

    /// Reads the queue's counts by state for `/metrics` (the worker loop does this when idle;
    /// a process that runs no jobs calls it on a timer).
    pub async fn refresh_stats(&self) -> Result<(), MediaError> {
        self.stats.record(&self.jobs.counts().await?);
        Ok(())
    }

    /// Runs one job if one is due (an image's first: they are quick); answers whether one ran.
    pub async fn run_once(&self) -> Result<bool, MediaError> {
        let mut leased = None;
        for queue in [IMAGE_QUEUE, VIDEO_QUEUE] {
            leased = self.jobs.lease(queue).await?;
            if leased.is_some() {
                break;
            }
        }
        let Some(job) = leased else {
            self.refresh_stats().await?;
            return Ok(false);
        };
        self.stats.ran.fetch_add(1, Ordering::Relaxed);
        self.stats.running.fetch_add(1, Ordering::Relaxed);
        let handled = self.handle(&job).await;
        self.stats.running.fetch_sub(1, Ordering::Relaxed);
        handled.map(|()| true)
    }

    async fn handle(&self, job: &Job) -> Result<(), MediaError> {
        let Ok(task) = serde_json::from_str::<ProcessingJob>(&job.payload) else {
            // Nothing can make it readable: dead-lettered for an operator to look at.
            self.jobs.dead_letter(job, "unreadable payload").await?;
            return Ok(());
        };
        match self.process(&task).await {
            Ok(()) => {
                self.jobs.ack(job).await?;
                tracing::info!(media_id = %task.media_id, "a media job finished");
            }
            Err(
                error @ (MediaError::Processing(_)
                | MediaError::Refused(_)
                | MediaError::Undecodable(_)),
            ) => {
                tracing::info!(%error, media_id = %task.media_id, "an upload could not be processed");
                self.give_up(&task).await?;
                self.jobs.ack(job).await?;
                tracing::info!(media_id = %task.media_id, "a media job finished");
            }
            Err(error) => self.retry(job, &task, &error).await?,
        }
        Ok(())
    }

    async fn retry(
        &self,
        job: &Job,
        task: &ProcessingJob,
        error: &MediaError,
    ) -> Result<(), MediaError> {
        tracing::warn!(%error, media_id = %task.media_id, attempt = job.attempt, "a media job failed");
        self.stats.retried.fetch_add(1, Ordering::Relaxed);
        let retry = self
            .jobs
            .fail(job, &error.to_string(), backoff(self.backoff, job.attempt))
            .await?;
        if retry == Retry::DeadLettered {
            self.give_up(task).await?;
        }
        Ok(())
    }

    /// The upload failed: recorded so, and its original deleted.
    async fn give_up(&self, task: &ProcessingJob) -> Result<(), MediaError> {
        self.store
            .finish_processing(
                task.media_id,
                ProcessingOutcome::Failed,
                processed_event(task.media_id),
            )
            .await?;
        self.media.storage().delete(&task.original).await
    }

    async fn process(&self, task: &ProcessingJob) -> Result<(), MediaError> {
        let Some(media) = self.store.media(task.media_id).await? else {
            return Ok(()); // discarded meanwhile
        };
        if media.status != "processing" {
            return Ok(()); // a redelivered job that already ran
        }
        let format = Format::from_name(&task.format)
            .ok_or_else(|| MediaError::Processing("unknown format".into()))?;
        let settings = self.media.settings();
        let work = tempfile::tempdir_in(&settings.work_dir).map_err(MediaError::Io)?;
        let input = work.path().join("input");
        self.media
            .storage()
            .download(&task.original, &input)
            .await?;
        let mut objects = Vec::new();
        let outcome = match format.kind() {
            crate::sniff::Kind::Image => {
                let image = self.media.decode_image(&input, format).await?;
                let stored = self
                    .store_images(task.media_id, image.variants, &mut objects)
                    .await;
                stored.map(|()| ProcessingOutcome::Ready {
                    width: i64::from(image.width),
                    height: i64::from(image.height),
                    duration_ms: None,
                    blurhash: Some(image.blurhash),
                    objects: objects.clone(),
                })
            }
            crate::sniff::Kind::Video => {
                let transcoded =
                    crate::video::transcode(&input, format, work.path(), &settings.video).await?;
                let poster = self
                    .media
                    .decode_image(&transcoded.poster, Format::Png)
                    .await?;
                let stored = self
                    .store_variants(
                        task.media_id,
                        &transcoded.video,
                        poster.variants,
                        &mut objects,
                    )
                    .await;
                stored.map(|()| ProcessingOutcome::Ready {
                    width: i64::from(transcoded.width),
                    height: i64::from(transcoded.height),
                    duration_ms: Some(transcoded.duration_ms),
                    blurhash: None,
                    objects: objects.clone(),
                })
            }
        };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                self.delete(&objects).await;
                return Err(error);
            }
        };
        let finished = self
            .store
            .finish_processing(task.media_id, outcome, processed_event(task.media_id))
            .await;
        match finished {
            Ok(true) => self.media.storage().delete(&task.original).await,
            Ok(false) => {
                self.delete(&objects).await;
                Ok(())
            }
            Err(error) => {
                self.delete(&objects).await;
                Err(error.into())
            }
        }
    }

    async fn store_variants(
        &self,
        media_id: MediaId,
        video: &std::path::Path,
        poster: Vec<crate::image::Variant>,
        objects: &mut Vec<StoredObject>,
    ) -> Result<(), MediaError> {
        let video_object = StoredObject {
            key: new_key("m", "mp4"),
            media_id,
            variant: "video".to_owned(),
            content_type: "video/mp4".to_owned(),
            size: std::fs::metadata(video).map_err(MediaError::Io)?.len() as i64,
            etag: file_digest(video).await?,
        };
        self.media
            .storage()
            .put_file(&video_object.key, video)
            .await?;
        objects.push(video_object);
        // The poster's display size is the poster; its thumbnail the thumbnail.
        let poster = poster.into_iter().map(|mut variant| {
            if variant.name == "display" {
                variant.name = "poster";
            }
            variant
        });
        self.store_images(media_id, poster.collect(), objects).await
    }

    /// Stores rendered images as the upload's variants, each checked for metadata first.
    async fn store_images(
        &self,
        media_id: MediaId,
        variants: Vec<crate::image::Variant>,
        objects: &mut Vec<StoredObject>,
    ) -> Result<(), MediaError> {
        for variant in variants {
            if let Some(found) = metadata::leftover_metadata(&variant.bytes) {
                return Err(MediaError::Processing(format!("an encoder left {found}")));
            }
            let object = StoredObject {
                key: new_key("m", crate::extension_of(variant.content_type)),
                media_id,
                variant: variant.name.to_owned(),
                content_type: variant.content_type.to_owned(),
                size: variant.bytes.len() as i64,
                etag: etag_of(&variant.bytes),
            };
            self.media.storage().put(&object.key, variant.bytes).await?;
            objects.push(object);
        }
        Ok(())
    }

    async fn delete(&self, objects: &[StoredObject]) {
        for object in objects {
            if let Err(error) = self.media.storage().delete(&object.key).await {
                tracing::warn!(%error, "a stored file of a failed media job was left behind");
            }
        }
    }

    /// Runs jobs until `stop` says so (the job under way is finished first): at once when
    /// woken, else every `interval`.
    pub fn spawn(
        self: Arc<Self>,
        interval: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            while !*stop.borrow() {
                match self.run_once().await {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(error) => tracing::warn!(%error, "the media worker failed; retrying"),
                }
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(interval) => {}
                    _ = stop.changed() => {}
                }
            }
        })
    }
}

fn processed_event(media_id: MediaId) -> EventFor<PostId> {
    Arc::new(move |post_id| {
        EventEnvelope::new(
            None,
            Timestamp::now(),
            DomainEvent::MediaProcessed { media_id, post_id },
        )
    })
}

/// The SHA-256 of a file, hex, read in parts.
async fn file_digest(path: &std::path::Path) -> Result<String, MediaError> {
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::File::open(path).await.map_err(MediaError::Io)?;
    let mut digest = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).await.map_err(MediaError::Io)?;
        if read == 0 {
            break;
        }
        digest.update(&buffer[..read]);
    }
    Ok(veilgram_core::hex(&digest.finalize()))
}
