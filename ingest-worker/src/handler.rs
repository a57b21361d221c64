//! One ingest request → verified against what the station announced, scanned, report staged,
//! transcode job published. The only place that sequences these steps.
//!
//! Idempotency: the evidence id is derived from device + content hash; the staging key of the
//! report and the job's message id derive from it. A redelivered request re-downloads,
//! re-verifies and re-scans (cheap compared with losing a check), overwrites its own staging
//! report with the same content, and republishes a job that JetStream drops as a duplicate
//! (except while it waits for a seal, below).
//! Nothing in the landing area is ever deleted here.
//!
//! A request whose recording is already in the pipeline (sent by another station, or an
//! earlier delivery whose job was published) waits for the seal. Its bytes are verified once
//! per worker process; its redeliveries while it waits are answered from memory, not by
//! downloading and scanning the landing object again.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use evidence_contracts::events::{EvidenceSealedV1, Stage};
use evidence_contracts::ingest::IngestRequestV1;
use evidence_contracts::keys::{self, ObjectRef};
use evidence_contracts::station::ReceiptV1;
use evidence_contracts::transcode::{
    DeadlineBasis, DeadlineStatus, DeadlineV1, ObjectV1, TranscodeJobSchema, TranscodeJobV1,
};
use evidence_contracts::{EvidenceId, StationId, decode};
use evidence_contracts::{keys::check_file_name, subjects};
use gst_support::continuity;
use object_store::{PutOpts, Store, StoreError};
use tokio_util::sync::CancellationToken;
use worker_runtime::{Delivery, Handler, Rejection};

use crate::config::Config;
use crate::error::IngestError;
use crate::metrics;

#[derive(Clone)]
pub struct IngestHandler {
    cfg: Arc<Config>,
    store: Store,
    js: async_nats::jetstream::Context,
    calendar: Arc<work_calendar::Calendar>,
    rule: work_calendar::Rule,
    /// Requests (evidence id, station) verified here whose recording is in the pipeline.
    waiting: Arc<Mutex<HashSet<(EvidenceId, StationId)>>>,
}

impl IngestHandler {
    pub fn new(
        cfg: Config,
        store: Store,
        js: async_nats::jetstream::Context,
        calendar: work_calendar::Calendar,
        rule: work_calendar::Rule,
    ) -> Self {
        Self { cfg: Arc::new(cfg), store, js, calendar: Arc::new(calendar), rule, waiting: Arc::default() }
    }

    /// The recording's upload deadline and whether `now` meets it.
    fn deadline(&self, work_ended: DateTime<Utc>, basis: DeadlineBasis, now: DateTime<Utc>) -> DeadlineV1 {
        let (due, covered) = work_calendar::deadline(&self.calendar, self.rule, work_ended);
        let late = now > due;
        DeadlineV1 {
            working_days: self.rule.working_days,
            work_ended,
            basis,
            due,
            status: if late { DeadlineStatus::Late } else { DeadlineStatus::OnTime },
            late_by_s: late.then(|| (now - due).num_milliseconds() as f64 / 1000.0),
            calendar_covered: covered,
        }
    }

    fn reject<T>(e: IngestError) -> Result<T, IngestError> {
        metrics::rejected(worker_runtime::HandlerError::kind(&e));
        Err(e)
    }
}

impl Handler for IngestHandler {
    type Input = IngestRequestV1;
    type Error = IngestError;
    const STAGE: Stage = Stage::Ingest;
    const STREAM: &'static str = subjects::INGEST_STREAM;
    const CONSUMER: &'static str = subjects::INGEST_CONSUMER;
    const FILTER: &'static str = subjects::INGEST_REQUESTS_ALL;

    fn describe(req: &IngestRequestV1) -> Rejection {
        Rejection {
            evidence_id: Some(req.evidence_id()),
            station_id: Some(req.station_id.clone()),
            device_id: Some(req.device_id.clone()),
            file_name: Some(req.file_name.clone()),
        }
    }

