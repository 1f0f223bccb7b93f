//! The object storage port: stored files by key, on the local file system (the embedded
//! default) or an S3-compatible server, both through the `object_store` crate. Keys are made
//! here, at random; nothing a client sent ever becomes part of one.

use crate::MediaError;
use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, GetResult, ObjectStore, PutPayload};
use rand::RngCore;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use veilgram_core::ports::HealthCheck;
use veilgram_core::StoreError;

/// Where stored files go.
#[derive(Clone, Debug)]
pub enum StorageConfig {
    /// A directory of the local file system.
    Local(PathBuf),
    /// An S3-compatible server (path-style requests).
    S3 {
        endpoint: String,
        bucket: String,
        access_key: String,
        secret_key: String,
        region: String,
    },
}

/// Files are written and read in parts of this size.
const PART: usize = 8 * 1024 * 1024;

#[derive(Clone)]
pub struct MediaStorage {
    store: Arc<dyn ObjectStore>,
    name: &'static str,
}

fn storage_error(error: object_store::Error) -> MediaError {
    MediaError::Storage(error.to_string())
}

/// A new random key: `<prefix><32 hex digits>.<extension>`, one path segment (`m` for
/// served files, `o` for originals).
pub fn new_key(prefix: &str, extension: &str) -> String {
    let mut random = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut random);
    format!("{prefix}{}.{extension}", veilgram_core::hex(&random))
}

impl MediaStorage {
    pub fn open(config: &StorageConfig) -> Result<Self, MediaError> {
        match config {
            StorageConfig::Local(directory) => {
                std::fs::create_dir_all(directory).map_err(MediaError::Io)?;
                let store = LocalFileSystem::new_with_prefix(directory).map_err(storage_error)?;
                Ok(Self {
                    store: Arc::new(store),
                    name: "local",
                })
            }
            StorageConfig::S3 {
                endpoint,
                bucket,
                access_key,
                secret_key,
                region,
            } => {
                let store = AmazonS3Builder::new()
                    .with_endpoint(endpoint)
                    .with_bucket_name(bucket)
                    .with_access_key_id(access_key)
                    .with_secret_access_key(secret_key)
                    .with_region(region)
                    .with_allow_http(endpoint.starts_with("http://"))
                    .with_virtual_hosted_style_request(false)
                    .build()
                    .map_err(storage_error)?;
                Ok(Self {
                    store: Arc::new(store),
                    name: "s3",
                })
            }
        }
    }

    /// `local` or `s3`, for logs and readiness.
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), MediaError> {
        self.store
            .put(&ObjectPath::from(key), PutPayload::from(bytes))
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    /// Stores a file without holding it in memory (a multipart upload, part by part).
    pub async fn put_file(&self, key: &str, path: &Path) -> Result<(), MediaError> {
        let mut file = tokio::fs::File::open(path).await.map_err(MediaError::Io)?;
        let mut upload = self
            .store
            .put_multipart(&ObjectPath::from(key))
            .await
            .map_err(storage_error)?;
        loop {
            let mut part = Vec::with_capacity(PART);
            let read = (&mut file)
                .take(PART as u64)
                .read_to_end(&mut part)
                .await
                .map_err(MediaError::Io)?;
            if read == 0 {
                break;
            }
            if let Err(error) = upload.put_part(PutPayload::from(part)).await {
                let _ = upload.abort().await;
                return Err(storage_error(error));
            }
        }
        upload.complete().await.map_err(storage_error)?;
        Ok(())
    }

    /// The bytes of `key` in `range` (all of them if `None`), as a stream.
    pub async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<GetResult, MediaError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        self.store
            .get_opts(&ObjectPath::from(key), options)
            .await
            .map_err(|error| match error {
                object_store::Error::NotFound { .. } => MediaError::NotFound,
                other => storage_error(other),
            })
    }

    /// Copies `key` into the file at `path`, part by part.
    pub async fn download(&self, key: &str, path: &Path) -> Result<(), MediaError> {
        let mut stream = self.get(key, None).await?.into_stream();
        let mut file = tokio::fs::File::create(path)
            .await
            .map_err(MediaError::Io)?;
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk.map_err(storage_error)?)
                .await
                .map_err(MediaError::Io)?;
        }
        file.flush().await.map_err(MediaError::Io)
    }

    /// Deletes `key`; a key already gone is no error (deleting is retried after crashes).
    pub async fn delete(&self, key: &str) -> Result<(), MediaError> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(storage_error(error)),
        }
    }

    /// Whether the store answers (a key that is never written is looked up).
    pub async fn ping(&self) -> Result<(), MediaError> {
        self.exists("health-check").await.map(|_| ())
    }

    /// Whether `key` is stored.
    pub async fn exists(&self, key: &str) -> Result<bool, MediaError> {
        match self.store.head(&ObjectPath::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(storage_error(error)),
        }
    }
}

/// `/readyz`: the object store answers.
#[async_trait::async_trait]
impl HealthCheck for MediaStorage {
    fn name(&self) -> &'static str {
        "object storage"
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.ping()
            .await
            .map_err(|error| StoreError::Unavailable(error.to_string()))
    }
}
