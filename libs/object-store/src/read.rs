//! Reading objects: HEAD, streaming GETs into a spool file or through a hasher, small objects
//! into memory, listings and presigned URLs.

use std::path::Path;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use crate::chunks::{BodySource, ChunkSource as _, hash_blocking};
use crate::client::{Head, Store};
use crate::error::StoreError;
use crate::hashing::{Digests, StreamHasher};

impl Store {
    /// HEAD an object; `None` when it does not exist.
    ///
    /// # Errors
    /// Unreachable server or refused request.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<Option<Head>, StoreError> {
        match self.client.head_object().bucket(bucket).key(key).send().await {
            Ok(o) => Ok(Some(Head {
                size: o.content_length().and_then(|l| u64::try_from(l).ok()).unwrap_or(0),
                metadata: o.metadata().cloned().unwrap_or_default(),
            })),
            Err(e) => match self.err("head", bucket, key, e) {
                StoreError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Streams an object into a local file, hashing the bytes on the way.
    ///
    /// # Errors
    /// Missing object, unreachable server, local I/O.
    pub async fn download_to_file(&self, bucket: &str, key: &str, path: &Path) -> Result<Digests, StoreError> {
        let mut src = self.open(bucket, key).await?;
        let io = |op, e| StoreError::Io { op, path: path.to_owned(), source: e };
        let mut file = tokio::fs::File::create(path).await.map_err(|e| io("create", e))?;
        let mut hasher = StreamHasher::new();
        // The next block arrives while this one is hashed and written: two blocks in memory.
        let mut data = src.fill(8 << 20).await?;
        while !data.is_empty() {
            let block = data.clone();
            let (next, (h, written)) = tokio::join!(src.fill(8 << 20), async {
                tokio::join!(hash_blocking(hasher, block), file.write_all(&data))
            });
            hasher = h;
            written.map_err(|e| io("write", e))?;
            data = next?;
        }
        file.flush().await.map_err(|e| io("flush", e))?;
        file.sync_all().await.map_err(|e| io("sync", e))?;
        Ok(hasher.finish())
    }

    /// GET an object as a block source.
    pub(crate) async fn open(&self, bucket: &str, key: &str) -> Result<BodySource, StoreError> {
        let out = self.get(bucket, key).await?;
        Ok(BodySource {
            body: out.body,
            bucket: bucket.into(),
            key: key.into(),
            endpoint: self.endpoint.clone(),
            pending: Bytes::new(),
        })
    }

    /// One GET, its error mapped.
    async fn get(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, StoreError> {
        self.client.get_object().bucket(bucket).key(key).send().await.map_err(|e| self.err("get", bucket, key, e))
    }

    /// Reads a small object into memory (reports, records), refusing more than `limit` bytes.
    ///
    /// # Errors
    /// Missing, too large, unreachable.
    pub async fn get_bytes(&self, bucket: &str, key: &str, limit: u64) -> Result<Bytes, StoreError> {
        let out = self.get(bucket, key).await?;
        let size = out.content_length().and_then(|l| u64::try_from(l).ok()).unwrap_or(0);
        if size > limit {
            return Err(StoreError::TooLarge { bucket: bucket.into(), key: key.into(), size, limit });
        }
        let data = out.body.collect().await.map_err(|e| StoreError::Unreachable {
            endpoint: self.endpoint.to_string(),
            op: "get body",
            bucket: bucket.into(),
            key: key.into(),
            detail: e.to_string(),
        })?;
        let data = data.into_bytes();
        crate::chunks::count_received(data.len());
        Ok(data)
    }

    /// Streams an object and returns its size and digests (verification read).
    ///
    /// # Errors
    /// Missing, unreachable.
    pub async fn hash_object(&self, bucket: &str, key: &str) -> Result<Digests, StoreError> {
        let mut src = self.open(bucket, key).await?;
        let mut hasher = StreamHasher::new();
        loop {
            let chunk = src.fill(8 << 20).await?;
            if chunk.is_empty() {
                break;
            }
            hasher = hash_blocking(hasher, chunk).await;
        }
        Ok(hasher.finish())
    }

    /// A URL that lets its holder GET one object until `expires` has passed (SigV4 presigned).
    ///
    /// # Errors
    /// An expiry the signer refuses (over 7 days).
    pub async fn presign_get(
        &self,
        bucket: &str,
        key: &str,
        expires: std::time::Duration,
    ) -> Result<String, StoreError> {
        let cfg = aws_sdk_s3::presigning::PresigningConfig::expires_in(expires).map_err(|e| StoreError::Service {
            op: "presign",
            bucket: bucket.into(),
            key: key.into(),
            code: "InvalidExpiry".into(),
            message: e.to_string().into(),
            status: None,
            asked: Box::new(self.asked()),
        })?;
        let req = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(cfg)
            .await
            .map_err(|e| self.err("presign", bucket, key, e))?;
        Ok(req.uri().to_owned())
    }

    /// Keys under `prefix`, in key order.
    ///
    /// # Errors
    /// Unreachable or refused.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.err("list", bucket, prefix, e))?;
            for o in page.contents() {
                if let Some(k) = o.key() {
                    out.push((k.to_owned(), o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0)));
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => break,
            }
        }
        out.sort();
        Ok(out)
    }
}
