//! The job ingest-worker hands to the transcoder, and the shapes shared by later stages.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ingest::IngestRequestV1;
use crate::keys::ObjectRef;
use crate::report::{StreamKind, Verdict};
use crate::{Blake3Digest, EvidenceId, Message, Sha256Digest, schema_field, subjects};

schema_field!(TranscodeJobSchema, "evidence.pipeline.transcode.v1");

/// An object with the digests a stage computed over exactly its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ObjectV1 {
    #[serde(flatten)]
    pub object: ObjectRef,
    pub size_bytes: u64,
    pub blake3: Blake3Digest,
    pub sha256: Sha256Digest,
}

/// One stream as the demux pass saw it (times in nanoseconds on the file's timeline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StreamSummaryV1 {
    pub kind: StreamKind,
    pub codec: String,
    pub frames: u64,
    pub start_ns: u64,
    pub end_ns: u64,
}

/// The short form of the continuity scan, carried in jobs and events; the full report is an
/// object of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScanSummaryV1 {
    pub verdict: Verdict,
    pub readable: bool,
    pub complete: bool,
    pub container: String,
    pub duration_ns: u64,
    pub streams: Vec<StreamSummaryV1>,
    pub findings: u32,
    /// Why the file could not be read, when `readable` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

crate::open_enum!(
    /// What the upload deadline counts from.
    DeadlineBasis {
        /// The recording's end (recorded start + duration).
        RecordingEnd => "recording_end",
        /// The docking time (the recording's own times are unknown).
        DockedAt => "docked_at",
    }
);

crate::open_enum!(
    /// Whether the upload met its deadline.
    DeadlineStatus {
        OnTime => "on_time",
        Late => "late",
    }
);

/// The upload deadline of a recording (the rule: in the store within N working days after the
/// on-site work ends), computed at ingest on the working-day calendar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeadlineV1 {
    pub working_days: u32,
    /// When the work ended, as far as known: the recording's end (`recorded_start` + duration),
    /// else the docking time.
    pub work_ended: DateTime<Utc>,
    /// `recording_end` or `docked_at`.
    pub basis: DeadlineBasis,
    /// End (24:00 agency local time) of the N-th working day after the work ended.
    pub due: DateTime<Utc>,
    /// `on_time` or `late`, judged at verified ingest.
    pub status: DeadlineStatus,
    /// Seconds past `due` when late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_by_s: Option<f64>,
    /// Whether the calendar had data files for every year counted (else weekends only).
    pub calendar_covered: bool,
}

/// Published by ingest-worker on `evidence.pipeline.transcode.v1` once the upload is verified
/// and scanned. Message id: `transcode:<evidence_id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TranscodeJobV1 {
    pub schema: TranscodeJobSchema,
    pub evidence_id: EvidenceId,
    pub request: IngestRequestV1,
    /// The landing object, with the digests ingest-worker computed while reading it.
    pub original: ObjectV1,
    pub scan: ScanSummaryV1,
    /// The continuity report (JSON), in staging.
    pub scan_report: ObjectV1,
    pub ingested_at: DateTime<Utc>,
    /// Absent from workers older than the deadline feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DeadlineV1>,
}

impl Message for TranscodeJobV1 {
    const SCHEMA: &'static str = TranscodeJobSchema::VALUE;
    fn subject(&self) -> String {
        subjects::TRANSCODE_JOBS.to_owned()
    }
    fn msg_id(&self) -> String {
        format!("transcode:{}", self.evidence_id)
    }
}
