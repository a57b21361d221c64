//! The evidence bucket as the sealer uses it: objects fetched from the earlier stages into the
//! spool and checked against what those stages announced, stored write-once (put-if-absent,
//! Object Lock), an object an earlier attempt stored reused, and every object read back.

use std::path::Path;
use std::time::Instant;

use bytes::Bytes;
use evidence_contracts::seal::{ObjectRole, PackageObjectV1};
use evidence_contracts::transcode::ObjectV1;
use object_store::{Digests, Expected, Head, Lock, PutOpts, Store, StoreError};

use crate::error::SealError;
use crate::{metrics, package};

/// The evidence bucket (the sealer is its only writer).
#[derive(Clone)]
pub(crate) struct EvidenceBucket {
    pub(crate) store: Store,
    pub(crate) name: String,
}

impl EvidenceBucket {
    /// HEAD of a package object; `None` when it is not stored yet.
    pub(crate) async fn head(&self, what: &'static str, key: &str) -> Result<Option<Head>, SealError> {
        self.store.head(&self.name, key).await.map_err(|source| SealError::Store { what, source })
    }

    pub(crate) fn opts(role: ObjectRole, content_type: Option<&str>, lock: Lock) -> PutOpts {
        PutOpts {
            if_absent: true,
            content_type: content_type.map(str::to_owned),
            metadata: vec![(
                "role".into(),
                serde_json::to_value(role).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            )],
            lock: Some(lock),
        }
    }

    /// Downloads an object already in the evidence bucket (stored by an earlier attempt) into the
    /// spool, to be validated like a fresh one.
    pub(crate) async fn fetch_stored(&self, what: &'static str, key: &str, path: &Path) -> Result<Digests, SealError> {
        self.store.download_to_file(&self.name, key, path).await.map_err(|source| SealError::Store { what, source })
    }

    /// Downloads a staged object into the spool and checks it is what the earlier stage announced.
    pub(crate) async fn fetch(&self, what: &'static str, src: &ObjectV1, path: &Path) -> Result<Digests, SealError> {
        let d = self
            .store
            .download_to_file(&src.object.bucket, &src.object.key, path)
            .await
            .map_err(|source| SealError::Store { what, source })?;
        if d.size != src.size_bytes || d.blake3 != src.blake3 {
            return Err(SealError::Store {
                what,
                source: StoreError::Mismatch {
                    bucket: src.object.bucket.clone(),
                    key: src.object.key.clone(),
                    what: if d.size == src.size_bytes { "BLAKE3" } else { "size" },
                    expected: format!("{} bytes, BLAKE3 {}", src.size_bytes, src.blake3),
                    actual: format!("{} bytes, BLAKE3 {}", d.size, d.blake3),
                },
            });
        }
        if d.sha256 != src.sha256 {
            return Err(SealError::Sha256Mismatch { what, expected: src.sha256.to_hex(), actual: d.sha256.to_hex() });
        }
        Ok(d)
    }

    pub(crate) async fn put_file(
        &self,
        what: &'static str,
        key: &str,
        path: &Path,
        d: Digests,
        opts: &PutOpts,
    ) -> Result<Digests, SealError> {
        let started = Instant::now();
        let stored = self
            .store
            .upload_file(
                &self.name,
                key,
                path,
                Some(Expected { size: d.size, blake3: d.blake3, sha256: Some(d.sha256) }),
                opts,
            )
            .await
            .map_err(|source| SealError::Store { what, source })?;
        if stored.created {
            metrics::stored(stored.digests.size, started.elapsed().as_secs_f64());
        }
        Ok(stored.digests)
    }

    /// Stores a small generated object (sidecar), or returns the one an earlier attempt stored.
    pub(crate) async fn put_generated(
        &self,
        what: &'static str,
        key: &str,
        bytes: Vec<u8>,
        opts: &PutOpts,
    ) -> Result<Vec<u8>, SealError> {
        match self.store.put_bytes(&self.name, key, Bytes::from(bytes.clone()), opts).await {
            Ok(_) => Ok(bytes),
            Err(StoreError::Conflict { .. }) => self.get_small(what, key).await,
            Err(source) => Err(SealError::Store { what, source }),
        }
    }

    pub(crate) async fn get_small(&self, what: &'static str, key: &str) -> Result<Vec<u8>, SealError> {
        self.store
            .get_bytes(&self.name, key, 256 << 20)
            .await
            .map(|b| b.to_vec())
            .map_err(|source| SealError::Store { what, source })
    }

    pub(crate) async fn digests_of_stored(&self, what: &'static str, key: &str) -> Result<Digests, SealError> {
        self.store.hash_object(&self.name, key).await.map_err(|source| SealError::Store { what, source })
    }

    pub(crate) async fn copy_in(
        &self,
        what: &'static str,
        role: ObjectRole,
        src: &ObjectV1,
        key: String,
        opts: &PutOpts,
    ) -> Result<PackageObjectV1, SealError> {
        let started = Instant::now();
        let stored = self
            .store
            .copy_verified(
                &src.object.bucket,
                &src.object.key,
                &self.name,
                &key,
                Some(Expected { size: src.size_bytes, blake3: src.blake3, sha256: Some(src.sha256) }),
                opts,
            )
            .await
            .map_err(|source| SealError::Store { what, source })?;
        if stored.digests.sha256 != src.sha256 {
            return Err(SealError::Sha256Mismatch {
                what,
                expected: src.sha256.to_hex(),
                actual: stored.digests.sha256.to_hex(),
            });
        }
        if stored.created {
            metrics::stored(stored.digests.size, started.elapsed().as_secs_f64());
        }
        Ok(package::object(role, None, key, stored.digests))
    }

    pub(crate) async fn read_back(&self, o: &PackageObjectV1) -> Result<(), SealError> {
        let bucket = self.name.as_str();
        let head = self
            .store
            .head(bucket, &o.key)
            .await
            .map_err(|source| SealError::Store { what: "package object", source })?;
        match head {
            Some(h) if h.size == o.size_bytes => Ok(()),
            other => Err(SealError::ReadBack {
                what: "package object",
                bucket: bucket.to_owned(),
                key: o.key.clone(),
                detail: other
                    .map_or_else(|| "missing".to_owned(), |h| format!("{} bytes, expected {}", h.size, o.size_bytes)),
            }),
        }
    }
}
