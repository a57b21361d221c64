//! Writing objects: put-if-absent (an identical object is reused, a different one is a
//! conflict), small PUTs, multipart uploads from a file or another object with the digests computed
//! on the way, and the check that completes an upload only if it is what was expected.

use std::path::Path;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectLockMode};
use bytes::Bytes;

use crate::chunks::{ChunkSource, FileSource, hash_blocking};
use crate::client::{META_BLAKE3, META_SHA256, Store};
use crate::error::StoreError;
use crate::hashing::{Digests, StreamHasher};
use crate::object_lock::Lock;

/// Options for a put.
#[derive(Debug, Clone, Default)]
pub struct PutOpts {
    /// Refuse to overwrite: if the key exists with the same BLAKE3 the put is a no-op
    /// (idempotent redelivery), with different content it is a [`StoreError::Conflict`].
    pub if_absent: bool,
    pub content_type: Option<String>,
    /// Extra user metadata (`x-amz-meta-*`).
    pub metadata: Vec<(String, String)>,
    /// S3 Object Lock to request (COMPLIANCE mode). Servers without Object Lock may ignore it:
    /// [`Store::probe_worm`] tells whether they do.
    pub lock: Option<Lock>,
}

/// What an upload must turn out to be: it is completed only if the bytes that passed match, so
/// nothing else ever appears under the key.
#[derive(Debug, Clone, Copy)]
pub struct Expected {
    pub size: u64,
    pub blake3: evidence_contracts::Blake3Digest,
    /// Checked too when known (and then in the object's metadata, so a later put-if-absent
    /// needs no re-read).
    pub sha256: Option<evidence_contracts::Sha256Digest>,
}

impl From<(u64, evidence_contracts::Blake3Digest)> for Expected {
    fn from((size, blake3): (u64, evidence_contracts::Blake3Digest)) -> Self {
        Self { size, blake3, sha256: None }
    }
}

/// Result of a put.
#[derive(Debug, Clone, Copy)]
pub struct Stored {
    pub digests: Digests,
    /// False when an identical object was already there.
    pub created: bool,
}

impl Store {
    /// Checks a put-if-absent target. `Ok(Some(stored))` when an identical object is already
    /// there (a redelivered job), `Ok(None)` when the key is free, `Conflict` when different
    /// content is there. Digests come from the object's metadata when it has both; otherwise
    /// (multipart uploads cannot carry a digest known only at the end) the object is re-read.
    async fn existing(
        &self,
        bucket: &str,
        key: &str,
        expect: Option<&evidence_contracts::Blake3Digest>,
    ) -> Result<Option<Stored>, StoreError> {
        let Some(head) = self.head(bucket, key).await? else {
            return Ok(None);
        };
        let conflict = |detail: String| StoreError::Conflict { bucket: bucket.into(), key: key.into(), detail };
        let meta_b3 =
            head.metadata.get(META_BLAKE3).and_then(|s| evidence_contracts::Blake3Digest::from_hex("blake3", s).ok());
        let meta_sha =
            head.metadata.get(META_SHA256).and_then(|s| evidence_contracts::Sha256Digest::from_hex("sha256", s).ok());
        if let (Some(e), Some(m)) = (expect, meta_b3)
            && *e != m
        {
            return Err(conflict(format!("existing BLAKE3 {m}, new {e}")));
        }
        let digests = match (meta_b3, meta_sha) {
            (Some(blake3), Some(sha256)) => Digests { size: head.size, blake3, sha256 },
            _ => self.hash_object(bucket, key).await?,
        };
        if let Some(e) = expect
            && *e != digests.blake3
        {
            return Err(conflict(format!("existing BLAKE3 {}, new {e}", digests.blake3)));
        }
        Ok(Some(Stored { digests, created: false }))
    }

    /// Stores a small in-memory object (digests put in its metadata).
    ///
    /// # Errors
    /// Conflict (if_absent and different content), unreachable, refused.
    pub async fn put_bytes(&self, bucket: &str, key: &str, data: Bytes, opts: &PutOpts) -> Result<Stored, StoreError> {
        let mut h = StreamHasher::new();
        h.update(&data);
        let digests = h.finish();
        self.put_known(bucket, key, data, digests, opts).await
    }

