//! One seal job → the evidence package stored write-once, read back, the seal record written
//! last, the sealed event published once. The only place that sequences these steps.
//!
//! Order and why:
//! 1. If the package's `seal.json` exists, the package is complete (it is written last): go to 4.
//! 2. Copy original, continuity report and copies from the working bucket into the evidence
//!    layout, streaming and hashing; each multipart upload is completed **only if** size and
//!    BLAKE3 equal what ingest verified (else it is aborted: nothing half-right appears), and
//!    every key is put-if-absent (an identical object from an earlier attempt is reused; a
//!    different one is a conflict, never overwritten).
//! 3. Read every object back (HEAD: size), then put `seal.json` if absent.
//! 4. Publish `EvidenceSealedV1` unless the events stream already holds one for this evidence
//!    id (its message id also deduplicates concurrent attempts), then the runtime acks.
//!
//! A `kill -9` anywhere leaves either an unacked job whose redelivery resumes at the first
//! missing step, or a complete package whose event is published exactly once.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use evidence_contracts::events::{EvidenceSealedSchema, EvidenceSealedV1, Stage};
use evidence_contracts::keys::PackageKeys;
use evidence_contracts::seal::{ContinuityV1, ObjectRole, PackageObjectV1, SealJobV1, SealRecordSchema, SealRecordV1};
use evidence_contracts::transcode::ObjectV1;
use evidence_contracts::{Message, subjects};
use object_store::{PutOpts, Store};
use worker_runtime::{Delivery, Handler, Rejection};

use crate::config::Config;
use crate::error::SealError;
use crate::metrics;
use crate::provenance::Provenance;

#[derive(Clone)]
pub struct SealHandler {
    cfg: Arc<Config>,
    store: Store,
    js: async_nats::jetstream::Context,
    provenance: Arc<dyn Provenance>,
    worm: bool,
}

impl SealHandler {
    pub fn new(
        cfg: Config,
        store: Store,
        js: async_nats::jetstream::Context,
        provenance: Arc<dyn Provenance>,
        worm: bool,
    ) -> Self {
        Self { cfg: Arc::new(cfg), store, js, provenance, worm }
    }

