//! `MediaStore` on the relational engines: uploads, their stored files, and attachment to
//! posts. Discarding is a date on the upload (`discard_after`): set a day ahead at upload,
//! cleared on attachment, set to now when the post or the owner goes; a collector deletes the
//! files of what is due and then the rows.

use crate::events::append_to_outbox;
use crate::jobs::insert_job;
use crate::store::{column, id_column, numbered_placeholders, translate, WriteTransaction};
use crate::SqlStore;
use async_trait::async_trait;
use sqlx::any::AnyRow;
use std::collections::HashMap;
use veilgram_core::events::EventFor;
use veilgram_core::jobs::NewJob;
use veilgram_core::ports::{
    Created, IdempotencyKey, MediaRecord, MediaStore, ProcessingOutcome, StoredObject,
};
use veilgram_core::{MediaId, PostId, StoreError, Timestamp, UserId};

/// How long an upload nobody attached is kept.
pub const UNATTACHED_FOR_MILLIS: i64 = 24 * 3600 * 1000;

const MEDIA_COLUMNS: &str = "m.id, m.owner_id, m.kind, m.status, m.width, m.height, \
     m.duration_ms, m.blurhash, m.bytes, m.post_id, m.alt, \
     (SELECT o.key FROM media_objects o WHERE o.media_id = m.id \
      AND o.variant IN ('display', 'video')) AS display_key, \
     (SELECT o.key FROM media_objects o WHERE o.media_id = m.id \
      AND o.variant = 'thumbnail') AS thumbnail_key, \
     (SELECT o.key FROM media_objects o WHERE o.media_id = m.id \
      AND o.variant = 'poster') AS poster_key";

fn media_from_row(row: &AnyRow) -> Result<MediaRecord, StoreError> {
    Ok(MediaRecord {
        id: id_column(row, "id")?,
        owner_id: id_column(row, "owner_id")?,
        kind: column(row, "kind")?,
        status: column(row, "status")?,
        width: column(row, "width")?,
        height: column(row, "height")?,
        duration_ms: column(row, "duration_ms")?,
        blurhash: column(row, "blurhash")?,
        key: column(row, "display_key")?,
        thumbnail_key: column(row, "thumbnail_key")?,
        poster_key: column(row, "poster_key")?,
        bytes: column(row, "bytes")?,
        alt: column(row, "alt")?,
    })
}

fn object_from_row(row: &AnyRow) -> Result<StoredObject, StoreError> {
    Ok(StoredObject {
        key: column(row, "key")?,
        media_id: id_column(row, "media_id")?,
        variant: column(row, "variant")?,
        content_type: column(row, "content_type")?,
        size: column(row, "size")?,
        etag: column(row, "etag")?,
    })
}

