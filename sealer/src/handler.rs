//! One seal job → the evidence package stored write-once with its C2PA manifests, read back,
//! the seal record and its signature written, the custody-ledger record appended, the sealed
//! event published once. The only place that sequences these steps.
//!
//! Order and why:
//! 1. If the package's `seal.json` exists, every object it lists is stored: go to 4.
//! 2. Into a local spool: the original from the landing area (size, BLAKE3 and SHA-256 checked
//!    against ingest), stored write-once; the continuity report copied. Then the C2PA sidecar
//!    of the original (the original is never rewritten), and each copy with an embedded
//!    manifest whose parent is the original (or a sidecar when c2pa cannot embed). A manifest
//!    that cannot be made is recorded with its reason; it never stops the original being
//!    sealed. Every key is put-if-absent with an Object Lock retain-until; an object an
//!    earlier attempt stored is reused (sidecars and signed copies are not byte-reproducible,
//!    so the stored one wins and is validated against the original).
//! 3. Every object read back (HEAD: size), then `seal.json` put-if-absent.
//! 4. `seal.sig` (ES256 over the stored `seal.json` bytes; deterministic nonces, so a retry
//!    writes the same bytes), the ledger record (once per evidence id), a checkpoint when due,
//!    then `EvidenceSealedV1` unless the events stream already holds one; then the runtime acks.
//!
//! A `kill -9` anywhere leaves either an unacked job whose redelivery resumes at the first
//! missing step, or a complete package whose event is published exactly once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use evidence_contracts::events::{EvidenceSealedSchema, EvidenceSealedV1, Stage};
use evidence_contracts::keys::PackageKeys;
use evidence_contracts::ledger::{GENESIS, LedgerKind, LedgerRecordSchema, LedgerRecordV1};
use evidence_contracts::seal::{
    ContinuityV1, DerivativeV1, HashBinding, ManifestBindingV1, ObjectRole, PackageObjectV1, Placement, ProvenanceV1,
    RetentionV1, SealJobV1, SealRecordSchema, SealRecordV1,
};
use evidence_contracts::station::ReceiptV1;
use evidence_contracts::transcode::ObjectV1;
use evidence_contracts::{Message, subjects};
use object_store::{Digests, Lock, PutOpts, Store, StoreError};
use worker_runtime::{Delivery, Handler, Rejection};

use crate::config::Config;
use crate::credentials::Credentials;
use crate::error::SealError;
use crate::ledger::Ledger;
use crate::manifest::{self, RecordingAssertion, Sidecar};
use crate::metrics;

#[derive(Clone)]
pub struct SealHandler {
    cfg: Arc<Config>,
    store: Store,
    js: async_nats::jetstream::Context,
    creds: Arc<Credentials>,
    ledger: Ledger,
    worm: bool,
}

fn package_object(role: ObjectRole, profile: Option<String>, key: String, d: Digests) -> PackageObjectV1 {
    PackageObjectV1 { role, profile, key, size_bytes: d.size, blake3: d.blake3, sha256: d.sha256 }
}

