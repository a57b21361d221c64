//! The continuity report: what the demux pass found in one or more recordings of a device.
//! Printed by `ingest-worker scan --json`, stored in every evidence package as
//! `continuity.json`. Times meant for people are decimal seconds (`_s`); `at_s` is measured on
//! the file's own timeline from its first timestamp.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Blake3Digest, Sha256Digest, schema_field};

schema_field!(ScanReportSchema, "evidence.scan.report.v1");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    Video,
    Audio,
    Other,
}

impl StreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Video => "video",
            StreamKind::Audio => "audio",
            StreamKind::Other => "other",
        }
    }
}

/// Overall judgement of a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every stream of every file is continuous and complete.
    Continuous,
    /// At least one finding: see the report.
    Discontinuous,
    /// At least one file cannot be demuxed at all.
    Unreadable,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Continuous => "continuous",
            Verdict::Discontinuous => "discontinuous",
            Verdict::Unreadable => "unreadable",
        }
    }
}

/// Kinds of finding within one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The stream's timeline skips forward beyond the tolerance.
    Gap,
    /// Timestamps go back (clock reset, re-muxed pieces).
    Backwards,
    /// The container or demuxer marks a break.
    Discontinuity,
    /// A stream's format changes mid-file.
    FormatChange,
    /// The data ends before what the container promises.
    Truncated,
    /// The demuxer cannot read the file at all.
    Unreadable,
    /// One stream cannot be parsed; the others are judged (added within v1, 2026-12-03).
    StreamUnreadable,
    /// The file holds no audio or video samples (an initialisation segment, or an MPEG-TS/PS
    /// of tables and data only): nothing recorded to judge (added within v1, 2026-12-03).
    NoSamples,
    /// The samples are encrypted (CENC): timing is judged, the pictures cannot be checked.
    /// Informational: does not change the verdict (added within v1, 2026-12-03).
    Encrypted,
    /// Frames the demuxer delivers and no decoder returns, or a decoder's complaint: the
    /// bitstream is damaged there (`scan --decode` and `ingest.decode_check` only; added within
    /// v1, 2026-12-03).
    DecodeError,
    /// A kind this version does not know (a newer producer): read, never dropped.
    #[serde(other)]
    Unknown,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Gap => "gap",
            FindingKind::Backwards => "backwards",
            FindingKind::Discontinuity => "discontinuity",
            FindingKind::FormatChange => "format_change",
            FindingKind::Truncated => "truncated",
            FindingKind::Unreadable => "unreadable",
            FindingKind::StreamUnreadable => "stream_unreadable",
            FindingKind::NoSamples => "no_samples",
            FindingKind::Encrypted => "encrypted",
            FindingKind::DecodeError => "decode_error",
            FindingKind::Unknown => "unknown",
        }
    }

    /// Whether the finding says something is missing or wrong with the recording (every kind
    /// but `encrypted`, which only says what cannot be checked).
    pub fn counts_against(self) -> bool {
        !matches!(self, FindingKind::Encrypted)
    }

    /// Every kind, for metric label sets.
    pub const ALL: [FindingKind; 10] = [
        FindingKind::Gap,
        FindingKind::Backwards,
        FindingKind::Discontinuity,
        FindingKind::FormatChange,
        FindingKind::Truncated,
        FindingKind::Unreadable,
        FindingKind::StreamUnreadable,
        FindingKind::NoSamples,
        FindingKind::Encrypted,
        FindingKind::DecodeError,
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    pub kind: FindingKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamKind>,
    /// Where, in seconds on the file's timeline from its first timestamp.
    pub at_s: f64,
    /// How much time is missing (gap, truncated) or repeated (backwards), in seconds.
    pub duration_s: f64,
    /// One sentence for a person.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StreamReport {
    pub kind: StreamKind,
    /// Codec as GStreamer names it (caps media type and, where known, profile).
    pub codec: String,
    /// Frame size in pixels of a video stream, as its first caps state it (absent for audio
    /// and when the demuxer does not say). Optional: added within v1 (2026-11-28).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    pub frames: u64,
    pub start_s: f64,
    pub end_s: f64,
    /// Median frame (sample) interval; 0 when unknown.
    pub nominal_interval_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FileReport {
    pub name: String,
    pub bytes: u64,
    pub blake3: Blake3Digest,
    pub sha256: Sha256Digest,
    pub readable: bool,
    pub complete: bool,
    /// Container as detected (`mp4`, `matroska`, `mpegts`, `avi`, …; `unknown`).
    pub container: String,
    #[serde(default)]
    pub recorded_start: Option<DateTime<Utc>>,
    pub duration_s: f64,
    pub streams: Vec<StreamReport>,
    pub findings: Vec<Finding>,
    /// Why the file could not be read, when `readable` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// MP4/MOV: the movie box (the index) comes after the media data, so a player must fetch the
    /// end of the file before it can start (not "faststart"). Absent means false. Additive within
    /// v1 since 2026-12-04.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub index_at_end: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionFindingKind {
    GapBetweenFiles,
    OverlapBetweenFiles,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionFinding {
    pub kind: SessionFindingKind,
    pub after: String,
    pub before: String,
    pub duration_s: f64,
}

/// The whole report. `files` has one entry per scanned file; `findings` holds what lies between
/// files of one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScanReportV1 {
    pub schema: ScanReportSchema,
    /// Tool and version that produced the report, e.g. `ingest-worker 0.1.0 (GStreamer 1.22.0)`.
    pub tool: String,
    /// Gap tolerance used, seconds.
    pub gap_tolerance_s: f64,
    pub files: Vec<FileReport>,
    pub findings: Vec<SessionFinding>,
    pub verdict: Verdict,
}

impl ScanReportV1 {
    /// The verdict the files and session findings imply.
    pub fn compute_verdict(files: &[FileReport], findings: &[SessionFinding]) -> Verdict {
        if files.iter().any(|f| !f.readable) {
            Verdict::Unreadable
        } else if !findings.is_empty()
            || files.iter().any(|f| f.findings.iter().any(|x| x.kind.counts_against()) || !f.complete)
        {
            Verdict::Discontinuous
        } else {
            Verdict::Continuous
        }
    }
}
