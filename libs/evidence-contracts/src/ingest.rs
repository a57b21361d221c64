//! What a docking station sends after it has uploaded a recording to the landing area.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::keys::ObjectRef;
use crate::{Blake3Digest, DeviceId, EvidenceId, Message, OfficerId, StationId, schema_field, subjects};

schema_field!(IngestRequestSchema, "evidence.ingest.request.v1");

/// Published by a station on `evidence.ingest.request.v1.<station_id>` once the file is in
/// the landing area. Message id: `ingest:<device_id>:<blake3>`, so a station that re-pushes
/// the same file after a crash produces no second request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IngestRequestV1 {
    pub schema: IngestRequestSchema,
    pub station_id: StationId,
    pub device_id: DeviceId,
    /// The officer the device is bound to (station binding table).
    pub officer_id: OfficerId,
    /// The file name as it was on the device.
    pub file_name: String,
    /// Exact size of the uploaded file in bytes.
    pub size_bytes: u64,
    /// BLAKE3 of the file, computed by the station while it read the file for upload.
    pub blake3: Blake3Digest,
    /// Where the station put it (working bucket, `landing/…`).
    pub landing: ObjectRef,
    /// When the recording started by the device's metadata or file name, if the station knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_start: Option<DateTime<Utc>>,
    /// When the device was docked (station clock).
    pub docked_at: DateTime<Utc>,
    /// When the upload finished (station clock).
    pub uploaded_at: DateTime<Utc>,
    /// For a segment of a continuous recording (a fixed camera recorded over RTSP): which
    /// session it belongs to and what lies between it and the previous segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<SegmentV1>,
}

/// One segment of a recording session cut into files by the RTSP recorder (`recorder`).
/// Times are the recorder's clock (NTP-disciplined), taken from the pipeline clock when the
/// first and last frame of the segment arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SegmentV1 {
    /// Stable id of the recording session (camera + session start).
    pub session_id: String,
    /// 0, 1, 2, … within the session, in recording order.
    pub index: u64,
    /// First and last frame of this segment.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The previous segment's file name, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_file: Option<String>,
    /// The previous segment's last frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_end: Option<DateTime<Utc>>,
    /// Why the previous segment ended: `split` (planned cut, no gap expected), `outage` (the
    /// camera or the network dropped; the recorder reconnected), `restart` (the recorder restarted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_ended_by: Option<EndedBy>,
    /// BLAKE3 of the previous segment's file as the recorder uploaded it: the link that chains a
    /// session's packages (a removed, replaced or reordered segment breaks it). Additive within
    /// v1 since 2026-12-04.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_blake3: Option<crate::Blake3Digest>,
}

crate::open_enum!(
    /// Why a fixed camera's segment ended.
    EndedBy {
        /// A planned cut: the next segment follows without a gap.
        Split => "split",
        /// The camera or the network dropped; the recorder reconnected.
        Outage => "outage",
        /// The recorder restarted.
        Restart => "restart",
    }
);

impl SegmentV1 {
    /// Seconds between the previous segment's last frame and this one's first (0 for the first).
    pub fn gap_before_s(&self) -> f64 {
        self.previous_end.map_or(0.0, |p| (self.start - p).num_milliseconds() as f64 / 1000.0)
    }
}

impl IngestRequestV1 {
    pub fn evidence_id(&self) -> EvidenceId {
        EvidenceId::derive(&self.device_id, &self.blake3)
    }

    /// The day an evidence package is filed under: recording start if known, else docking.
    pub fn filing_day(&self) -> DateTime<Utc> {
        self.recorded_start.unwrap_or(self.docked_at)
    }
}

impl Message for IngestRequestV1 {
    const SCHEMA: &'static str = IngestRequestSchema::VALUE;
    fn subject(&self) -> String {
        subjects::ingest_request(&self.station_id)
    }
    fn msg_id(&self) -> String {
        // The station is part of it: the same recording docked at a second station must reach
        // ingest, which answers that station with its own receipt.
        format!("ingest:{}:{}:{}", self.station_id, self.device_id, self.blake3)
    }
}