/// Fault injection for the crash tests: `SEALER_FAILPOINT=<name>` aborts the process at that
/// step (SIGABRT: no cleanup, no ack), as a power loss there would. Compiled only with the
/// `failpoints` feature (scripts/test builds with it); production builds have no such hook.
#[cfg(feature = "failpoints")]
fn failpoint(name: &str) {
    static POINT: std::sync::LazyLock<Option<String>> =
        std::sync::LazyLock::new(|| std::env::var("SEALER_FAILPOINT").ok().filter(|s| !s.is_empty()));
    if POINT.as_deref() == Some(name) {
        tracing::warn!(failpoint = name, "SEALER_FAILPOINT reached: aborting");
        std::process::abort();
    }
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
fn failpoint(_name: &str) {}

/// Whether this build can stop at a failpoint (`--features sealer/failpoints`).
pub const HAS_FAILPOINTS: bool = cfg!(feature = "failpoints");

/// Where [`failpoint`] can stop the sealer, in order.
pub const FAILPOINTS: &[&str] =
    &["after_original", "after_sidecar", "after_copies", "after_record", "after_signature", "after_ledger"];

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

impl SealHandler {
    pub fn new(
        cfg: Config,
        store: Store,
        js: async_nats::jetstream::Context,
        creds: Arc<Credentials>,
        worm: bool,
    ) -> Self {
        let ledger = Ledger::new(
            js.clone(),
            store.clone(),
            cfg.s3.evidence_bucket.clone(),
            creds.clone(),
            cfg.seal.checkpoint_every,
        );
        Self { cfg: Arc::new(cfg), store, js, creds, ledger, worm }
    }

    fn bucket(&self) -> &str {
        &self.cfg.s3.evidence_bucket
    }

    fn retention(&self, sealed_at: DateTime<Utc>) -> (RetentionV1, Lock) {
        let until = sealed_at + chrono::Duration::days(i64::from(self.cfg.retention.recording_days));
        let lock = Lock { retain_until: until, legal_hold: self.cfg.retention.legal_hold };
        (
            RetentionV1 {
                class: evidence_contracts::seal::RetentionClass::Recording,
                retain_until: until,
                legal_hold: lock.legal_hold,
                worm_verified: self.worm,
            },
            lock,
        )
    }

    fn opts(role: ObjectRole, content_type: Option<&str>, lock: Lock) -> PutOpts {
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
    async fn fetch_stored(&self, what: &'static str, key: &str, path: &Path) -> Result<Digests, SealError> {
        self.store.download_to_file(self.bucket(), key, path).await.map_err(|source| SealError::Store { what, source })
    }

    /// Downloads a staged object into the spool and checks it is what the earlier stage announced.
    async fn fetch(&self, what: &'static str, src: &ObjectV1, path: &Path) -> Result<Digests, SealError> {
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

    async fn put_file(
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
            .upload_file(self.bucket(), key, path, Some((d.size, d.blake3)), opts)
            .await
            .map_err(|source| SealError::Store { what, source })?;
        if stored.created {
            metrics::stored(stored.digests.size, started.elapsed().as_secs_f64());
        }
        Ok(stored.digests)
    }

    /// Stores a small generated object (sidecar), or returns the one an earlier attempt stored.
    async fn put_generated(
        &self,
        what: &'static str,
        key: &str,
        bytes: Vec<u8>,
        opts: &PutOpts,
    ) -> Result<Vec<u8>, SealError> {
        match self.store.put_bytes(self.bucket(), key, Bytes::from(bytes.clone()), opts).await {
            Ok(_) => Ok(bytes),
            Err(StoreError::Conflict { .. }) => self.get_small(what, key).await,
            Err(source) => Err(SealError::Store { what, source }),
        }
    }

    async fn get_small(&self, what: &'static str, key: &str) -> Result<Vec<u8>, SealError> {
        self.store
            .get_bytes(self.bucket(), key, 256 << 20)
            .await
            .map(|b| b.to_vec())
            .map_err(|source| SealError::Store { what, source })
    }

    async fn digests_of_stored(&self, what: &'static str, key: &str) -> Result<Digests, SealError> {
        self.store.hash_object(self.bucket(), key).await.map_err(|source| SealError::Store { what, source })
    }

    /// The original's sidecar: reused when stored, else signed and stored.
    async fn original_sidecar(
        &self,
        original: &Path,
        original_key: &str,
        file_name: &str,
        assertion: &RecordingAssertion,
        opts: &PutOpts,
    ) -> Result<(Option<(Sidecar, PackageObjectV1)>, ManifestBindingV1), SealError> {
        let key = manifest::sidecar_key(original_key);
        let none = |reason: String| ManifestBindingV1 {
            asset_key: original_key.to_owned(),
            placement: Placement::None,
            manifest_key: None,
            hash_binding: HashBinding::None,
            manifest_label: None,
            reason: Some(reason),
        };
        let stored = self
            .store
            .head(self.bucket(), &key)
            .await
            .map_err(|source| SealError::Store { what: "sidecar", source })?;
        let reopen = |bytes: Vec<u8>| {
            let (path, name, key) = (original.to_owned(), file_name.to_owned(), key.clone());
            async move {
                blocking(move || manifest::reopen_sidecar(&path, &name, bytes)).await.map_err(|detail| {
                    SealError::BadRecord {
                        bucket: self.bucket().to_owned(),
                        key,
                        detail: format!("the stored sidecar does not validate against the original: {detail}"),
                    }
                })
            }
        };
        let sidecar = if stored.is_some() {
            reopen(self.get_small("sidecar", &key).await?).await?
        } else {
            let (creds, path, name, a) =
                (self.creds.clone(), original.to_owned(), file_name.to_owned(), assertion.clone());
            match blocking(move || manifest::sign_original(&creds, &path, &name, &a)).await {
                // Signed and validated here: validate again only if another attempt's sidecar won.
                Ok(s) => match self.put_generated("sidecar", &key, s.bytes.clone(), opts).await? {
                    b if b == s.bytes => s,
                    b => reopen(b).await?,
                },
                Err(e) => {
                    metrics::manifest("failed");
                    tracing::warn!(key = original_key, error = %format!("{e:#}"), "no C2PA manifest for the original; the signed seal record binds it");
                    return Ok((None, none(format!("c2pa could not sign a manifest for this file: {e:#}"))));
                }
            }
        };
        metrics::manifest("ok");
        let d = self.digests_of_stored("sidecar", &key).await?;
        let binding = ManifestBindingV1 {
            asset_key: original_key.to_owned(),
            placement: Placement::Sidecar,
            manifest_key: Some(key.clone()),
            hash_binding: HashBinding::from_label(&sidecar.hash_binding),
            manifest_label: sidecar.label.clone(),
            reason: None,
        };
        Ok((Some((sidecar, package_object(ObjectRole::C2paSidecar, None, key, d))), binding))
    }

    /// One copy: reused when stored, else fetched, signed (embedded, or a sidecar for formats
    /// c2pa cannot embed into) and stored.
    #[allow(clippy::too_many_arguments)]
    async fn derivative(
        &self,
        d: &DerivativeV1,
        keys: &PackageKeys,
        original: &Path,
        sidecar: Option<&Sidecar>,
        assertion: &RecordingAssertion,
        spool: &Path,
        lock: Lock,
    ) -> Result<(Vec<PackageObjectV1>, ManifestBindingV1), SealError> {
        let key = keys.derivative(&d.profile, &d.extension);
        let side_key = manifest::sidecar_key(&key);
        let format = manifest::c2pa_format(&format!("x.{}", d.extension)).filter(|f| f.starts_with("video/mp4"));
        let mut objects = Vec::new();
        let binding =
            |placement: Placement, hash: &str, label: Option<String>, mk: Option<String>, reason: Option<String>| {
                ManifestBindingV1 {
                    asset_key: key.clone(),
                    placement,
                    manifest_key: mk,
                    hash_binding: HashBinding::from_label(hash),
                    manifest_label: label,
                    reason,
                }
            };
        let unsigned = |reason: String| binding(Placement::None, "none", None, None, Some(reason));
        let opts = Self::opts(ObjectRole::Derivative, Some(&format!("video/{}", d.extension)), lock);
        let side_opts = Self::opts(ObjectRole::C2paSidecar, Some("application/c2pa"), lock);
        let copy_in = spool.join(format!("{}.in.{}", d.profile, d.extension));
        let copy_out = spool.join(format!("{}.{}", d.profile, d.extension));
        let stored =
            self.store.head(self.bucket(), &key).await.map_err(|source| SealError::Store { what: "copy", source })?;

        // Embedded manifest (MP4).
        if let (Some(format), Some(side)) = (format, sidecar) {
            let (digests, fresh_check) = if stored.is_some() {
                (self.fetch_stored("copy", &key, &copy_out).await?, None)
            } else {
                let fetched = self.fetch("copy", &d.object, &copy_in).await?;
                let (creds, i, o, p, orig, s, a) = (
                    self.creds.clone(),
                    copy_in.clone(),
                    copy_out.clone(),
                    d.profile.clone(),
                    original.to_owned(),
                    side.clone(),
                    assertion.clone(),
                );
                match blocking(move || manifest::sign_copy(&creds, &i, &o, format, &p, &orig, &s, &a)).await {
                    Ok(check) => {
                        let path = copy_out.clone();
                        let dg = blocking(move || object_store::hash_file(&path))
                            .await
                            .map_err(|e| SealError::Local { what: "hash the signed copy", detail: e.to_string() })?;
                        match self.put_file("copy", &key, &copy_out, dg, &opts).await {
                            Ok(dg) => (dg, Some(check)),
                            // Another delivery of this job stored its signed copy first (copies
                            // are signed anew each time, so bytes differ): use the winner's,
                            // validated below like any stored copy.
                            Err(SealError::Store { source: StoreError::Conflict { .. }, .. }) => {
                                tracing::info!(
                                    key,
                                    "another attempt stored this copy first; validating and reusing it"
                                );
                                (self.fetch_stored("copy", &key, &copy_out).await?, None)
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    Err(e) => {
                        metrics::manifest("failed");
                        tracing::warn!(key, error = %format!("{e:#}"), "copy stored without a manifest");
                        let dg = self.put_file("copy", &key, &copy_in, fetched, &opts).await?;
                        objects.push(package_object(ObjectRole::Derivative, Some(d.profile.clone()), key.clone(), dg));
                        return Ok((objects, unsigned(format!("c2pa could not sign the copy: {e:#}"))));
                    }
                }
            };
            objects.push(package_object(ObjectRole::Derivative, Some(d.profile.clone()), key.clone(), digests));
            if digests.blake3 == d.object.blake3 {
                // The copy exactly as the transcoder made it: an earlier attempt could not sign it
                // and stored it unsigned on purpose.
                metrics::manifest("failed");
                return Ok((objects, unsigned("c2pa could not sign the copy (earlier attempt)".into())));
            }
            // A copy signed now was validated by `sign_copy`; one an earlier attempt stored is
            // validated here.
            let check = match fresh_check {
                Some(c) => c,
                None => {
                    let (path, fmt) = (copy_out.clone(), format);
                    blocking(move || manifest::read_embedded(&path, fmt, None)).await
                }
            };
            if !check.failures.is_empty() {
                return Err(SealError::BadRecord {
                    bucket: self.bucket().to_owned(),
                    key,
                    detail: format!("the stored copy's manifest does not validate: {}", check.failures.join("; ")),
                });
            }
            metrics::manifest("ok");
            return Ok((objects, binding(Placement::Embedded, &check.hash_binding, check.label, None, None)));
        }

        // Copy stored as made; a sidecar when the original has one.
        let dg = self.fetch("copy", &d.object, &copy_in).await?;
        let dg = self.put_file("copy", &key, &copy_in, dg, &opts).await?;
        objects.push(package_object(ObjectRole::Derivative, Some(d.profile.clone()), key.clone(), dg));
        let Some(side) = sidecar else {
            return Ok((objects, unsigned("the original has no manifest to point back to".into())));
        };
        let existing = self
            .store
            .head(self.bucket(), &side_key)
            .await
            .map_err(|source| SealError::Store { what: "sidecar", source })?;
        let bytes = if existing.is_some() {
            self.get_small("sidecar", &side_key).await?
        } else {
            let title = key.rsplit('/').next().unwrap_or(&key).to_owned();
            let (creds, c, p, orig, s, a) = (
                self.creds.clone(),
                copy_in.clone(),
                d.profile.clone(),
                original.to_owned(),
                side.clone(),
                assertion.clone(),
            );
            match blocking(move || manifest::sign_copy_sidecar(&creds, &c, &title, &p, &orig, &s, &a)).await {
                Ok(s) => self.put_generated("sidecar", &side_key, s.bytes, &side_opts).await?,
                Err(e) => {
                    metrics::manifest("failed");
                    return Ok((objects, unsigned(format!("c2pa could not sign the copy: {e:#}"))));
                }
            }
        };
        let check = {
            let (c, b) = (copy_in.clone(), bytes.clone());
            blocking(move || manifest::read_sidecar(&c, manifest::GENERIC_FORMAT, &b, None)).await
        };
        if !check.failures.is_empty() {
            return Err(SealError::BadRecord {
                bucket: self.bucket().to_owned(),
                key: side_key,
                detail: format!("the stored sidecar of the copy does not validate: {}", check.failures.join("; ")),
            });
        }
        metrics::manifest("ok");
        let sd = self.digests_of_stored("sidecar", &side_key).await?;
        objects.push(package_object(ObjectRole::C2paSidecar, Some(d.profile.clone()), side_key.clone(), sd));
        Ok((objects, binding(Placement::Sidecar, &check.hash_binding, check.label, Some(side_key), None)))
    }

    async fn copy_in(
        &self,
        what: &'static str,
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
                self.bucket(),
                &key,
                Some((src.size_bytes, src.blake3)),
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
        Ok(package_object(ObjectRole::ContinuityReport, None, key, stored.digests))
    }

    async fn read_back(&self, o: &PackageObjectV1) -> Result<(), SealError> {
        let bucket = self.bucket();
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

    async fn build(&self, job: &SealJobV1, keys: &PackageKeys) -> Result<SealRecordV1, SealError> {
        let spool_root = &self.cfg.seal.spool_dir;
        std::fs::create_dir_all(spool_root).map_err(|e| SealError::Local {
            what: "create seal.spool_dir",
            detail: format!("{}: {e}", spool_root.display()),
        })?;
        let spool = tempfile::Builder::new()
            .prefix(&format!("seal-{}-", job.evidence_id))
            .tempdir_in(spool_root)
            .map_err(|e| SealError::Local { what: "create a job folder in seal.spool_dir", detail: e.to_string() })?;
        let sealed_at = Utc::now();
        let (retention, lock) = self.retention(sealed_at);
        let r = &job.request;

        // 1. The original, byte for byte.
        let orig_path: PathBuf = spool.path().join("original");
        let od = self.fetch("original", &job.original, &orig_path).await?;
        let original_key = keys.original(&r.file_name);
        let od = self
            .put_file("original", &original_key, &orig_path, od, &Self::opts(ObjectRole::Original, None, lock))
            .await?;
        let mut objects = vec![package_object(ObjectRole::Original, None, original_key.clone(), od)];
        failpoint("after_original");

        // 2. The continuity report.
        let report = self
            .copy_in(
                "continuity report",
                &job.scan_report,
                keys.continuity_report(),
                &Self::opts(ObjectRole::ContinuityReport, Some("application/json"), lock),
            )
            .await?;
        let assertion = RecordingAssertion {
            evidence_id: job.evidence_id,
            station_id: r.station_id.clone(),
            device_id: r.device_id.clone(),
            officer_id: r.officer_id.clone(),
            file_name: r.file_name.clone(),
            recorded_start: r.recorded_start,
            recorded_end: r
                .recorded_start
                .filter(|_| job.scan.duration_ns > 0)
                .map(|s| s + chrono::Duration::nanoseconds(i64::try_from(job.scan.duration_ns).unwrap_or(i64::MAX))),
            docked_at: r.docked_at,
            ingested_at: job.ingested_at,
            original_size: od.size,
            original_blake3: od.blake3,
            original_sha256: od.sha256,
            continuity_verdict: job.scan.verdict,
            continuity_readable: job.scan.readable,
            continuity_findings: job.scan.findings,
            continuity_report_blake3: report.blake3,
            continuity_report_sha256: report.sha256,
        };
        let report_blake3 = report.blake3;
        objects.push(report);

        // 3. Manifests: the original's sidecar, then each copy.
        let side_opts = Self::opts(ObjectRole::C2paSidecar, Some("application/c2pa"), lock);
        let (sidecar, original_binding) =
            self.original_sidecar(&orig_path, &original_key, &r.file_name, &assertion, &side_opts).await?;
        failpoint("after_sidecar");
        let mut manifests = vec![original_binding];
        let sidecar = sidecar.map(|(s, o)| {
            objects.push(o);
            s
        });
        for d in &job.derivatives {
            let (objs, binding) =
                self.derivative(d, keys, &orig_path, sidecar.as_ref(), &assertion, spool.path(), lock).await?;
            objects.extend(objs);
            manifests.push(binding);
        }
        failpoint("after_copies");
        for o in &objects {
            self.read_back(o).await?;
        }
        let all = manifests.iter().all(|m| m.placement != Placement::None);
        let any = manifests.iter().any(|m| m.placement != Placement::None);
        Ok(SealRecordV1 {
            schema: SealRecordSchema,
            evidence_id: job.evidence_id,
            station_id: r.station_id.clone(),
            device_id: r.device_id.clone(),
            officer_id: r.officer_id.clone(),
            file_name: r.file_name.clone(),
            recorded_start: r.recorded_start,
            docked_at: r.docked_at,
            uploaded_at: r.uploaded_at,
            ingested_at: job.ingested_at,
            sealed_at,
            sealed_by: format!("sealer {}", env!("CARGO_PKG_VERSION")),
            bucket: self.bucket().to_owned(),
            prefix: keys.prefix.clone(),
            objects,
            continuity: ContinuityV1 {
                verdict: job.scan.verdict,
                readable: job.scan.readable,
                complete: job.scan.complete,
                findings: job.scan.findings,
                report_blake3,
            },
            decisions: job.decisions.clone(),
            provenance: ProvenanceV1 {
                c2pa: evidence_contracts::seal::C2paSummary::of(all, any),
                signature: None,
                signer: Some(self.creds.subject().to_owned()),
                signer_sha256: Some(self.creds.cert_sha256().to_owned()),
                assertion_label: Some(manifest::ASSERTION_LABEL.into()),
                manifests,
            },
            retention: Some(retention),
            deadline: job.deadline.clone(),
        })
    }

    /// The stored `seal.json` bytes, writing the record first when the package is new.
    async fn record(&self, job: &SealJobV1, keys: &PackageKeys) -> Result<(Vec<u8>, SealRecordV1, bool), SealError> {
        let key = keys.seal_record();
        let exists = self
            .store
            .head(self.bucket(), &key)
            .await
            .map_err(|source| SealError::Store { what: "seal record", source })?;
        let fresh = if exists.is_none() {
            let r = self.build(job, keys).await?;
            let body = Bytes::from(serde_json::to_vec_pretty(&r).expect("record serialises"));
            let (_, lock) = self.retention(r.sealed_at);
            match self
                .store
                .put_bytes(
                    self.bucket(),
                    &key,
                    body,
                    &Self::opts(ObjectRole::SealRecord, Some("application/json"), lock),
                )
                .await
            {
                Ok(_) => true,
                // A concurrent attempt wrote its record first (different sealed_at): use it.
                Err(StoreError::Conflict { .. }) => false,
                Err(source) => return Err(SealError::Store { what: "seal record", source }),
            }
        } else {
            false
        };
        let bytes = self.get_small("seal record", &key).await?;
        let record: SealRecordV1 = serde_json::from_slice(&bytes).map_err(|e| SealError::BadRecord {
            bucket: self.bucket().to_owned(),
            key: key.clone(),
            detail: e.to_string(),
        })?;
        Ok((bytes, record, fresh))
    }
}

impl Handler for SealHandler {
    type Input = SealJobV1;
    type Error = SealError;
    const STAGE: Stage = Stage::Seal;
    const STREAM: &'static str = subjects::PIPELINE_STREAM;
    const CONSUMER: &'static str = subjects::SEAL_CONSUMER;
    const FILTER: &'static str = subjects::SEAL_JOBS;

    fn describe(job: &SealJobV1) -> Rejection {
        Rejection {
            evidence_id: Some(job.evidence_id),
            station_id: Some(job.request.station_id.clone()),
            device_id: Some(job.request.device_id.clone()),
            file_name: Some(job.request.file_name.clone()),
        }
    }

    async fn handle(&self, job: SealJobV1, _d: &Delivery) -> Result<(), SealError> {
        let id = job.evidence_id;
        tracing::info!(evidence_id = %id, copies = job.derivatives.len(), "seal job started");
        let keys = PackageKeys::new(&job.request.officer_id, job.request.filing_day(), &id);
        let record_key = keys.seal_record();
        let (bytes, record, fresh) = self.record(&job, &keys).await?;
        let (rec_b3, rec_sha) = evidence_contracts::seal::digests_of(&bytes);
        failpoint("after_record");

        // The signature over the stored bytes.
        let sig_key = keys.seal_signature();
        let sig = self.creds.sign(&record_key, &bytes);
        let sig_body = serde_json::to_vec_pretty(&sig).expect("signature serialises");
        let (_, lock) = self.retention(record.sealed_at);
        let stored_sig = self
            .put_generated(
                "seal signature",
                &sig_key,
                sig_body,
                &Self::opts(ObjectRole::Signature, Some("application/json"), lock),
            )
            .await?;
        let stored: evidence_contracts::seal::SignatureV1 = serde_json::from_slice(&stored_sig).map_err(|e| {
            SealError::BadRecord { bucket: self.bucket().to_owned(), key: sig_key.clone(), detail: e.to_string() }
        })?;
        crate::credentials::verify(&stored, &bytes, &[]).map_err(|detail| SealError::BadRecord {
            bucket: self.bucket().to_owned(),
            key: sig_key.clone(),
            detail: format!("the stored signature does not verify over seal.json: {detail}"),
        })?;
        let (sig_b3, sig_sha) = evidence_contracts::seal::digests_of(&stored_sig);
        failpoint("after_signature");

        // The ledger.
        let appended = self
            .ledger
            .append_once(LedgerRecordV1 {
                schema: LedgerRecordSchema,
                kind: LedgerKind::Seal,
                evidence_id: id,
                at: Utc::now(),
                prev_sha256: GENESIS.into(),
                seal_record_key: record_key.clone(),
                seal_record_sha256: rec_sha,
                seal_record_blake3: rec_b3,
                actor: format!("sealer {}", env!("CARGO_PKG_VERSION")),
                detail: serde_json::json!({ "signature_key": sig_key, "signature_sha256": sig_sha.to_hex() }),
                prev_item: None,
            })
            .await
            .map_err(SealError::Ledger)?;
        metrics::ledger(appended.seq, appended.fresh);
        failpoint("after_ledger");
        self.ledger.checkpoint_if_due(appended.seq).await.map_err(SealError::Ledger)?;

        let event = EvidenceSealedV1 {
            schema: EvidenceSealedSchema,
            evidence_id: id,
            station_id: record.station_id.clone(),
            device_id: record.device_id.clone(),
            officer_id: record.officer_id.clone(),
            file_name: record.file_name.clone(),
            recorded_start: record.recorded_start,
            docked_at: record.docked_at,
            ingested_at: record.ingested_at,
            sealed_at: record.sealed_at,
            bucket: record.bucket.clone(),
            prefix: record.prefix.clone(),
            seal_record: PackageObjectV1 {
                role: ObjectRole::SealRecord,
                profile: None,
                key: record_key.clone(),
                size_bytes: bytes.len() as u64,
                blake3: rec_b3,
                sha256: rec_sha,
            },
            objects: record.objects.clone(),
            verdict: record.continuity.verdict,
            readable: record.continuity.readable,
            worm: record.retention.as_ref().is_some_and(|r| r.worm_verified),
            seal_signature: Some(PackageObjectV1 {
                role: ObjectRole::Signature,
                profile: None,
                key: sig_key,
                size_bytes: stored_sig.len() as u64,
                blake3: sig_b3,
                sha256: sig_sha,
            }),
            ledger_seq: Some(appended.seq),
            c2pa: Some(record.provenance.c2pa),
            deadline: record.deadline.clone(),
        };
        let already = worker_runtime::nats::last_on_subject(&self.js, subjects::EVENTS_STREAM, &event.subject())
            .await
            .map_err(SealError::Events)?
            .is_some();
        if !already {
            worker_runtime::nats::publish(&self.js, &event).await?;
        }
        // The uploading station's receipt: after the event, so a station that sees it can rely
        // on the package being announced. A duplicate is dropped by its message id.
        let receipt = ReceiptV1::sealed(
            record.station_id.clone(),
            id,
            record.device_id.clone(),
            record.file_name.clone(),
            (&record.bucket, &record.prefix),
            record.sealed_at,
        );
        worker_runtime::nats::publish(&self.js, &receipt).await?;
        metrics::package(if fresh { "sealed" } else { "already_sealed" });
        metrics::ingest_to_seal((Utc::now() - record.ingested_at).num_milliseconds() as f64 / 1000.0);
        tracing::info!(evidence_id = %id, prefix = %record.prefix, objects = record.objects.len(), c2pa = %record.provenance.c2pa, ledger_seq = appended.seq, fresh, event_published = !already, "evidence sealed");
        Ok(())
    }
}