    /// The station whose subject the request came in on (its credentials allow only its own),
    /// not the one the payload names.
    fn receipt_station(subject: &str, _facts: &Rejection) -> Option<StationId> {
        subject.strip_prefix(subjects::INGEST_REQUEST_PREFIX).and_then(|s| StationId::new(s).ok())
    }

    async fn handle(&self, req: IngestRequestV1, delivery: &Delivery) -> Result<(), IngestError> {
        let cfg = &self.cfg;
        if let Err(e) = check_file_name(&req.file_name) {
            return Self::reject(IngestError::InvalidField { field: "file_name", detail: e.to_string() });
        }
        if req.landing.bucket != cfg.s3.working_bucket {
            return Self::reject(IngestError::InvalidField {
                field: "landing.bucket",
                detail: format!(
                    "\"{}\" is not this pipeline's working bucket \"{}\"; the station's [s3] config is wrong",
                    req.landing.bucket, cfg.s3.working_bucket
                ),
            });
        }
        // A station's credentials let it publish only on its own subject; the payload must not
        // claim another station, nor point into another station's landing area.
        let own = subjects::ingest_request(&req.station_id);
        if delivery.subject != own {
            return Self::reject(IngestError::InvalidField {
                field: "station_id",
                detail: format!(
                    "\"{}\" arrived on {} but a station may only publish on its own subject {own}",
                    req.station_id, delivery.subject
                ),
            });
        }
        if !req.landing.key.starts_with(&format!("landing/{}/", req.station_id)) {
            return Self::reject(IngestError::InvalidField {
                field: "landing.key",
                detail: format!(
                    "\"{}\" is outside station {}'s landing area landing/{}/",
                    req.landing.key, req.station_id, req.station_id
                ),
            });
        }
        let evidence_id = req.evidence_id();
        // The same recording may be sealed already (docked earlier here, or at another station):
        // this station gets its own receipt for the package; nothing is processed twice.
        let waiter = (evidence_id, req.station_id.clone());
        if let Some(sealed) = self.sealed_event(&evidence_id).await? {
            worker_runtime::lock(&self.waiting).remove(&waiter);
            return self.answer_with_existing_package(&req, &sealed).await;
        }
        if worker_runtime::lock(&self.waiting).contains(&waiter) {
            if self.answer_if_rejected_downstream(&req, &evidence_id).await? {
                worker_runtime::lock(&self.waiting).remove(&waiter);
                return Ok(());
            }
            tracing::debug!(%evidence_id, station = %req.station_id, "verified earlier; still waiting for the seal");
            return Err(IngestError::InProgress {
                evidence_id: evidence_id.to_string(),
                station: req.station_id.to_string(),
            });
        }
        tracing::info!(%evidence_id, object = %req.landing, size = req.size_bytes, delivered = delivery.delivered, "verifying upload");

        // Stream the landing object to a spool file, hashing on the way: one read of the bytes.
        let spool = tempfile::Builder::new()
            .prefix(&format!("{evidence_id}."))
            .suffix(".part")
            .tempfile_in(&cfg.ingest.spool_dir)
            .map_err(|e| IngestError::Spool { dir: cfg.ingest.spool_dir.display().to_string(), source: e })?;
        let object = req.landing.to_string();
        let digests = match self.store.download_to_file(&req.landing.bucket, &req.landing.key, spool.path()).await {
            Ok(d) => d,
            Err(StoreError::NotFound { .. }) => {
                return Self::reject(IngestError::ObjectMissing { object });
            }
            Err(e) => return Err(e.into()),
        };
        if digests.size != req.size_bytes {
            return Self::reject(IngestError::SizeMismatch { object, expected: req.size_bytes, actual: digests.size });
        }
        if digests.blake3 != req.blake3 {
            return Self::reject(IngestError::HashMismatch {
                object,
                expected: req.blake3.to_hex(),
                actual: digests.blake3.to_hex(),
            });
        }
        metrics::verified(digests.size);

        // Demux-only continuity scan of exactly the verified bytes.
        let tolerance = u64::try_from(cfg.ingest.gap_tolerance.as_nanos()).unwrap_or(u64::MAX);
        let scan =
            gst_support::scan::demux_scan(spool.path(), &CancellationToken::new(), cfg.ingest.stall_timeout).await?;
        let mut file =
            continuity::file_report(&req.file_name, digests.size, digests.blake3, digests.sha256, &scan, tolerance);
        if cfg.ingest.decode_check {
            let dec =
                gst_support::decode::decode_scan(spool.path(), &CancellationToken::new(), cfg.ingest.stall_timeout)
                    .await?;
            if dec.missing_plugin {
                tracing::warn!(file = %req.file_name, "decoding check: no decoder for a stream on this host; its frames are not checked");
            }
            continuity::add_decode_findings(&mut file, &scan, &dec);
        }
        // A segment of a recorded session: what lay between it and the previous segment is
        // part of this recording's report (an outage is a gap, never a silent hole).
        let before = req.segment.as_ref().and_then(|seg| {
            let prev = seg.previous_file.as_deref()?;
            continuity::between_files(prev, &req.file_name, seg.gap_before_s(), cfg.ingest.gap_tolerance.as_secs_f64())
        });
        let (report, summary) = continuity::file_with_findings(
            &continuity::tool_string("ingest-worker", env!("CARGO_PKG_VERSION")),
            file,
            before.into_iter().collect(),
            tolerance,
        );
        metrics::scanned(&report.files[0], report.verdict);
        drop(spool);

        let report_key = keys::staging(&evidence_id, "continuity.json");
        let body = serde_json::to_vec_pretty(&report).expect("report serialises");
        let opts = PutOpts { content_type: Some("application/json".into()), ..Default::default() };
        let stored = self.store.put_bytes(&cfg.s3.working_bucket, &report_key, Bytes::from(body), &opts).await?;

        let now = Utc::now();
        let end = req
            .recorded_start
            .map(|s| s + chrono::Duration::nanoseconds(i64::try_from(summary.duration_ns).unwrap_or(0)));
        let delay = now.signed_duration_since(end.unwrap_or(req.docked_at));
        metrics::upload_delay(delay.num_milliseconds() as f64 / 1000.0);
        let deadline = match end {
            Some(e) => self.deadline(e, DeadlineBasis::RecordingEnd, now),
            None => self.deadline(req.docked_at, DeadlineBasis::DockedAt, now),
        };
        metrics::deadline(&req.station_id, &deadline, now);
        if deadline.status == DeadlineStatus::Late {
            tracing::warn!(%evidence_id, station = %req.station_id, due = %deadline.due, late_by_s = deadline.late_by_s, "upload is past its working-day deadline");
        }

        let job = TranscodeJobV1 {
            schema: TranscodeJobSchema,
            evidence_id,
            original: ObjectV1 {
                object: req.landing.clone(),
                size_bytes: digests.size,
                blake3: digests.blake3,
                sha256: digests.sha256,
            },
            scan: summary,
            scan_report: ObjectV1 {
                object: ObjectRef { bucket: cfg.s3.working_bucket.clone(), key: report_key },
                size_bytes: stored.digests.size,
                blake3: stored.digests.blake3,
                sha256: stored.digests.sha256,
            },
            ingested_at: now,
            request: req,
            deadline: Some(deadline),
        };
        let station = job.request.station_id.to_string();
        let duplicate = worker_runtime::nats::publish(&self.js, &job).await?;
        tracing::info!(%evidence_id, verdict = job.scan.verdict.as_str(), findings = job.scan.findings, duplicate, "upload verified and scanned");
        if duplicate {
            // A job for these bytes exists already (an earlier delivery of this request, or
            // the same recording from another station): wait for its seal — or its rejection
            // downstream, which would never seal it — then answer.
            if self.answer_if_rejected_downstream(&job.request, &evidence_id).await? {
                return Ok(());
            }
            worker_runtime::lock(&self.waiting).insert(waiter);
            return Err(IngestError::InProgress { evidence_id: evidence_id.to_string(), station });
        }
        Ok(())
    }
}