    async fn copy_in(
        &self,
        what: &'static str,
        src: &ObjectV1,
        key: String,
        role: ObjectRole,
        profile: Option<String>,
    ) -> Result<PackageObjectV1, SealError> {
        let started = Instant::now();
        let opts = PutOpts {
            if_absent: true,
            content_type: None,
            metadata: vec![("role".into(), format!("{role:?}").to_lowercase())],
        };
        let stored = self
            .store
            .copy_verified(
                &src.object.bucket,
                &src.object.key,
                &self.cfg.s3.evidence_bucket,
                &key,
                Some((src.size_bytes, src.blake3)),
                &opts,
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
        Ok(PackageObjectV1 {
            role,
            profile,
            key,
            size_bytes: stored.digests.size,
            blake3: stored.digests.blake3,
            sha256: stored.digests.sha256,
        })
    }

    async fn read_back(&self, o: &PackageObjectV1, what: &'static str) -> Result<(), SealError> {
        let bucket = &self.cfg.s3.evidence_bucket;
        let head = self.store.head(bucket, &o.key).await.map_err(|source| SealError::Store { what, source })?;
        match head {
            Some(h) if h.size == o.size_bytes => Ok(()),
            Some(h) => Err(SealError::ReadBack {
                what,
                bucket: bucket.clone(),
                key: o.key.clone(),
                detail: format!("{} bytes, expected {}", h.size, o.size_bytes),
            }),
            None => {
                Err(SealError::ReadBack { what, bucket: bucket.clone(), key: o.key.clone(), detail: "missing".into() })
            }
        }
    }

    async fn build(&self, job: &SealJobV1, keys: &PackageKeys) -> Result<SealRecordV1, SealError> {
        let mut objects = Vec::new();
        objects.push(
            self.copy_in("original", &job.original, keys.original(&job.request.file_name), ObjectRole::Original, None)
                .await?,
        );
        let report = self
            .copy_in(
                "continuity report",
                &job.scan_report,
                keys.continuity_report(),
                ObjectRole::ContinuityReport,
                None,
            )
            .await?;
        let report_blake3 = report.blake3;
        objects.push(report);
        for d in &job.derivatives {
            objects.push(
                self.copy_in(
                    "copy",
                    &d.object,
                    keys.derivative(&d.profile, &d.extension),
                    ObjectRole::Derivative,
                    Some(d.profile.clone()),
                )
                .await?,
            );
        }
        for o in &objects {
            self.read_back(o, "package object").await?;
        }
        let provenance = self.provenance.describe();
        metrics::manifest(if provenance.c2pa == "none" { "none" } else { "ok" });
        let r = &job.request;
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
            sealed_at: Utc::now(),
            sealed_by: format!("sealer {}", env!("CARGO_PKG_VERSION")),
            bucket: self.cfg.s3.evidence_bucket.clone(),
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
            provenance,
            retention: None,
        })
    }

    async fn existing_record(&self, key: &str) -> Result<Option<SealRecordV1>, SealError> {
        let bucket = &self.cfg.s3.evidence_bucket;
        if self
            .store
            .head(bucket, key)
            .await
            .map_err(|source| SealError::Store { what: "seal record", source })?
            .is_none()
        {
            return Ok(None);
        }
        let bytes = self
            .store
            .get_bytes(bucket, key, 16 << 20)
            .await
            .map_err(|source| SealError::Store { what: "seal record", source })?;
        serde_json::from_slice(&bytes).map(Some).map_err(|e| SealError::BadRecord {
            bucket: bucket.clone(),
            key: key.into(),
            detail: e.to_string(),
        })
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
        let bucket = self.cfg.s3.evidence_bucket.clone();
        let (record, fresh) = match self.existing_record(&record_key).await? {
            Some(r) => (r, false),
            None => {
                let r = self.build(&job, &keys).await?;
                let body = Bytes::from(serde_json::to_vec_pretty(&r).expect("record serialises"));
                let opts =
                    PutOpts { if_absent: true, content_type: Some("application/json".into()), metadata: Vec::new() };
                match self.store.put_bytes(&bucket, &record_key, body, &opts).await {
                    Ok(_) => (r, true),
                    // A concurrent attempt wrote its record first (different sealed_at): use it.
                    Err(object_store::StoreError::Conflict { .. }) => match self.existing_record(&record_key).await? {
                        Some(r) => (r, false),
                        None => {
                            return Err(SealError::ReadBack {
                                what: "seal record",
                                bucket,
                                key: record_key,
                                detail: "missing after conflict".into(),
                            });
                        }
                    },
                    Err(source) => {
                        return Err(SealError::Store { what: "seal record", source });
                    }
                }
            }
        };
        let rec_head = self
            .store
            .head(&bucket, &record_key)
            .await
            .map_err(|source| SealError::Store { what: "seal record", source })?
            .ok_or_else(|| SealError::ReadBack {
                what: "seal record",
                bucket: bucket.clone(),
                key: record_key.clone(),
                detail: "missing".into(),
            })?;
        let rec_b3 = rec_head.blake3_hex().and_then(|h| evidence_contracts::Blake3Digest::from_hex("blake3", h).ok());
        let rec_sha =
            rec_head.metadata.get("sha256").and_then(|h| evidence_contracts::Sha256Digest::from_hex("sha256", h).ok());
        let (Some(rec_b3), Some(rec_sha)) = (rec_b3, rec_sha) else {
            return Err(SealError::BadRecord { bucket, key: record_key, detail: "no digest metadata".into() });
        };
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
                size_bytes: rec_head.size,
                blake3: rec_b3,
                sha256: rec_sha,
            },
            objects: record.objects.clone(),
            verdict: record.continuity.verdict,
            readable: record.continuity.readable,
            worm: self.worm,
        };
        let already = worker_runtime::nats::last_on_subject(&self.js, subjects::EVENTS_STREAM, &event.subject())
            .await
            .map_err(SealError::Events)?
            .is_some();
        if !already {
            worker_runtime::nats::publish(&self.js, &event).await?;
        }
        metrics::package(if fresh { "sealed" } else { "already_sealed" });
        metrics::ingest_to_seal((Utc::now() - record.ingested_at).num_milliseconds() as f64 / 1000.0);
        tracing::info!(evidence_id = %id, prefix = %record.prefix, objects = record.objects.len(), fresh, event_published = !already, "evidence sealed");
        Ok(())
    }
}
