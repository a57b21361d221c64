//! The job the transcoder hands to the sealer, and the seal record stored in every package.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ingest::IngestRequestV1;
use crate::report::Verdict;
use crate::transcode::{ObjectV1, ScanSummaryV1};
use crate::{Blake3Digest, DeviceId, EvidenceId, Message, OfficerId, Sha256Digest, StationId, schema_field, subjects};

schema_field!(SealJobSchema, "evidence.pipeline.seal.v1");
schema_field!(SealRecordSchema, "evidence.seal.record.v1");

/// A copy made by the transcoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DerivativeV1 {
    /// Profile name from `pipelines/` (e.g. `access`).
    pub profile: String,
    /// File extension of the copy (`mp4`, `mkv`).
    pub extension: String,
    /// The copy in staging.
    pub object: ObjectV1,
    pub duration_ns: u64,
}

/// Whether a profile ran for this recording, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProfileDecisionV1 {
    pub profile: String,
    pub produced: bool,
    /// One sentence for a person: why it ran, or why there is no copy.
    pub reason: String,
}

/// Published by the transcoder on `evidence.pipeline.seal.v1`. Message id: `seal:<evidence_id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SealJobV1 {
    pub schema: SealJobSchema,
    pub evidence_id: EvidenceId,
    pub request: IngestRequestV1,
    pub original: ObjectV1,
    pub scan: ScanSummaryV1,
    pub scan_report: ObjectV1,
    pub ingested_at: DateTime<Utc>,
    pub derivatives: Vec<DerivativeV1>,
    pub decisions: Vec<ProfileDecisionV1>,
}

impl Message for SealJobV1 {
    const SCHEMA: &'static str = SealJobSchema::VALUE;
    fn subject(&self) -> String {
        subjects::SEAL_JOBS.to_owned()
    }
    fn msg_id(&self) -> String {
        format!("seal:{}", self.evidence_id)
    }
}

/// What an object is within an evidence package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectRole {
    /// The recording byte for byte as the camera wrote it.
    Original,
    /// A copy made by a transcoding profile.
    Derivative,
    /// The continuity scan report of the original (JSON).
    ContinuityReport,
    /// The seal record (`seal.json`) itself, as referenced from the sealed event.
    SealRecord,
}

/// One object of a sealed package, with the digests the sealer computed over the bytes it stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PackageObjectV1 {
    pub role: ObjectRole,
    /// Profile name for derivatives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    pub key: String,
    pub size_bytes: u64,
    pub blake3: Blake3Digest,
    pub sha256: Sha256Digest,
}

/// Provenance status of the package. C2PA manifests and the custody ledger are added by the
/// sealing issue; until then every package says plainly that it has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProvenanceV1 {
    /// `none` until C2PA signing is configured; later `sidecar`, `embedded`.
    pub c2pa: String,
    /// Signature over this record, if a signing key is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// The continuity verdict as sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ContinuityV1 {
    pub verdict: Verdict,
    pub readable: bool,
    pub complete: bool,
    pub findings: u32,
    /// BLAKE3 of the continuity report object.
    pub report_blake3: Blake3Digest,
}

/// `seal.json`: the last object written into a package; lists every other object with its size
/// and digests. Its presence means the package is complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SealRecordV1 {
    pub schema: SealRecordSchema,
    pub evidence_id: EvidenceId,
    pub station_id: StationId,
    pub device_id: DeviceId,
    pub officer_id: OfficerId,
    pub file_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_start: Option<DateTime<Utc>>,
    pub docked_at: DateTime<Utc>,
    pub uploaded_at: DateTime<Utc>,
    pub ingested_at: DateTime<Utc>,
    pub sealed_at: DateTime<Utc>,
    /// `sealer <version>` that wrote the record.
    pub sealed_by: String,
    pub bucket: String,
    pub prefix: String,
    pub objects: Vec<PackageObjectV1>,
    pub continuity: ContinuityV1,
    pub decisions: Vec<ProfileDecisionV1>,
    pub provenance: ProvenanceV1,
}

impl SealRecordV1 {
    pub fn original(&self) -> Option<&PackageObjectV1> {
        self.objects.iter().find(|o| o.role == ObjectRole::Original)
    }
}

/// Digests of a byte string, for small objects built in memory (reports, records). Large data
/// is hashed by the workers while it streams.
pub fn digests_of(bytes: &[u8]) -> (Blake3Digest, Sha256Digest) {
    use sha2::Digest as _;
    (Blake3Digest(*blake3::hash(bytes).as_bytes()), Sha256Digest(sha2::Sha256::digest(bytes).into()))
}
