//! Bytes in blocks of at most one part, from a local file or an object's body, hashed off the
//! async threads: what keeps memory flat whatever the object's size.

use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use bytes::{Bytes, BytesMut};
use tokio::io::AsyncReadExt;

use crate::error::StoreError;
use crate::hashing::StreamHasher;

static RECEIVED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Object body bytes this process has received from S3 since it started (every GET: streamed,
/// downloaded, hashed or read whole). What the sealer's one-read claim is measured with.
pub fn received_bytes() -> u64 {
    RECEIVED.load(std::sync::atomic::Ordering::Relaxed)
}

pub(crate) fn count_received(n: usize) {
    RECEIVED.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
}

pub(crate) async fn hash_blocking(mut h: StreamHasher, data: Bytes) -> StreamHasher {
    match tokio::task::spawn_blocking(move || {
        h.update(&data);
        h
    })
    .await
    {
        Ok(h) => h,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// A source of bytes delivered in blocks of up to `n`.
pub(crate) trait ChunkSource: Send {
    /// Returns up to `n` bytes; fewer only at the end.
    fn fill(&mut self, n: usize) -> impl std::future::Future<Output = Result<Bytes, StoreError>> + Send;
}

pub(crate) struct FileSource {
    pub(crate) file: tokio::fs::File,
    pub(crate) path: std::path::PathBuf,
}

impl ChunkSource for FileSource {
    async fn fill(&mut self, n: usize) -> Result<Bytes, StoreError> {
        let mut buf = BytesMut::zeroed(n);
        let mut filled = 0;
        while filled < n {
            let r = self.file.read(&mut buf[filled..]).await.map_err(|e| StoreError::Io {
                op: "read",
                path: self.path.clone(),
                source: e,
            })?;
            if r == 0 {
                break;
            }
            filled += r;
        }
        buf.truncate(filled);
        Ok(buf.freeze())
    }
}

pub(crate) struct BodySource {
    pub(crate) body: ByteStream,
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) endpoint: Arc<str>,
    pub(crate) pending: Bytes,
}

impl ChunkSource for BodySource {
    async fn fill(&mut self, n: usize) -> Result<Bytes, StoreError> {
        let mut buf = BytesMut::with_capacity(n);
        loop {
            if !self.pending.is_empty() {
                let take = (n - buf.len()).min(self.pending.len());
                buf.extend_from_slice(&self.pending.split_to(take));
            }
            if buf.len() >= n {
                return Ok(buf.freeze());
            }
            match self.body.try_next().await {
                Ok(Some(c)) => {
                    count_received(c.len());
                    self.pending = c;
                }
                Ok(None) => return Ok(buf.freeze()),
                Err(e) => {
                    return Err(StoreError::Unreachable {
                        endpoint: self.endpoint.to_string(),
                        op: "get body",
                        bucket: self.bucket.clone(),
                        key: self.key.clone(),
                        detail: e.to_string(),
                    });
                }
            }
        }
    }
}