    /// One PUT of bytes whose digests are known: put-if-absent check, digest metadata, options.
    pub(crate) async fn put_known(
        &self,
        bucket: &str,
        key: &str,
        data: Bytes,
        d: Digests,
        opts: &PutOpts,
    ) -> Result<Stored, StoreError> {
        if opts.if_absent
            && let Some(s) = self.existing(bucket, key, Some(&d.blake3)).await?
        {
            return Ok(s);
        }
        let mut req = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(data))
            .metadata(META_BLAKE3, d.blake3.to_hex())
            .metadata(META_SHA256, d.sha256.to_hex());
        for (k, v) in &opts.metadata {
            req = req.metadata(k, v);
        }
        if let Some(ct) = &opts.content_type {
            req = req.content_type(ct);
        }
        if opts.if_absent {
            req = req.if_none_match("*");
        }
        if let Some(l) = &opts.lock {
            // S3 requires an integrity checksum on a put that sets a retention period.
            req = req
                .object_lock_mode(ObjectLockMode::Compliance)
                .object_lock_retain_until_date(l.date())
                .object_lock_legal_hold_status(l.hold())
                .checksum_algorithm(ChecksumAlgorithm::Crc32);
        }
        match req.send().await {
            Ok(_) => Ok(Stored { digests: d, created: true }),
            Err(e) => self.after_failed_put(bucket, key, &d, e).await,
        }
    }

    /// A put-if-absent that lost a race (412) is fine if the winner wrote the same bytes.
    async fn after_failed_put<E>(
        &self,
        bucket: &str,
        key: &str,
        d: &Digests,
        e: SdkError<E, HttpResponse>,
    ) -> Result<Stored, StoreError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let err = self.err("put", bucket, key, e);
        if let StoreError::Service { status: Some(412), .. } = &err
            && let Some(s) = self.existing(bucket, key, Some(&d.blake3)).await?
        {
            return Ok(s);
        }
        Err(err)
    }

    /// Uploads a local file, hashing it while it is read; multipart above `part_size`.
    ///
    /// # Errors
    /// Local I/O, conflict, unreachable, refused.
    pub async fn upload_file(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        expect: Option<Expected>,
        opts: &PutOpts,
    ) -> Result<Stored, StoreError> {
        if opts.if_absent
            && let Some(e) = &expect
            && let Some(s) = self.existing(bucket, key, Some(&e.blake3)).await?
        {
            return Ok(s);
        }
        let expect = expect.map(|e| Expect { e, bucket: "local".into(), key: path.display().to_string() });
        let file = tokio::fs::File::open(path).await.map_err(|e| StoreError::Io {
            op: "open",
            path: path.to_owned(),
            source: e,
        })?;
        let reader = FileSource { file, path: path.to_owned() };
        self.upload_stream(bucket, key, reader, expect, opts).await
    }

    /// Copies an object by streaming it through this process (GET → multipart PUT), hashing
    /// the bytes on the way. With `expect`, the upload is **completed only if** size and BLAKE3
    /// match; otherwise it is aborted and nothing appears under `dst_key`.
    ///
    /// # Errors
    /// Source missing, mismatch, conflict, unreachable.
    pub async fn copy_verified(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
        expect: Option<Expected>,
        opts: &PutOpts,
    ) -> Result<Stored, StoreError> {
        if opts.if_absent
            && let Some(s) = self.existing(dst_bucket, dst_key, expect.as_ref().map(|e| &e.blake3)).await?
        {
            return Ok(s);
        }
        let source = self.open(src_bucket, src_key).await?;
        let expect = expect.map(|e| Expect { e, bucket: src_bucket.into(), key: src_key.into() });
        self.upload_stream(dst_bucket, dst_key, source, expect, opts).await
    }

    async fn upload_stream<S: ChunkSource>(
        &self,
        bucket: &str,
        key: &str,
        mut src: S,
        expect: Option<Expect>,
        opts: &PutOpts,
    ) -> Result<Stored, StoreError> {
        let part = usize::try_from(self.cfg.part_size).unwrap_or(16 << 20);
        let mut hasher = StreamHasher::new();
        let first = src.fill(part).await?;
        if first.len() < part {
            // Small: a single PUT once the digests are known.
            hasher = hash_blocking(hasher, first.clone()).await;
            let d = hasher.finish();
            check_expect(expect.as_ref(), &d)?;
            return self.put_known(bucket, key, first, d, opts).await;
        }
        // Large: multipart. Metadata is fixed when the upload is created, so only announced
        // digests can go there (the upload completes only if they hold); `existing` re-reads
        // objects that lack one. A put-if-absent of a multipart object needs `expect`, so the
        // object can be judged before it is written.
        let mut create = self.client.create_multipart_upload().bucket(bucket).key(key);
        if let Some(e) = &expect {
            create = create.metadata(META_BLAKE3, e.e.blake3.to_hex());
            if let Some(sha) = &e.e.sha256 {
                create = create.metadata(META_SHA256, sha.to_hex());
            }
        }
        for (k, v) in &opts.metadata {
            create = create.metadata(k, v);
        }
        if let Some(ct) = &opts.content_type {
            create = create.content_type(ct);
        }
        if let Some(l) = &opts.lock {
            create = create
                .object_lock_mode(ObjectLockMode::Compliance)
                .object_lock_retain_until_date(l.date())
                .object_lock_legal_hold_status(l.hold())
                .checksum_algorithm(ChecksumAlgorithm::Crc32);
        }
        let locked = opts.lock.is_some();
        let upload = create.send().await.map_err(|e| self.err("create multipart", bucket, key, e))?;
        let upload_id = upload.upload_id().unwrap_or_default().to_owned();
        let result = async {
            // Part N uploads while part N+1 is read and hashed: at most UPLOADS_IN_FLIGHT parts
            // in memory on top of the one being filled, whatever the object's size.
            let mut parts = Vec::new();
            let mut in_flight = std::collections::VecDeque::new();
            let mut chunk = first;
            let mut n = 1i32;
            loop {
                hasher = hash_blocking(hasher, chunk.clone()).await;
                let len = chunk.len();
                let (store, b, k, id) = (self.clone(), bucket.to_owned(), key.to_owned(), upload_id.clone());
                in_flight.push_back(tokio::spawn(async move { store.put_part(&b, &k, &id, n, chunk, locked).await }));
                if in_flight.len() >= UPLOADS_IN_FLIGHT
                    && let Some(h) = in_flight.pop_front()
                {
                    parts.push(joined(h).await?);
                }
                if len < part {
                    break;
                }
                chunk = src.fill(part).await?;
                if chunk.is_empty() {
                    break;
                }
                n += 1;
            }
            while let Some(h) = in_flight.pop_front() {
                parts.push(joined(h).await?);
            }
            let d = hasher.finish();
            check_expect(expect.as_ref(), &d)?;
            let mut complete = self
                .client
                .complete_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build());
            if opts.if_absent {
                complete = complete.if_none_match("*");
            }
            match complete.send().await {
                Ok(_) => Ok(Stored { digests: d, created: true }),
                Err(e) => self.after_failed_put(bucket, key, &d, e).await,
            }
        }
        .await;
        if result.is_err() {
            let _ = self.client.abort_multipart_upload().bucket(bucket).key(key).upload_id(&upload_id).send().await;
        }
        result
    }
}

