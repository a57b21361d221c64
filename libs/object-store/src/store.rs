//! The S3 client and its operations.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectLockLegalHold, ObjectLockLegalHoldStatus,
    ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode,
};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::S3Config;
use crate::error::StoreError;
use crate::hashing::{Digests, StreamHasher};

/// Metadata keys written on every object the pipeline stores, so a redelivered job can tell
/// from a HEAD whether an existing object is the one it would write.
pub const META_BLAKE3: &str = "blake3";
pub const META_SHA256: &str = "sha256";

/// What HEAD says about an object.
#[derive(Debug, Clone)]
pub struct Head {
    pub size: u64,
    pub metadata: HashMap<String, String>,
}

impl Head {
    pub fn blake3_hex(&self) -> Option<&str> {
        self.metadata.get(META_BLAKE3).map(String::as_str)
    }
}

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

/// Object Lock requested on a put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lock {
    pub retain_until: chrono::DateTime<chrono::Utc>,
    pub legal_hold: bool,
}

impl Lock {
    fn date(&self) -> aws_smithy_types::DateTime {
        aws_smithy_types::DateTime::from_secs(self.retain_until.timestamp())
    }
    fn hold(&self) -> ObjectLockLegalHoldStatus {
        if self.legal_hold { ObjectLockLegalHoldStatus::On } else { ObjectLockLegalHoldStatus::Off }
    }
}

/// What the write-once probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WormProbe {
    /// The store refused to delete a locked object version.
    pub worm: bool,
    /// One sentence for logs and `/healthz`.
    pub detail: String,
}

/// Result of a put.
#[derive(Debug, Clone, Copy)]
pub struct Stored {
    pub digests: Digests,
    /// False when an identical object was already there.
    pub created: bool,
}

/// A cheap-to-clone handle on the object store.
#[derive(Clone)]
pub struct Store {
    client: Client,
    cfg: Arc<S3Config>,
    endpoint: Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("endpoint", &self.endpoint).finish()
    }
}

