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
schema_field!(SignatureSchema, "evidence.signature.v1");

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

crate::open_enum!(
    /// Which object of a package is played for viewing.
    AccessOf {
        /// The original itself: it is already playable (by default H.264 up to High + AAC/MP3 or
        /// no audio, in MP4/MOV, under the bitrate cap); no copy was made.
        Original => "original",
        /// A copy made for viewing (`made_by` says how).
        Derivative => "derivative",
    }
);

crate::open_enum!(
    /// How an access copy was made.
    AccessMadeBy {
        /// The original's coded video packets, unchanged, in a faststart MP4 (audio MP4 players
        /// cannot play re-encoded to AAC alone); verified packet for packet.
        Remux => "remux",
        /// Decoded and encoded again (H.264 + AAC), for sources no player takes as they are.
        Transcode => "transcode",
    }
);

/// The transcoder's choice of access rendition, carried to the sealer in the seal job (which
/// turns it into [`AccessV1`] with the package key). Additive within v1 (2026-12-04).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AccessPlanV1 {
    pub of: AccessOf,
    /// The copy's profile, for a derivative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_by: Option<AccessMadeBy>,
}

/// The object of the package a case system plays for viewing, in the seal record and the sealed
/// event. Absent when there is none (an unreadable recording, a copy that failed). Additive
/// within v1 (2026-12-04).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AccessV1 {
    /// `original` or `derivative`.
    pub of: AccessOf,
    /// Its key in the evidence bucket (the original's key when `of` is `original`).
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// `remux` or `transcode`, for a derivative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_by: Option<AccessMadeBy>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<crate::transcode::DeadlineV1>,
    /// Which object is played for viewing. Additive within v1 (2026-12-04).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<AccessPlanV1>,
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
    /// A C2PA manifest store kept next to the asset it describes (`.c2pa` sidecar).
    C2paSidecar,
    /// The detached ES256 signature over `seal.json` (`seal.sig`).
    Signature,
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

crate::open_enum!(
    /// Where an asset's C2PA manifest is.
    Placement {
        /// A separate `.c2pa` object next to the asset (the original is never rewritten).
        Sidecar => "sidecar",
        /// Inside the asset (copies).
        Embedded => "embedded",
        /// No manifest (`reason` says why).
        None => "none",
    }
);

crate::open_enum!(
    /// A C2PA hard binding: how the manifest is bound to the asset's bytes.
    HashBinding {
        /// ISO BMFF (MP4/MOV) box hashes.
        Bmff => "c2pa.hash.bmff",
        /// A hash over the whole file (formats c2pa has no handler for).
        Data => "c2pa.hash.data",
        /// Box hashes of other box-structured formats.
        Boxes => "c2pa.hash.boxes",
        /// No binding (no manifest).
        None => "none",
    }
);

impl HashBinding {
    /// From a C2PA assertion label (`c2pa.hash.bmff.v2` → `Bmff`); a label this version does
    /// not know is `Unknown`.
    pub fn from_label(label: &str) -> Self {
        let base = label.split(".v").next().unwrap_or(label);
        serde_json::from_value(serde_json::Value::String(base.to_owned())).unwrap_or(Self::Unknown)
    }
}

/// How a C2PA manifest is bound to one object of the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ManifestBindingV1 {
    /// Key of the asset the manifest describes.
    pub asset_key: String,
    /// `sidecar`: the manifest store is a separate `.c2pa` object next to the asset (the original
    /// is never rewritten); `embedded`: inside the asset (copies); `none`: no manifest.
    pub placement: Placement,
    /// Key of the sidecar, for `sidecar`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_key: Option<String>,
    /// Hard binding: `c2pa.hash.bmff` (MP4/MOV), `c2pa.hash.data` (whole-file hash, formats c2pa
    /// has no handler for), or `none`.
    pub hash_binding: HashBinding,
    /// Label (URN) of the active manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_label: Option<String>,
    /// Why there is no manifest, when `placement` is `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

crate::open_enum!(
    /// How much of a package carries C2PA manifests.
    #[derive(Default)]
    C2paSummary {
        /// Every asset is bound by a manifest.
        C2pa => "c2pa",
        /// Some assets could not carry one (see `manifests[].reason`).
        Partial => "partial",
        /// Signing is not configured.
        #[default]
        None => "none",
    }
);

impl C2paSummary {
    /// The summary of a package whose assets are `all` / `any` bound by a manifest.
    pub fn of(all: bool, any: bool) -> Self {
        match (all, any) {
            (true, _) => Self::C2pa,
            (false, true) => Self::Partial,
            (false, false) => Self::None,
        }
    }
}

crate::open_enum!(
    /// How long a package is kept.
    RetentionClass {
        /// No case yet: at least the configured minimum (6 months by default).
        Recording => "recording",
        /// Bound to a case: as long as the case, extended by the case system.
        Evidence => "evidence",
    }
);

/// Provenance of the package: the C2PA manifests and who signed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProvenanceV1 {
    /// Summary: `c2pa` when every asset carries a manifest, `partial` when some cannot (see
    /// `manifests[].reason`), `none` when signing is not configured.
    pub c2pa: C2paSummary,
    /// Kept for readers of early records; always absent now (the signature is `seal.sig`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Subject of the signing certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// SHA-256 of the signing certificate (DER), hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer_sha256: Option<String>,
    /// Label of the custom assertion carried by every manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assertion_label: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<ManifestBindingV1>,
}

/// Retention applied to every object of the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RetentionV1 {
    /// `recording` (no case yet: kept at least the configured minimum, 6 months by default) or
    /// `evidence` (bound to a case; kept as long as the case, extended by the case system).
    pub class: RetentionClass,
    /// S3 Object Lock retain-until date requested on every object (COMPLIANCE mode).
    pub retain_until: DateTime<Utc>,
    pub legal_hold: bool,
    /// Whether the store was verified at start-up to refuse deleting a locked object.
    pub worm_verified: bool,
}

/// A detached ES256 signature over the exact bytes of one object (`seal.sig` over `seal.json`,
/// `<seq>.sig` over a ledger checkpoint).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SignatureV1 {
    pub schema: SignatureSchema,
    /// Always `ES256` (ECDSA P-256, SHA-256) in v1.
    pub alg: String,
    /// Key of the signed object.
    pub signed_key: String,
    pub signed_size: u64,
    pub signed_sha256: Sha256Digest,
    /// Base64 (standard, padded) of the 64-byte `r || s` signature over the signed bytes.
    pub signature: String,
    /// PEM certificates, signer first, then its issuers.
    pub certificate_chain: Vec<String>,
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
    /// Absent in records written before retention was applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionV1>,
    /// The upload deadline and whether it was met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<crate::transcode::DeadlineV1>,
    /// The object played for viewing. Additive within v1 (2026-12-04).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<AccessV1>,
    /// A fixed camera's segment: its session, index and the link to the previous segment, as
    /// the recorder announced them. Additive within v1 since 2026-12-04.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<crate::ingest::SegmentV1>,
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