async fn insert_objects(
    transaction: &mut WriteTransaction,
    objects: &[StoredObject],
) -> Result<(), StoreError> {
    for object in objects {
        sqlx::query(
            "INSERT INTO media_objects (key, media_id, variant, content_type, size, etag) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(object.key.as_str())
        .bind(object.media_id.to_string())
        .bind(object.variant.as_str())
        .bind(object.content_type.as_str())
        .bind(object.size)
        .bind(object.etag.as_str())
        .execute(&mut **transaction)
        .await
        .map_err(translate)?;
    }
    Ok(())
}

/// Attaches `media` (in that order) to a post being created by `owner`, inside its
/// transaction: each must be the owner's, unattached, not failed and not due for discarding.
pub(crate) async fn attach_to_post(
    transaction: &mut WriteTransaction,
    post_id: PostId,
    owner: UserId,
    media: &[MediaId],
    now: Timestamp,
) -> Result<Vec<MediaRecord>, StoreError> {
    for (position, id) in media.iter().enumerate() {
        let attached = sqlx::query(
            "UPDATE media SET post_id = $1, position = $2, discard_after = NULL \
             WHERE id = $3 AND owner_id = $4 AND post_id IS NULL AND status <> 'failed' \
             AND discard_after > $5",
        )
        .bind(post_id.to_string())
        .bind(position as i64)
        .bind(id.to_string())
        .bind(owner.to_string())
        .bind(now.as_millis())
        .execute(&mut **transaction)
        .await
        .map_err(translate)?;
        if attached.rows_affected() != 1 {
            return Err(StoreError::NotFound);
        }
    }
    if media.is_empty() {
        return Ok(Vec::new());
    }
    let sql =
        format!("SELECT {MEDIA_COLUMNS} FROM media m WHERE m.post_id = $1 ORDER BY m.position");
    let rows = sqlx::query(&sql)
        .bind(post_id.to_string())
        .fetch_all(&mut **transaction)
        .await
        .map_err(translate)?;
    rows.iter().map(media_from_row).collect()
}

/// Makes `media` (a ready image of `owner`'s, on no post) the owner's avatar: the users row
/// keeps its thumbnail's key, and the previous avatar's upload is discarded.
pub(crate) async fn set_avatar(
    transaction: &mut WriteTransaction,
    owner: UserId,
    media: MediaId,
    now: Timestamp,
) -> Result<(), StoreError> {
    let key: Option<String> = sqlx::query_scalar(
        "SELECT o.key FROM media m JOIN media_objects o ON o.media_id = m.id \
         WHERE m.id = $1 AND m.owner_id = $2 AND m.kind = 'image' AND m.status = 'ready' \
         AND m.post_id IS NULL AND (m.discard_after IS NULL OR m.discard_after > $3) \
         AND o.variant = 'thumbnail'",
    )
    .bind(media.to_string())
    .bind(owner.to_string())
    .bind(now.as_millis())
    .fetch_optional(&mut **transaction)
    .await
    .map_err(translate)?;
    let key = key.ok_or(StoreError::NotFound)?;
    sqlx::query(
        "UPDATE media SET discard_after = $1 WHERE owner_id = $2 AND id <> $3 AND id IN \
         (SELECT o.media_id FROM media_objects o JOIN users u ON u.avatar_media_id = o.key \
          WHERE u.id = $2)",
    )
    .bind(now.as_millis())
    .bind(owner.to_string())
    .bind(media.to_string())
    .execute(&mut **transaction)
    .await
    .map_err(translate)?;
    sqlx::query("UPDATE media SET discard_after = NULL WHERE id = $1")
        .bind(media.to_string())
        .execute(&mut **transaction)
        .await
        .map_err(translate)?;
    sqlx::query("UPDATE users SET avatar_media_id = $1 WHERE id = $2")
        .bind(key)
        .bind(owner.to_string())
        .execute(&mut **transaction)
        .await
        .map_err(translate)?;
    Ok(())
}

/// Marks for discarding at once the uploads of a post being deleted, or of an owner.
pub(crate) async fn discard_now(
    transaction: &mut WriteTransaction,
    whose: Discard,
    now: Timestamp,
) -> Result<(), StoreError> {
    let (condition, id) = match whose {
        Discard::OfPost(post) => ("post_id = $2", post.to_string()),
        Discard::OfOwner(owner) => ("owner_id = $2", owner.to_string()),
    };
    let sql = format!("UPDATE media SET discard_after = $1 WHERE {condition}");
    sqlx::query(&sql)
        .bind(now.as_millis())
        .bind(id)
        .execute(&mut **transaction)
        .await
        .map_err(translate)?;
    Ok(())
}

pub(crate) enum Discard {
    OfPost(PostId),
    OfOwner(UserId),
}

impl SqlStore {
    /// The media of each of `posts`, in attachment order: one query.
    pub(crate) async fn media_of_posts(
        &self,
        posts: &[PostId],
    ) -> Result<HashMap<PostId, Vec<MediaRecord>>, StoreError> {
        let mut found: HashMap<PostId, Vec<MediaRecord>> = HashMap::new();
        if posts.is_empty() {
            return Ok(found);
        }
        let sql = format!(
            "SELECT {MEDIA_COLUMNS} FROM media m WHERE m.post_id IN ({}) \
             ORDER BY m.post_id, m.position",
            numbered_placeholders(1, posts.len())
        );
        let mut query = sqlx::query(&sql);
        for post in posts {
            query = query.bind(post.to_string());
        }
        for row in query.fetch_all(&self.pool).await.map_err(translate)? {
            let post: PostId = id_column(&row, "post_id")?;
            found.entry(post).or_default().push(media_from_row(&row)?);
        }
        Ok(found)
    }
}

#[async_trait]
impl MediaStore for SqlStore {
    async fn storage_used(&self, owner: UserId) -> Result<i64, StoreError> {
        let used: Option<i64> =
            sqlx::query_scalar("SELECT CAST(SUM(bytes) AS BIGINT) FROM media WHERE owner_id = $1")
                .bind(owner.to_string())
                .fetch_one(&self.pool)
                .await
                .map_err(translate)?;
        Ok(used.unwrap_or(0))
    }

    async fn create_media(
        &self,
        media: MediaRecord,
        objects: Vec<StoredObject>,
        job: Option<NewJob>,
        idempotency: Option<IdempotencyKey>,
        now: Timestamp,
    ) -> Result<Created<MediaRecord>, StoreError> {
        let mut transaction = self.begin_write().await?;
        if let Some(key) = &idempotency {
            let resource = media.id.to_string();
            if let Some(earlier) =
                crate::idempotency::claim(&mut transaction, key, &resource, now).await?
            {
                transaction.commit().await?;
                let earlier: MediaId = earlier.parse().map_err(|_| {
                    StoreError::Unavailable("stored resource id is not an id".into())
                })?;
                let earlier = self.media(earlier).await?.ok_or(StoreError::NotFound)?;
                return Ok(Created::Replayed(earlier));
            }
        }
        sqlx::query(
            "INSERT INTO media (id, owner_id, kind, status, width, height, duration_ms, blurhash, \
             bytes, created_at, discard_after) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(media.id.to_string())
        .bind(media.owner_id.to_string())
        .bind(media.kind.as_str())
        .bind(media.status.as_str())
        .bind(media.width)
        .bind(media.height)
        .bind(media.duration_ms)
        .bind(media.blurhash.as_deref())
        .bind(media.bytes)
        .bind(now.as_millis())
        .bind(now.as_millis() + UNATTACHED_FOR_MILLIS)
        .execute(&mut *transaction)
        .await
        .map_err(translate)?;
        insert_objects(&mut transaction, &objects).await?;
        if let Some(job) = &job {
            insert_job(&mut transaction, job, now).await?;
        }
        transaction.commit().await?;
        let created = self.media(media.id).await?.ok_or(StoreError::NotFound)?;
        Ok(Created::New(created))
    }

    async fn media(&self, id: MediaId) -> Result<Option<MediaRecord>, StoreError> {
        let sql = format!("SELECT {MEDIA_COLUMNS} FROM media m WHERE m.id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(translate)?;
        row.as_ref().map(media_from_row).transpose()
    }

    async fn describe_media(
        &self,
        id: MediaId,
        owner: UserId,
        alt: Option<&str>,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE media SET alt = $1 WHERE id = $2 AND owner_id = $3 AND post_id IS NULL",
        )
        .bind(alt.map(str::to_owned))
        .bind(id.to_string())
        .bind(owner.to_string())
        .execute(&self.pool)
        .await
        .map_err(translate)?;
        Ok(updated.rows_affected() == 1)
    }

    async fn object(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        let row = sqlx::query(
            "SELECT key, media_id, variant, content_type, size, etag FROM media_objects \
             WHERE key = $1 AND variant <> 'original'",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(translate)?;
        row.as_ref().map(object_from_row).transpose()
    }

    async fn objects_of(&self, id: MediaId) -> Result<Vec<StoredObject>, StoreError> {
        let rows = sqlx::query(
            "SELECT key, media_id, variant, content_type, size, etag FROM media_objects \
             WHERE media_id = $1",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(translate)?;
        rows.iter().map(object_from_row).collect()
    }

    async fn finish_processing(
        &self,
        id: MediaId,
        outcome: ProcessingOutcome,
        event: EventFor<PostId>,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.begin_write().await?;
        let (status, width, height, duration, blurhash, objects) = match &outcome {
            ProcessingOutcome::Ready {
                width,
                height,
                duration_ms,
                blurhash,
                objects,
            } => (
                "ready",
                Some(*width),
                Some(*height),
                *duration_ms,
                blurhash.as_deref(),
                objects.as_slice(),
            ),
            ProcessingOutcome::Failed => ("failed", None, None, None, None, &[][..]),
        };
        let stored: i64 = objects.iter().map(|object| object.size).sum();
        let post: Option<Option<String>> = sqlx::query_scalar(
            "UPDATE media SET status = $1, width = $2, height = $3, duration_ms = $4, bytes = $5, \
             blurhash = $6 WHERE id = $7 AND status = 'processing' RETURNING post_id",
        )
        .bind(status)
        .bind(width)
        .bind(height)
        .bind(duration)
        .bind(stored)
        .bind(blurhash)
        .bind(id.to_string())
        .fetch_optional(&mut *transaction)
        .await
        .map_err(translate)?;
        let Some(post) = post else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM media_objects WHERE media_id = $1 AND variant = 'original'")
            .bind(id.to_string())
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        insert_objects(&mut transaction, objects).await?;
        if let Some(post) = post {
            let post: PostId = post
                .parse()
                .map_err(|_| StoreError::Unavailable("stored post id is not an id".into()))?;
            append_to_outbox(&mut transaction, &event(post)).await?;
        }
        transaction.commit().await?;
        Ok(true)
    }

    async fn discardable(
        &self,
        now: Timestamp,
        limit: i64,
    ) -> Result<Vec<(MediaId, Vec<String>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT m.id, o.key FROM media m LEFT JOIN media_objects o ON o.media_id = m.id \
             WHERE m.id IN (SELECT d.id FROM media d WHERE d.discard_after <= $1 \
                            ORDER BY d.discard_after LIMIT $2) \
             ORDER BY m.id",
        )
        .bind(now.as_millis())
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(translate)?;
        let mut due: Vec<(MediaId, Vec<String>)> = Vec::new();
        for row in &rows {
            let id: MediaId = id_column(row, "id")?;
            let key: Option<String> = column(row, "key")?;
            if due.last().is_none_or(|(last, _)| *last != id) {
                due.push((id, Vec::new()));
            }
            if let (Some(key), Some((_, keys))) = (key, due.last_mut()) {
                keys.push(key);
            }
        }
        Ok(due)
    }

    async fn forget_media(&self, ids: &[MediaId]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "DELETE FROM media WHERE id IN ({})",
            numbered_placeholders(1, ids.len())
        );
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(id.to_string());
        }
        let mut transaction = self.begin_write().await?;
        query.execute(&mut *transaction).await.map_err(translate)?;
        transaction.commit().await
    }
}