/// Parts of one multipart upload sent at the same time.
const UPLOADS_IN_FLIGHT: usize = 2;

async fn joined(h: tokio::task::JoinHandle<Result<CompletedPart, StoreError>>) -> Result<CompletedPart, StoreError> {
    match h.await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(StoreError::Io {
            op: "upload part",
            path: std::path::PathBuf::new(),
            source: std::io::Error::other(e.to_string()),
        }),
    }
}

impl Store {
    /// One part of a multipart upload.
    async fn put_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        n: i32,
        chunk: Bytes,
        locked: bool,
    ) -> Result<CompletedPart, StoreError> {
        let mut up = self
            .client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(n)
            .body(ByteStream::from(chunk));
        if locked {
            up = up.checksum_algorithm(ChecksumAlgorithm::Crc32);
        }
        let out = up.send().await.map_err(|e| self.err("upload part", bucket, key, e))?;
        Ok(CompletedPart::builder()
            .part_number(n)
            .set_e_tag(out.e_tag().map(str::to_owned))
            .set_checksum_crc32(out.checksum_crc32().map(str::to_owned))
            .build())
    }
}

struct Expect {
    e: Expected,
    bucket: String,
    key: String,
}

fn check_expect(e: Option<&Expect>, d: &Digests) -> Result<(), StoreError> {
    let Some(x) = e else { return Ok(()) };
    let mismatch = |what, expected: String, actual: String| StoreError::Mismatch {
        bucket: x.bucket.clone(),
        key: x.key.clone(),
        what,
        expected,
        actual,
    };
    if x.e.size != d.size {
        return Err(mismatch("size", format!("{} bytes", x.e.size), format!("{} bytes", d.size)));
    }
    if x.e.blake3 != d.blake3 {
        return Err(mismatch("BLAKE3", x.e.blake3.to_hex(), d.blake3.to_hex()));
    }
    if let Some(sha) = &x.e.sha256
        && *sha != d.sha256
    {
        return Err(mismatch("SHA-256", sha.to_hex(), d.sha256.to_hex()));
    }
    Ok(())
}