impl Store {
    /// Builds the client. Does no I/O except reading a secret file.
    ///
    /// # Errors
    /// Invalid config or unreadable secret file.
    pub async fn new(cfg: S3Config) -> anyhow::Result<Self> {
        cfg.validate()?;
        let mut loader =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).region(Region::new(cfg.region.clone()));
        if let Some((id, secret)) = &cfg.static_credentials {
            loader = loader.credentials_provider(Credentials::from_keys(id, secret, None));
        } else if let (Some(id), Some(file)) = (&cfg.access_key_id, &cfg.secret_access_key_file) {
            let secret = std::fs::read_to_string(file)
                .map_err(|e| anyhow::anyhow!("read s3.secret_access_key_file {}: {e}", file.display()))?;
            loader = loader.credentials_provider(Credentials::from_keys(id, secret.trim_end(), None));
        }
        if let Some(ca) = &cfg.ca_file {
            use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
            let pem = std::fs::read(ca).map_err(|e| anyhow::anyhow!("read s3.ca_file {}: {e}", ca.display()))?;
            let tls = TlsContext::builder()
                .with_trust_store(TrustStore::default().with_pem_certificate(pem))
                .build()
                .map_err(|e| anyhow::anyhow!("s3.ca_file {}: {e}", ca.display()))?;
            let http = aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                .tls_context(tls)
                .build_https();
            loader = loader.http_client(http);
        }
        let shared = loader.load().await;
        let mut b = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(cfg.force_path_style)
            // Garage and others reject the SDK's default streaming-trailer checksums; we hash
            // every byte ourselves anyway.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(ep) = &cfg.endpoint {
            b = b.endpoint_url(ep);
        }
        let endpoint: Arc<str> = cfg.endpoint.clone().unwrap_or_else(|| "aws".into()).into();
        Ok(Self { client: Client::from_conf(b.build()), cfg: Arc::new(cfg), endpoint })
    }

    pub fn config(&self) -> &S3Config {
        &self.cfg
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn err<E>(&self, op: &'static str, bucket: &str, key: &str, e: SdkError<E, HttpResponse>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match &e {
            SdkError::ServiceError(se) => {
                let status = Some(se.raw().status().as_u16());
                let code = se.err().code().unwrap_or("Unknown").to_owned();
                if matches!(code.as_str(), "NoSuchKey" | "NotFound") || status == Some(404) && code != "NoSuchBucket" {
                    return StoreError::NotFound { bucket: bucket.into(), key: key.into() };
                }
                StoreError::Service {
                    op,
                    bucket: bucket.into(),
                    key: key.into(),
                    message: se.err().message().unwrap_or("").into(),
                    code,
                    status,
                    asked: Box::new(self.asked()),
                }
            }
            _ => StoreError::Unreachable {
                endpoint: self.endpoint.to_string(),
                op,
                bucket: bucket.into(),
                key: key.into(),
                detail: format!("{}", aws_smithy_types::error::display::DisplayErrorContext(&e)),
            },
        }
    }

    /// A store for `cfg` whose `bucket` is there (created when missing, if `create_buckets`):
    /// what a worker checks at start-up.
    ///
    /// # Errors
    /// Invalid config, unreadable secret, the bucket missing or refused, the server unreachable.
    pub async fn connect(cfg: &S3Config, bucket: &str) -> anyhow::Result<Self> {
        let store = Self::new(cfg.clone()).await?;
        anyhow::Context::with_context(store.ensure_bucket(bucket).await, || format!("check bucket {bucket}"))?;
        Ok(store)
    }

    /// Who a request goes to, and the access key id it is signed with.
    fn asked(&self) -> crate::error::Asked {
        crate::error::Asked {
            endpoint: self.endpoint.to_string(),
            key_id: self
                .cfg
                .access_key_id
                .clone()
                .or_else(|| self.cfg.static_credentials.as_ref().map(|(id, _)| id.clone())),
        }
    }

    /// Creates the bucket when missing (only if `create_buckets`).
    ///
    /// # Errors
    /// The bucket is missing and may not be created, or the server is unreachable.
    pub async fn ensure_bucket(&self, bucket: &str) -> Result<(), StoreError> {
        match self.client.head_bucket().bucket(bucket).send().await {
            Ok(_) => return Ok(()),
            Err(SdkError::ServiceError(_)) if self.cfg.create_buckets => {}
            Err(e) => return Err(self.err("head bucket", bucket, "", e)),
        }
        match self.client.create_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let code = e.code().unwrap_or_default().to_owned();
                if code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" {
                    Ok(())
                } else {
                    Err(self.err("create bucket", bucket, "", e))
                }
            }
        }
    }

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
        loop {
            let data = src.fill(8 << 20).await?;
            if data.is_empty() {
                break;
            }
            hasher = hash_blocking(hasher, data.clone()).await;
            file.write_all(&data).await.map_err(|e| io("write", e))?;
        }
        file.flush().await.map_err(|e| io("flush", e))?;
        file.sync_all().await.map_err(|e| io("sync", e))?;
        Ok(hasher.finish())
    }

    /// GET an object as a block source.
    async fn open(&self, bucket: &str, key: &str) -> Result<BodySource, StoreError> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.err("get", bucket, key, e))?;
        Ok(BodySource {
            body: out.body,
            bucket: bucket.into(),
            key: key.into(),
            endpoint: self.endpoint.clone(),
            pending: Bytes::new(),
        })
    }

    /// Reads a small object into memory (reports, records), refusing more than `limit` bytes.
    ///
    /// # Errors
    /// Missing, too large, unreachable.
    pub async fn get_bytes(&self, bucket: &str, key: &str, limit: u64) -> Result<Bytes, StoreError> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.err("get", bucket, key, e))?;
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
        Ok(data.into_bytes())
    }

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
        expect: Option<(u64, evidence_contracts::Blake3Digest)>,
        opts: &PutOpts,
    ) -> Result<Stored, StoreError> {
        if opts.if_absent
            && let Some((_, b3)) = &expect
            && let Some(s) = self.existing(bucket, key, Some(b3)).await?
        {
            return Ok(s);
        }
        let expect = expect.map(|(size, blake3)| Expect {
            size,
            blake3,
            bucket: "local".into(),
            key: path.display().to_string(),
        });
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
        expect: Option<(u64, evidence_contracts::Blake3Digest)>,
        opts: &PutOpts,
    ) -> Result<Stored, StoreError> {
        if opts.if_absent
            && let Some(s) = self.existing(dst_bucket, dst_key, expect.as_ref().map(|(_, b)| b)).await?
        {
            return Ok(s);
        }
        let source = self.open(src_bucket, src_key).await?;
        let expect =
            expect.map(|(size, b3)| Expect { size, blake3: b3, bucket: src_bucket.into(), key: src_key.into() });
        self.upload_stream(dst_bucket, dst_key, source, expect, opts).await
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

    /// The object's current COMPLIANCE retain-until date and legal-hold status, as the store
    /// reports them (`None`: no retention / no hold reported; a store without Object Lock
    /// reports neither).
    ///
    /// # Errors
    /// Unreachable store, missing object.
    pub async fn lock_state(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(Option<chrono::DateTime<chrono::Utc>>, bool), StoreError> {
        let h = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.err("head", bucket, key, e))?;
        let until = h.object_lock_retain_until_date().and_then(|d| chrono::DateTime::from_timestamp(d.secs(), 0));
        let hold = h.object_lock_legal_hold_status().is_some_and(|s| s.as_str() == "ON");
        Ok((until, hold))
    }

    /// Extends an object's COMPLIANCE retention to `until`; never shortens it, whatever the
    /// server would allow (COMPLIANCE forbids it; not every implementation enforces that).
    /// Stores without Object Lock refuse or ignore this; the caller reports which.
    ///
    /// # Errors
    /// [`StoreError::Retention`] when the object is already retained longer; refused (no
    /// Object Lock on the bucket), unreachable.
    pub async fn extend_retention(
        &self,
        bucket: &str,
        key: &str,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        if let Ok(cur) = self.client.head_object().bucket(bucket).key(key).send().await
            && let Some(have) = cur.object_lock_retain_until_date()
            && have.secs() > until.timestamp()
        {
            return Err(StoreError::Retention {
                bucket: bucket.into(),
                key: key.into(),
                detail: format!(
                    "is retained until {}; retention is only ever extended, never shortened to {}",
                    chrono::DateTime::from_timestamp(have.secs(), 0)
                        .map_or_else(|| have.secs().to_string(), |d| d.to_rfc3339()),
                    until.to_rfc3339()
                ),
            });
        }
        let lock = Lock { retain_until: until, legal_hold: false };
        self.client
            .put_object_retention()
            .bucket(bucket)
            .key(key)
            .retention(
                ObjectLockRetention::builder()
                    .mode(ObjectLockRetentionMode::Compliance)
                    .retain_until_date(lock.date())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| self.err("put retention", bucket, key, e))?;
        Ok(())
    }

    /// Puts an object under S3 legal hold or releases it. A hold carries no date: it keeps the
    /// object until it is released, independently of any retention.
    ///
    /// # Errors
    /// Refused (no Object Lock on the bucket), unreachable.
    pub async fn set_legal_hold(&self, bucket: &str, key: &str, on: bool) -> Result<(), StoreError> {
        let status = if on { ObjectLockLegalHoldStatus::On } else { ObjectLockLegalHoldStatus::Off };
        self.client
            .put_object_legal_hold()
            .bucket(bucket)
            .key(key)
            .legal_hold(ObjectLockLegalHold::builder().status(status).build())
            .send()
            .await
            .map_err(|e| self.err("put legal hold", bucket, key, e))?;
        Ok(())
    }

    /// Finds out whether the bucket really refuses to delete a locked object: puts a small
    /// object under `_worm-probe/` with a COMPLIANCE retention of `hold`, then tries to delete
    /// that exact version. A store that ignores Object Lock headers (s3s-fs, Garage) deletes
    /// it: not WORM. A store that enforces them refuses: WORM (the probe object then stays
    /// until `hold` has passed; keep `hold` short).
    ///
    /// # Errors
    /// Only an unreachable store; refusals are answers.
    pub async fn probe_worm(&self, bucket: &str, hold: std::time::Duration) -> Result<WormProbe, StoreError> {
        let key = format!("_worm-probe/{}", uuid::Uuid::new_v4());
        let until = chrono::Utc::now() + chrono::Duration::from_std(hold).unwrap_or(chrono::Duration::minutes(1));
        let lock = Lock { retain_until: until, legal_hold: false };
        let put = self
            .client
            .put_object()
            .bucket(bucket)
            .key(&key)
            .body(ByteStream::from_static(b"write-once probe"))
            .object_lock_mode(ObjectLockMode::Compliance)
            .object_lock_retain_until_date(lock.date())
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await;
        let version = match put {
            Ok(o) => o.version_id().map(str::to_owned),
            Err(e) => {
                return match self.err("put", bucket, &key, e) {
                    e @ StoreError::Unreachable { .. } => Err(e),
                    e => Ok(WormProbe {
                        worm: false,
                        detail: format!(
                            "a locked put was refused ({e}): Object Lock is not enabled on bucket {bucket}"
                        ),
                    }),
                };
            }
        };
        let del = self.client.delete_object().bucket(bucket).key(&key).set_version_id(version.clone()).send().await;
        match del {
            Err(e) => match self.err("delete", bucket, &key, e) {
                e @ StoreError::Unreachable { .. } => Err(e),
                e => Ok(WormProbe {
                    worm: true,
                    detail: format!(
                        "deleting a locked object version was refused ({e}); bucket {bucket} enforces Object Lock"
                    ),
                }),
            },
            Ok(_) => {
                let still = self.head(bucket, &key).await?.is_some();
                Ok(WormProbe {
                    worm: false,
                    detail: if still {
                        format!(
                            "bucket {bucket} accepted a delete of a locked object (the object remains only as an older version); not verified as write-once"
                        )
                    } else {
                        format!(
                            "bucket {bucket} accepted the Object Lock headers but deleted the locked object: not write-once"
                        )
                    },
                })
            }
        }
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
        // Large: multipart. Metadata is fixed when the upload is created, so only an announced
        // BLAKE3 can go there; `existing` re-reads objects that lack a digest. A put-if-absent
        // of a multipart object needs `expect`, so the object can be judged before it is written.
        let mut create = self.client.create_multipart_upload().bucket(bucket).key(key);
        if let Some(e) = &expect {
            create = create.metadata(META_BLAKE3, e.blake3.to_hex());
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
            let mut parts = Vec::new();
            let mut chunk = first;
            let mut n = 1i32;
            loop {
                hasher = hash_blocking(hasher, chunk.clone()).await;
                let len = chunk.len();
                let mut up = self
                    .client
                    .upload_part()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .part_number(n)
                    .body(ByteStream::from(chunk));
                if locked {
                    up = up.checksum_algorithm(ChecksumAlgorithm::Crc32);
                }
                let out = up.send().await.map_err(|e| self.err("upload part", bucket, key, e))?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(n)
                        .set_e_tag(out.e_tag().map(str::to_owned))
                        .set_checksum_crc32(out.checksum_crc32().map(str::to_owned))
                        .build(),
                );
                if len < part {
                    break;
                }
                chunk = src.fill(part).await?;
                if chunk.is_empty() {
                    break;
                }
                n += 1;
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

struct Expect {
    size: u64,
    blake3: evidence_contracts::Blake3Digest,
    bucket: String,
    key: String,
}

fn check_expect(e: Option<&Expect>, d: &Digests) -> Result<(), StoreError> {
    let Some(e) = e else { return Ok(()) };
    if e.size != d.size {
        return Err(StoreError::Mismatch {
            bucket: e.bucket.clone(),
            key: e.key.clone(),
            what: "size",
            expected: format!("{} bytes", e.size),
            actual: format!("{} bytes", d.size),
        });
    }
    if e.blake3 != d.blake3 {
        return Err(StoreError::Mismatch {
            bucket: e.bucket.clone(),
            key: e.key.clone(),
            what: "BLAKE3",
            expected: e.blake3.to_hex(),
            actual: d.blake3.to_hex(),
        });
    }
    Ok(())
}

async fn hash_blocking(mut h: StreamHasher, data: Bytes) -> StreamHasher {
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

struct BodySource {
    body: ByteStream,
    bucket: String,
    key: String,
    endpoint: Arc<str>,
    pending: Bytes,
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
                Ok(Some(c)) => self.pending = c,
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
