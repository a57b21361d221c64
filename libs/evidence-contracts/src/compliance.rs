//! The facts the recording rules refer to, as case systems state them (enforcement matters and
//! registered pauses), and what the pipeline concludes (a check per matter, flags per recording).
//!
//! Matters and pauses live in stream `EVIDENCE_MATTERS` (kept, no delete): the last message on a
//! subject is the current version (a corrected matter is published again). Results go to the
//! events stream, where case systems and dashboards read them.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{DeviceId, EvidenceId, Message, OfficerId, StationId, schema_field, subjects};

schema_field!(MatterSchema, "evidence.matter.v1");
schema_field!(PauseSchema, "evidence.pause.v1");
schema_field!(MatterCheckSchema, "evidence.compliance.matter.v1");
schema_field!(RecordingFlagsSchema, "evidence.compliance.recording.v1");

/// An enforcement matter: on-site work with an enforcement document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MatterV1 {
    pub schema: MatterSchema,
    /// The case system's id (letters, digits, `-`, `_`; it is a subject token).
    pub matter_id: String,
    /// Kind of matter (inspection, seizure, hearing, …): selects the per-kind rules.
    pub kind: String,
    /// Officers on the document.
    pub officers: Vec<OfficerId>,
    /// Start and end written on the enforcement document.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The document's number, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    /// Who published it (case system name, or `import:<file>`).
    pub source: String,
}

impl Message for MatterV1 {
    const SCHEMA: &'static str = MatterSchema::VALUE;
    fn subject(&self) -> String {
        subjects::matter(&self.matter_id)
    }
    fn msg_id(&self) -> String {
        format!("matter:{}:{}", self.matter_id, content_tag(self))
    }
}

/// A registered pause in recording: who or which device, when, why, approved by whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PauseV1 {
    pub schema: PauseSchema,
    pub pause_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub officer_id: Option<OfficerId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<DeviceId>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub reason: String,
    pub approver: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matter_id: Option<String>,
    pub source: String,
}

impl Message for PauseV1 {
    const SCHEMA: &'static str = PauseSchema::VALUE;
    fn subject(&self) -> String {
        subjects::pause(&self.pause_id)
    }
    fn msg_id(&self) -> String {
        format!("pause:{}:{}", self.pause_id, content_tag(self))
    }
}

/// A stretch of the document window an officer did not record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UncoveredV1 {
    pub officer_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub seconds: f64,
    /// The registered pause that explains it (`reason (approved by …)`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<String>,
    /// That pause's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_id: Option<String>,
}

/// A device clock correction applied to a recording before any time comparison: the
/// recording's device times minus `offset_s` (from the docking record that listed the file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClockOffsetV1 {
    pub evidence_id: EvidenceId,
    pub device_id: String,
    /// Device clock minus station clock at docking, seconds (positive: the device ran ahead).
    pub offset_s: f64,
    /// Whether the recording counts for the matter after the correction (false: its device
    /// times fell in the window, its corrected times do not).
    pub counted: bool,
}

/// The check of one matter against the recording rules, published on
/// `evidence.compliance.v1.matter.<matter_id>` (message id changes only when the result does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MatterCheckV1 {
    pub schema: MatterCheckSchema,
    pub matter_id: String,
    pub kind: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// Slack used on times and gaps, seconds.
    pub tolerance_s: u32,
    /// Seconds from the document start to the first recording start (negative: began before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_offset_s: Option<f64>,
    /// Seconds from the last recording end to the document end (negative: ran past it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_offset_s: Option<f64>,
    pub start_covered: bool,
    pub end_covered: bool,
    pub officers_recording: Vec<String>,
    pub officers_without_recording: Vec<String>,
    pub min_officers: u32,
    pub enough_officers: bool,
    pub unexplained_gaps: Vec<UncoveredV1>,
    pub explained_gaps: Vec<UncoveredV1>,
    /// Evidence ids of the recordings taken into account.
    pub recordings: Vec<EvidenceId>,
    /// Of those, the ones uploaded after their working-day deadline.
    #[serde(default)]
    pub late_uploads: Vec<EvidenceId>,
    /// Stations the recordings came through.
    #[serde(default)]
    pub stations: Vec<StationId>,
    /// Device clock corrections applied to the officers' recordings near the window (every time
    /// above is corrected), including those the correction moved out of it; recordings without
    /// a docking record that lists them are not corrected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clock_offsets: Vec<ClockOffsetV1>,
    pub passed: bool,
    pub checked_at: DateTime<Utc>,
}

impl Message for MatterCheckV1 {
    const SCHEMA: &'static str = MatterCheckSchema::VALUE;
    fn subject(&self) -> String {
        subjects::matter_check(&self.matter_id)
    }
    fn msg_id(&self) -> String {
        let mut same = self.clone();
        same.checked_at = DateTime::<Utc>::UNIX_EPOCH;
        format!("compliance:{}:{}", self.matter_id, content_tag(&same))
    }
}

/// One thing about a recording a person should look at. Flags, not verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FlagV1 {
    /// `outside_every_matter`, `device_clock_offset`, `started_after_docking`, `not_uploaded`.
    pub kind: String,
    pub detail: String,
}

/// Flags for one recording (or a file seen on a device and never sealed), published on
/// `evidence.compliance.v1.recording.<key>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RecordingFlagsV1 {
    pub schema: RecordingFlagsSchema,
    /// The evidence id, or for a file never sealed `<device>.<hash of path>`.
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_id: Option<EvidenceId>,
    pub station_id: StationId,
    pub device_id: DeviceId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub officer_id: Option<OfficerId>,
    pub file_name: String,
    pub flags: Vec<FlagV1>,
    pub checked_at: DateTime<Utc>,
}

impl Message for RecordingFlagsV1 {
    const SCHEMA: &'static str = RecordingFlagsSchema::VALUE;
    fn subject(&self) -> String {
        subjects::recording_flags(&self.key)
    }
    fn msg_id(&self) -> String {
        let mut same = self.clone();
        same.checked_at = DateTime::<Utc>::UNIX_EPOCH;
        format!("flags:{}:{}", self.key, content_tag(&same))
    }
}

/// 16 hex digits of BLAKE3 over the JSON form: a new message id when the content changes.
fn content_tag<T: Serialize>(v: &T) -> String {
    let bytes = serde_json::to_vec(v).expect("contract types serialise");
    blake3::hash(&bytes).to_hex()[..16].to_owned()
}

/// Whether `id` can be a matter or pause id (a NATS subject token).
///
/// # Errors
/// Names what is wrong.
pub fn check_record_id(field: &'static str, id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 128 {
        return Err(format!("{field} must be 1 to 128 characters"));
    }
    if let Some(c) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
        return Err(format!("{field} \"{id}\" contains {c:?}; only letters, digits, '-' and '_' are allowed"));
    }
    Ok(())
}
