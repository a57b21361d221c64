//! Events for downstream systems on the `EVIDENCE_EVENTS` stream (limits retention, no delete,
//! no purge): one `EvidenceSealedV1` per piece of evidence, and `EvidenceRejectedV1` for
//! every message a stage could not process and will not retry.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::report::Verdict;
use crate::seal::PackageObjectV1;
use crate::{DeviceId, EvidenceId, Message, OfficerId, StationId, schema_field, subjects};

schema_field!(EvidenceSealedSchema, "evidence.sealed.v1");
schema_field!(EvidenceRejectedSchema, "evidence.rejected.v1");

/// Published by the sealer on `evidence.sealed.v1.<evidence_id>` once the whole package is
/// stored and read back. Message id `sealed:<evidence_id>`; the sealer also checks the stream
/// for an earlier event on the same subject, so there is one event per evidence id even when a
/// job is redelivered after the dedup window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EvidenceSealedV1 {
    pub schema: EvidenceSealedSchema,
    pub evidence_id: EvidenceId,
    pub station_id: StationId,
    pub device_id: DeviceId,
    pub officer_id: OfficerId,
    pub file_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_start: Option<DateTime<Utc>>,
    pub docked_at: DateTime<Utc>,
    pub ingested_at: DateTime<Utc>,
    pub sealed_at: DateTime<Utc>,
    /// Evidence bucket and package prefix.
    pub bucket: String,
    pub prefix: String,
    /// Every object of the package except the seal record.
    pub objects: Vec<PackageObjectV1>,
    /// The seal record (`seal.json`).
    pub seal_record: PackageObjectV1,
    pub verdict: Verdict,
    pub readable: bool,
    /// Whether the evidence store enforced write-once retention when the package was written.
    pub worm: bool,
    /// The detached ES256 signature over `seal.json` (`seal.sig`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal_signature: Option<PackageObjectV1>,
    /// Sequence of the package's record in the custody ledger (`EVIDENCE_LEDGER`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_seq: Option<u64>,
    /// `c2pa`, `partial` or `none`: see the seal record's `provenance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c2pa: Option<crate::seal::C2paSummary>,
    /// The upload deadline and whether it was met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<crate::transcode::DeadlineV1>,
    /// The object to play for viewing: the original itself when it is playable, else the access
    /// copy (remuxed or transcoded). Additive within v1 (2026-12-04).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<crate::seal::AccessV1>,
}

impl Message for EvidenceSealedV1 {
    const SCHEMA: &'static str = EvidenceSealedSchema::VALUE;
    fn subject(&self) -> String {
        subjects::sealed(&self.evidence_id)
    }
    fn msg_id(&self) -> String {
        format!("sealed:{}", self.evidence_id)
    }
}

/// The stage that rejected a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Ingest,
    Transcode,
    Seal,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Ingest => "ingest",
            Stage::Transcode => "transcode",
            Stage::Seal => "seal",
        }
    }
}

/// Why a message was rejected (bounded; the detail says the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The payload is not valid JSON of the expected schema.
    MalformedMessage,
    /// A field has a value that cannot be used (bad file name, wrong bucket).
    InvalidField,
    /// The landing object named by the message does not exist.
    ObjectMissing,
    /// The object's size differs from the announced size.
    SizeMismatch,
    /// The object's BLAKE3 differs from the announced digest.
    HashMismatch,
    /// An evidence object already exists with different content.
    EvidenceConflict,
    /// A transient error persisted through every allowed redelivery.
    RetriesExhausted,
}

impl RejectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::MalformedMessage => "malformed_message",
            RejectReason::InvalidField => "invalid_field",
            RejectReason::ObjectMissing => "object_missing",
            RejectReason::SizeMismatch => "size_mismatch",
            RejectReason::HashMismatch => "hash_mismatch",
            RejectReason::EvidenceConflict => "evidence_conflict",
            RejectReason::RetriesExhausted => "retries_exhausted",
        }
    }
}

/// Published on `evidence.rejected.v1.<stage>` when a stage gives up on a message. It carries
/// the original payload, so nothing is lost: an operator can fix the cause and re-publish it.
/// Nothing in the working bucket is deleted on rejection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EvidenceRejectedV1 {
    pub schema: EvidenceRejectedSchema,
    pub stage: Stage,
    pub reason: RejectReason,
    /// What is wrong and what to do, for a person.
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_id: Option<EvidenceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station_id: Option<StationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<DeviceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// Subject the rejected message arrived on.
    pub source_subject: String,
    /// Stream sequence of the rejected message, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_sequence: Option<u64>,
    /// The rejected payload, as text (invalid UTF-8 replaced).
    pub payload: String,
    pub rejected_at: DateTime<Utc>,
}

impl Message for EvidenceRejectedV1 {
    const SCHEMA: &'static str = EvidenceRejectedSchema::VALUE;
    fn subject(&self) -> String {
        subjects::rejected(self.stage)
    }
    /// Stable over redeliveries of the same message: derived from stage, source subject and
    /// payload, so a rejection published twice is dropped by JetStream's duplicate window.
    fn msg_id(&self) -> String {
        let mut h = blake3::Hasher::new();
        h.update(self.stage.as_str().as_bytes());
        h.update(&[0]);
        h.update(self.source_subject.as_bytes());
        h.update(&[0]);
        h.update(self.payload.as_bytes());
        format!("rejected:{}:{}", self.stage.as_str(), &h.finalize().to_hex()[..32])
    }
}
