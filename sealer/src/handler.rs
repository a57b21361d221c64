//! One seal job → the evidence package stored write-once with its C2PA manifests, read back,
//! the seal record and its signature written, the custody-ledger record appended, the sealed
//! event published once. The only place that sequences these steps.
//!
//! Order and why:
//! 1. If the package's `seal.json` exists, every object it lists is stored: go to 4.
//! 2. The original streamed from the landing area straight into the bucket, hashed on the way
//!    (size, BLAKE3 and SHA-256 checked against ingest before the upload completes): the sealer
//!    reads it once and keeps no copy of it. The continuity report copied. Then the C2PA sidecar
//!    of the original (the original is never rewritten), signed from the digests of that pass,
//!    and each copy (fetched into a local spool) with an embedded manifest whose parent is the
//!    original (or a sidecar when c2pa cannot embed). A manifest that cannot be made is recorded
//!    with its reason; it never stops the original being sealed. Every key is put-if-absent with
//!    an Object Lock retain-until; an object an earlier attempt stored is reused (sidecars and
//!    signed copies are not byte-reproducible, so the stored one wins and is validated).
//! 3. Every object read back (HEAD: size), then `seal.json` put-if-absent.
//! 4. `seal.sig` (ES256 over the stored `seal.json` bytes; deterministic nonces, so a retry
//!    writes the same bytes), the ledger record (once per evidence id), a checkpoint when due,
//!    then `EvidenceSealedV1` unless the events stream already holds one; then the runtime acks.
//!
//! A `kill -9` anywhere leaves either an unacked job whose redelivery resumes at the first
//! missing step, or a complete package whose event is published exactly once.
//!
//! Rooms: `bucket.rs` (every evidence-bucket operation: fetch and check, put-if-absent, reuse,
//! read back), `provenance.rs` (each asset's manifest), `package.rs` (the record, pure, shared with
//! `sealer seal`), `ledger.rs`; this file only orders them.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use evidence_contracts::events::{EvidenceSealedSchema, EvidenceSealedV1, Stage};
use evidence_contracts::keys::PackageKeys;
use evidence_contracts::ledger::{GENESIS, LedgerKind, LedgerRecordSchema, LedgerRecordV1};
use evidence_contracts::seal::{ObjectRole, PackageObjectV1, RetentionV1, SealJobV1, SealRecordV1};
use evidence_contracts::station::ReceiptV1;
use evidence_contracts::{Message, subjects};
use object_store::{Digests, Lock, Store, StoreError};
use worker_runtime::{Delivery, Handler, Rejection};

use crate::bucket::EvidenceBucket;
use crate::config::Config;
use crate::credentials::Credentials;
use crate::error::SealError;
use crate::ledger::Ledger;
use crate::{metrics, package};

#[derive(Clone)]
pub struct SealHandler {
    cfg: Arc<Config>,
    pub(crate) bucket: EvidenceBucket,
    js: async_nats::jetstream::Context,
    pub(crate) creds: Arc<Credentials>,
    ledger: Ledger,
    worm: bool,
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

pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
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
        let bucket = EvidenceBucket { store, name: cfg.s3.evidence_bucket.clone() };
        Self { cfg: Arc::new(cfg), bucket, js, creds, ledger, worm }
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

    /// Stores every object of a new package (original, continuity report, manifests, copies),
    /// reads them back, and returns the record that describes them.
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
        let opts = |role, content_type| EvidenceBucket::opts(role, content_type, lock);

        // 1. The original, byte for byte: streamed from the landing area into the bucket and
        //    hashed on the way (the sealer's one read of it), completed only if it is what ingest
        //    announced (size, BLAKE3, SHA-256).
        let original = self
            .bucket
            .copy_in(
                "original",
                ObjectRole::Original,
                &job.original,
                keys.original(&r.file_name),
                &opts(ObjectRole::Original, None),
            )
            .await?;
        let od = Digests { size: original.size_bytes, blake3: original.blake3, sha256: original.sha256 };
        let mut objects = vec![original.clone()];
        failpoint("after_original");

        // 2. The continuity report.
        let report = self
            .bucket
            .copy_in(
                "continuity report",
                ObjectRole::ContinuityReport,
                &job.scan_report,
                keys.continuity_report(),
                &opts(ObjectRole::ContinuityReport, Some("application/json")),
            )
            .await?;
        let facts = package::Facts::of_job(job, sealed_at, retention, report.blake3);
        let assertion = facts.assertion(&od, &report);
        objects.push(report);

        // 3. Manifests: the original's sidecar, then each copy.
        let (sidecar, original_binding) = self
            .original_sidecar(
                &original,
                &r.file_name,
                &assertion,
                &opts(ObjectRole::C2paSidecar, Some("application/c2pa")),
                spool.path(),
            )
            .await?;
        failpoint("after_sidecar");
        let mut manifests = vec![original_binding];
        let sidecar = sidecar.map(|(s, o)| {
            objects.push(o);
            s
        });
        for d in &job.derivatives {
            let (objs, binding) = self.derivative(d, keys, sidecar.as_ref(), &assertion, spool.path(), lock).await?;
            objects.extend(objs);
            manifests.push(binding);
        }
        failpoint("after_copies");
        for o in &objects {
            self.bucket.read_back(o).await?;
        }
        let signer = package::Signer {
            subject: self.creds.subject().to_owned(),
            cert_sha256: self.creds.cert_sha256().to_owned(),
        };
        Ok(package::seal_record(facts, keys, &self.bucket.name, objects, manifests, &signer))
    }

    /// The stored `seal.json` bytes, writing the record first when the package is new.
    async fn record(&self, job: &SealJobV1, keys: &PackageKeys) -> Result<(Vec<u8>, SealRecordV1, bool), SealError> {
        let key = keys.seal_record();
        let exists = self.bucket.head("seal record", &key).await?;
        let fresh = if exists.is_none() {
            let r = self.build(job, keys).await?;
            let body = Bytes::from(serde_json::to_vec_pretty(&r).expect("record serialises"));
            let (_, lock) = self.retention(r.sealed_at);
            match self
                .bucket
                .store
                .put_bytes(
                    &self.bucket.name,
                    &key,
                    body,
                    &EvidenceBucket::opts(ObjectRole::SealRecord, Some("application/json"), lock),
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
        let bytes = self.bucket.get_small("seal record", &key).await?;
        let record: SealRecordV1 = serde_json::from_slice(&bytes).map_err(|e| SealError::BadRecord {
            bucket: self.bucket.name.clone(),
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
            .bucket
            .put_generated(
                "seal signature",
                &sig_key,
                sig_body,
                &EvidenceBucket::opts(ObjectRole::Signature, Some("application/json"), lock),
            )
            .await?;
        let stored: evidence_contracts::seal::SignatureV1 = serde_json::from_slice(&stored_sig).map_err(|e| {
            SealError::BadRecord { bucket: self.bucket.name.clone(), key: sig_key.clone(), detail: e.to_string() }
        })?;
        crate::credentials::verify(&stored, &bytes, &[]).map_err(|detail| SealError::BadRecord {
            bucket: self.bucket.name.clone(),
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
            access: record.access.clone(),
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
        metrics::s3_received();
        metrics::ingest_to_seal((Utc::now() - record.ingested_at).num_milliseconds() as f64 / 1000.0);
        tracing::info!(evidence_id = %id, prefix = %record.prefix, objects = record.objects.len(), c2pa = %record.provenance.c2pa, ledger_seq = appended.seq, fresh, event_published = !already, "evidence sealed");
        Ok(())
    }
}