impl IngestHandler {
    async fn sealed_event(&self, id: &EvidenceId) -> Result<Option<EvidenceSealedV1>, IngestError> {
        let subject = subjects::sealed(id);
        let Some(m) = worker_runtime::nats::last_on_subject(&self.js, subjects::EVENTS_STREAM, &subject)
            .await
            .map_err(IngestError::Events)?
        else {
            return Ok(None);
        };
        decode::<EvidenceSealedV1>(&m.payload)
            .map(Some)
            .map_err(|e| IngestError::Events(anyhow::anyhow!("sealed event on {subject} does not decode: {e}")))
    }

    /// When the job of these bytes (published for another station) was rejected after ingest,
    /// it will never be sealed: `req`'s station gets a rejected receipt saying so, instead of
    /// waiting forever. Returns whether it was answered.
    async fn answer_if_rejected_downstream(&self, req: &IngestRequestV1, id: &EvidenceId) -> Result<bool, IngestError> {
        let any = format!("evidence.receipt.v1.*.{id}");
        let Some(m) = worker_runtime::nats::last_on_subject(&self.js, subjects::RECEIPTS_STREAM, &any)
            .await
            .map_err(IngestError::Events)?
        else {
            return Ok(false);
        };
        let Ok(first) = decode::<ReceiptV1>(&m.payload) else { return Ok(false) };
        let downstream = first.stage.is_some_and(|s| s != evidence_contracts::events::Stage::Ingest);
        if first.status != evidence_contracts::station::ReceiptStatus::Rejected
            || !downstream
            || first.station_id == req.station_id
        {
            return Ok(false);
        }
        let stage = first.stage.map_or("a later stage", |s| s.as_str());
        let receipt = ReceiptV1 {
            station_id: req.station_id.clone(),
            device_id: Some(req.device_id.clone()),
            file_name: Some(req.file_name.clone()),
            detail: Some(format!(
                "the same recording (same camera and BLAKE3), submitted first by station {}, was rejected at {stage}: {}. This station's upload was verified and is kept; fix the cause, then push it again",
                first.station_id,
                first.detail.clone().unwrap_or_default()
            )),
            at: chrono::Utc::now(),
            ..first.clone()
        };
        worker_runtime::nats::publish(&self.js, &receipt).await?;
        tracing::warn!(evidence_id = %id, station = %req.station_id, first_station = %first.station_id, stage,
            "the same recording was rejected downstream for another station; this station is told, not kept waiting");
        Ok(true)
    }

    /// A sealed receipt for `req`'s station pointing at the package sealed before.
    async fn answer_with_existing_package(
        &self,
        req: &IngestRequestV1,
        sealed: &EvidenceSealedV1,
    ) -> Result<(), IngestError> {
        let first = if sealed.station_id == req.station_id {
            "from this station".to_owned()
        } else {
            format!("from station {} (docked there first)", sealed.station_id)
        };
        let receipt = ReceiptV1 {
            detail: Some(format!(
                "already sealed {first} at {}: this request names the same camera and BLAKE3, so it is that recording (not downloaded again)",
                sealed.sealed_at.to_rfc3339()
            )),
            ..ReceiptV1::sealed(
                req.station_id.clone(),
                sealed.evidence_id,
                req.device_id.clone(),
                req.file_name.clone(),
                (&sealed.bucket, &sealed.prefix),
                sealed.sealed_at,
            )
        };
        worker_runtime::nats::publish(&self.js, &receipt).await?;
        tracing::info!(evidence_id = %sealed.evidence_id, station = %req.station_id, first_station = %sealed.station_id, "recording already sealed; receipt sent to this station");
        Ok(())
    }
}
